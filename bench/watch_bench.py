"""Benchmark: what one ``promote watch`` poll costs on the longest history a promotion can have.

    .venv/bin/python bench/watch_bench.py [--polls 2000]

Builds a history of a promotion whose bake polls the alarms ``--polls`` times (2,000 is the most a pipeline
config allows, MAX_BAKE_POLLS) by repeating one recorded bake poll (tests/unit/cli/histories/approved.json)
with its ids and links renumbered. Prints the events, the time to read the whole history into a view and
to lay out its log (what ``promote describe`` does once), the time of one watch poll at the end (the new
events read into the same view, the log laid out again), and the GetExecutionHistory pages (1,000 events
each, as AWS pages them) one poll reads, newest first, against reading the whole history.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "src")]

from promote_cli.execution_history import ExecutionView, read_history, timeline  # noqa: E402
from promote_cli.executions import history_events  # noqa: E402
from tests.support.histories import Recorded, ReplayedExecution, recorded  # noqa: E402


def long_bake(history: Recorded, polls: int) -> list[dict[str, Any]]:
    events = history.events
    entered = [
        index
        for index, event in enumerate(events)
        if event["type"] == "TaskStateEntered"
        and event["stateEnteredEventDetails"]["name"] == "Check prod alarms"
    ]
    start, end = entered[1], entered[2]  # one whole poll: Check prod alarms, Bake complete?, Bake
    cycle, length = events[start:end], end - start
    built = [dict(event) for event in events[:start]]
    copies = polls - (len(entered) - 1)
    for copy in range(copies):
        offset = copy * length
        for event in cycle:
            built.append(
                {
                    **event,
                    "id": event["id"] + offset,
                    "previousEventId": event["previousEventId"] + offset,
                    "timestamp": event["timestamp"] + timedelta(seconds=30 * copy),
                }
            )
    shift = (copies - 1) * length
    for event in events[end:]:
        built.append(
            {
                **event,
                "id": event["id"] + shift,
                "previousEventId": event["previousEventId"] + shift,
                "timestamp": event["timestamp"] + timedelta(seconds=30 * copies),
            }
        )
    # Every poll's result says the bake is as long as these polls make it.
    for event in built:
        details = event.get("lambdaFunctionSucceededEventDetails")
        if details and '"duration_seconds"' in details["output"]:
            result = json.loads(details["output"])
            result["duration_seconds"] = result["poll_seconds"] * (polls - 1)
            event["lambdaFunctionSucceededEventDetails"] = {**details, "output": json.dumps(result)}
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=2000)
    args = parser.parse_args()
    history = recorded("approved")
    events = long_bake(history, args.polls)
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))

    began = time.perf_counter()
    view = read_history(events)
    read_seconds = time.perf_counter() - began
    began = time.perf_counter()
    lines = timeline(view)
    layout_seconds = time.perf_counter() - began
    bake = view.bake()
    assert bake is not None
    assert bake.polls_done == args.polls, bake

    # One watch poll at the end: the view holds all but the last few events.
    last = 10
    growing = read_history(events[:-last], ExecutionView())
    sfn = ReplayedExecution(Recorded(history.describe, events), page_size=1000, shown=len(events))
    began = time.perf_counter()
    new = history_events(sfn, history.describe["executionArn"], after_event_id=growing.last_event_id)
    read_history(new, growing)
    timeline(growing, changed_after=len(events) - last)
    poll_seconds = time.perf_counter() - began
    pages_per_poll = len(sfn.history_calls)
    sfn.history_calls.clear()
    history_events(sfn, history.describe["executionArn"])
    pages_whole = len(sfn.history_calls)

    print(f"bake polls: {bake.polls_done} of {bake.polls_total}; history events: {len(events)}")
    print(
        f"read the whole history: {read_seconds * 1000:.0f} ms; lay out its {len(lines)} log lines: "
        f"{layout_seconds * 1000:.0f} ms"
    )
    print(f"one watch poll at the end ({len(new)} new events): {poll_seconds * 1000:.0f} ms")
    print(f"GetExecutionHistory pages per poll: {pages_per_poll} (the whole history: {pages_whole})")


if __name__ == "__main__":
    main()
