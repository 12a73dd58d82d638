"""The bake: prod's alarms polled at a fixed interval for the configured period."""

from __future__ import annotations

from typing import Any, Literal

from promotion.errors import AlarmMissing, BakeAlarm, BakeNoData
from promotion.models.execution import BakeProgress


def alarm_states(cloudwatch: Any, names: list[str]) -> dict[str, str]:
    """Current state of each named alarm; a configured alarm that does not exist is an error (fail closed)."""
    if not names:
        return {}
    states: dict[str, str] = {}
    paginator = cloudwatch.get_paginator("describe_alarms")
    # DescribeAlarms takes at most 100 names per call.
    for start in range(0, len(names), 100):
        batch = names[start : start + 100]
        for page in paginator.paginate(AlarmNames=batch, AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                states[alarm["AlarmName"]] = alarm["StateValue"]
    missing = sorted(set(names) - set(states))
    if missing:
        raise AlarmMissing(f"alarms not found: {', '.join(missing)}")
    return states


def bake_step(
    states: dict[str, str],
    *,
    elapsed_seconds: int,
    duration_seconds: int,
    poll_seconds: int,
    seen_data: list[str] | None = None,
    insufficient_data: Literal["fail", "ok"] = "fail",
) -> BakeProgress:
    """Judge one poll taken ``elapsed_seconds`` into the bake, and say how long to wait for the next."""
    firing = sorted(name for name, state in states.items() if state == "ALARM")
    if firing:
        raise BakeAlarm(f"alarm in ALARM {elapsed_seconds}s into the bake: {', '.join(firing)}")
    seen = sorted(set(seen_data or []) | {name for name, state in states.items() if state == "OK"})
    remaining = max(0, duration_seconds - elapsed_seconds)
    if remaining == 0 and insufficient_data == "fail":
        silent = sorted(set(states) - set(seen))
        if silent:
            raise BakeNoData(
                f"no data all through the {duration_seconds}s bake for: {', '.join(silent)} "
                "(did the new version get traffic?)"
            )
    wait = min(poll_seconds, remaining)
    return BakeProgress(
        elapsed_seconds=elapsed_seconds + wait,
        duration_seconds=duration_seconds,
        poll_seconds=poll_seconds,
        wait_seconds=wait,
        done=remaining == 0,
        alarms=states,
        seen_data=seen,
    )
