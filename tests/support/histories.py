"""Execution histories recorded on the local plane (tests/support/record_histories.py), read back in the
shape boto3 returns them, and a Step Functions client that replays one as if it were still running."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

HISTORIES = Path(__file__).resolve().parents[1] / "unit" / "cli" / "histories"
RECORDED = ("approved", "fails_preprod", "retried_then_rejected", "never_published")
_TIMESTAMPS = ("timestamp", "startDate", "stopDate")


def _with_datetimes(value: dict[str, Any]) -> dict[str, Any]:
    return {key: datetime.fromisoformat(item) if key in _TIMESTAMPS else item for key, item in value.items()}


@dataclass(frozen=True)
class Recorded:
    describe: dict[str, Any]
    events: list[dict[str, Any]]

    def cut_after(self, event_type: str, state: str | None = None) -> int:
        """How many events there are up to the first ``event_type`` (of ``state``, for a state's events)."""
        current = None
        for index, event in enumerate(self.events):
            if event["type"].endswith("StateEntered"):
                current = event["stateEnteredEventDetails"]["name"]
            if event["type"] == event_type and (state is None or current == state):
                return index + 1
        raise AssertionError(f"no {event_type} of {state!r} in the history")


def recorded(name: str) -> Recorded:
    document = json.loads((HISTORIES / f"{name}.json").read_text())
    return Recorded(_with_datetimes(document["describe"]), [_with_datetimes(e) for e in document["events"]])


@dataclass
class ReplayedExecution:
    """Step Functions for one recorded execution: each DescribeExecution shows ``step`` more events, and the
    execution RUNNING until the last one is shown. GetExecutionHistory pages newest first, as AWS does."""

    history: Recorded
    step: int = 7
    page_size: int = 10
    shown: int = 0
    history_calls: list[dict[str, Any]] = field(default_factory=list)

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        if executionArn != self.history.describe["executionArn"]:
            raise ClientError(
                {"Error": {"Code": "ExecutionDoesNotExist", "Message": "no"}}, "DescribeExecution"
            )
        self.shown = min(len(self.history.events), self.shown + self.step)
        if self.shown == len(self.history.events):
            return dict(self.history.describe)
        running = {
            k: v
            for k, v in self.history.describe.items()
            if k not in ("stopDate", "output", "error", "cause")
        }
        return {**running, "status": "RUNNING"}

    def get_execution_history(self, **arguments: Any) -> dict[str, Any]:
        self.history_calls.append(arguments)
        events = self.history.events[: self.shown]
        if arguments.get("reverseOrder"):
            events = events[::-1]
        start = int(arguments.get("nextToken") or 0)
        size = min(int(arguments.get("maxResults") or 1000), self.page_size)
        page: dict[str, Any] = {"events": events[start : start + size]}
        if start + size < len(events):
            page["nextToken"] = str(start + size)
        return page
