"""What an execution's history says about each state: reached or not, running, succeeded, failed, caught
or retried; the path taken; each visit's input, output and errors; the failure; bake and traffic progress.

Fed the events of ``GetExecutionHistory`` (oldest first) and nothing else, so the same mapping reads a
history from AWS or from the local plane.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

StateStatus = Literal["not_reached", "running", "succeeded", "failed", "caught", "retried"]
ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]

# Every event that reports a failed attempt of a task, and where its details are.
FAILURE_EVENTS = {
    "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
    "LambdaFunctionTimedOut": "lambdaFunctionTimedOutEventDetails",
    "LambdaFunctionScheduleFailed": "lambdaFunctionScheduleFailedEventDetails",
    "LambdaFunctionStartFailed": "lambdaFunctionStartFailedEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "TaskStartFailed": "taskStartFailedEventDetails",
    "TaskSubmitFailed": "taskSubmitFailedEventDetails",
}
SUCCESS_EVENTS = {"LambdaFunctionSucceeded", "TaskSucceeded"}
ATTEMPT_EVENTS = {"LambdaFunctionScheduled", "TaskScheduled"}
EXECUTION_END_EVENTS = {
    "ExecutionSucceeded": None,
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
}
# Keys whose values are bearer credentials: never shown (whoever holds a task token can complete its task).
_SECRET_KEYS = {"tasktoken", "task_token"}
HIDDEN = "(hidden)"


@dataclass(frozen=True)
class Failure:
    error: str
    cause: str

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "cause": self.cause}


@dataclass
class StateVisit:
    """One entry into a state, until it was left (a state in a loop is visited many times)."""

    state: str
    entered_event: int
    entered_at: datetime | None
    input: str | None
    exited_at: datetime | None = None
    output: str | None = None
    attempts: int = 0
    failures: list[Failure] = field(default_factory=list)
    # The last attempt's outcome: None before any result (or for states that run nothing).
    last_attempt_failed: bool | None = None
    left: bool = False
    status: StateStatus = "running"

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "status": self.status,
            "entered_event": self.entered_event,
            "entered_at": _iso(self.entered_at),
            "exited_at": _iso(self.exited_at),
            "attempts": self.attempts,
            "failures": [failure.to_json() for failure in self.failures],
            "input": redact_json_text(self.input),
            "output": redact_json_text(self.output),
        }


@dataclass
class ExecutionTrace:
    visits: list[StateVisit]
    # (from, to) for each transition taken, in order.
    path: list[tuple[str, str]]
    status: str
    failure: Failure | None
    # The transitions taken through a Catch (the same pair of states may also be joined by a Next).
    caught_path: list[tuple[str, str]] = field(default_factory=list)

    def state_status(self) -> dict[str, StateStatus]:
        """Each reached state's status: its last visit's, and "retried" when a visit that succeeded had
        failed attempts first (a loop's earlier visits do not hide a failure, catch or retry)."""
        statuses: dict[str, StateStatus] = {}
        for visit in self.visits:
            earlier = statuses.get(visit.state)
            status = visit.status
            if earlier == "retried" and status == "succeeded":
                status = "retried"
            statuses[visit.state] = status
        return statuses

    def latest_output_field(self, key: str) -> Any:
        """The newest state output's top-level ``key`` (a task's result kept in the state data)."""
        for visit in reversed(self.visits):
            if visit.output is None:
                continue
            try:
                document = json.loads(visit.output)
            except ValueError:
                continue
            if isinstance(document, dict) and key in document:
                return document[key]
        return None


def trace(events: list[dict[str, Any]], *, status: str = "RUNNING") -> ExecutionTrace:
    """``status``: the execution's, from ``DescribeExecution`` (a history read mid-run has no end event)."""
    visits: list[StateVisit] = []
    path: list[tuple[str, str]] = []
    caught_path: list[tuple[str, str]] = []
    failure: Failure | None = None
    current: StateVisit | None = None
    for event in sorted(events, key=lambda e: int(e["id"])):
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails") or {}
            name = str(details.get("name", ""))
            if current is not None:
                _leave(current)
            if visits:
                path.append((visits[-1].state, name))
                if visits[-1].status == "caught":
                    caught_path.append((visits[-1].state, name))
            current = StateVisit(
                state=name,
                entered_event=int(event["id"]),
                entered_at=event.get("timestamp"),
                input=details.get("input"),
            )
            visits.append(current)
            if kind == "FailStateEntered":
                current.status = "failed"
                current.left = True
        elif kind.endswith("StateExited") and current is not None:
            details = event.get("stateExitedEventDetails") or {}
            current.exited_at = event.get("timestamp")
            current.output = details.get("output")
            _leave(current)
        elif kind in ATTEMPT_EVENTS and current is not None:
            current.attempts += 1
        elif kind in SUCCESS_EVENTS and current is not None:
            current.last_attempt_failed = False
        elif kind in FAILURE_EVENTS and current is not None:
            details = event.get(FAILURE_EVENTS[kind]) or {}
            current.failures.append(Failure(str(details.get("error", "")), str(details.get("cause", ""))))
            current.last_attempt_failed = True
        elif kind in EXECUTION_END_EVENTS:
            detail_key = EXECUTION_END_EVENTS[kind]
            if detail_key is not None:
                details = event.get(detail_key) or {}
                failure = Failure(str(details.get("error", "")), str(details.get("cause", "")))
                status = {"ExecutionFailed": "FAILED", "ExecutionTimedOut": "TIMED_OUT"}.get(kind, "ABORTED")
            else:
                status = "SUCCEEDED"
    if current is not None and not current.left:
        # Still in it: running while the execution runs; where it ended otherwise, the state failed it.
        current.status = "running" if status == "RUNNING" else "failed"
    return ExecutionTrace(visits=visits, path=path, status=status, failure=failure, caught_path=caught_path)


def _leave(visit: StateVisit) -> None:
    if visit.left:
        return
    visit.left = True
    if visit.last_attempt_failed:
        visit.status = "caught"  # left after a failed attempt: a Catch took it elsewhere
    elif visit.failures:
        visit.status = "retried"  # failed attempts, then one that succeeded
    else:
        visit.status = "succeeded"


def redact(value: Any) -> Any:
    """``value`` with every task token replaced (JSON documents nested as strings included)."""
    if isinstance(value, dict):
        return {
            key: HIDDEN if str(key).lower().rstrip(".$") in _SECRET_KEYS else redact(inner)
            for key, inner in value.items()
        }
    if isinstance(value, list):
        return [redact(inner) for inner in value]
    if isinstance(value, str) and value[:1] in "{[":
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return json.dumps(redact(parsed))
    return value


def redact_json_text(text: str | None) -> str | None:
    return None if text is None else str(redact(text))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if isinstance(moment, datetime) else None
