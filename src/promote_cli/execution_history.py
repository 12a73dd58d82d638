"""An execution's history events, read as a person follows a promotion: the states it went through.

Pure functions of the events ``GetExecutionHistory`` returns (boto3's shape: ``timestamp`` a datetime, each
event's details under ``<type>EventDetails``), so ``promote describe`` and ``promote watch`` show the same
thing, and the unit tests feed recorded histories. Nothing here names a state of the promotion: the roles
that matter to a watcher are read from the events themselves (a task that waits for a callback, a task whose
result is a bake's progress).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from promotion.models.config import BakeSettings
from promotion.models.execution import BakeProgress

# A task's attempt ended in error: when another "scheduled" event follows, it was retried; else it ended the
# state.
_TASK_FAILED = {
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionScheduleFailed",
    "LambdaFunctionStartFailed",
    "TaskFailed",
    "TaskTimedOut",
    "TaskStartFailed",
    "TaskSubmitFailed",
    "ActivityFailed",
    "ActivityTimedOut",
    "ActivityScheduleFailed",
}
_TASK_SCHEDULED = {"LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled"}
_TASK_SUCCEEDED = {"LambdaFunctionSucceeded", "TaskSucceeded", "ActivitySucceeded"}
_EXECUTION_ENDED = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
CALLBACK_SUFFIX = ".waitForTaskToken"


def details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's ``...EventDetails`` member ({} for events that have none)."""
    return next((dict(value) for key, value in event.items() if key.endswith("EventDetails")), {})


def cause_message(cause: str | None) -> str:
    """A failure's cause as one line for a person: a Lambda error's ``errorMessage`` (its stack trace is for
    the logs, not for this), else the cause as given; whitespace runs become one space."""
    if not cause:
        return ""
    text = cause
    try:
        document = json.loads(cause)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("errorMessage"), str):
        text = document["errorMessage"]
    return " ".join(text.split())


@dataclass(frozen=True)
class AttemptFailure:
    """One failed attempt of a task state: its error, and whether the state's Retry tried again."""

    attempt: int
    error: str
    cause: str
    at: datetime
    event_id: int
    retried: bool = False


@dataclass
class StateVisit:
    """One entry into a state, until it exits (``exited`` None while it is still running)."""

    name: str
    kind: str  # the state's type as the history names it: Task, Choice, Pass, Wait, Map, Parallel, ...
    entered: datetime
    entered_id: int
    exited: datetime | None = None
    exited_id: int | None = None
    attempts: int = 0
    failures: list[AttemptFailure] = field(default_factory=list)
    result: str | None = None  # the task's own result (before ResultPath), of its last attempt
    # When the result is one poll of a timed bake: its progress, and which poll of the bake it was.
    bake_progress: BakeProgress | None = None
    bake_poll: int = 0
    last_event_id: int = 0  # the latest event of this visit (a watcher lays out only visits that changed)
    waits_for_callback: bool = False  # a ``.waitForTaskToken`` task
    # When its request went out (TaskSubmitted), and the event's id: from then on it waits for someone.
    callback_sent: tuple[datetime, int] | None = None

    @property
    def retries(self) -> list[AttemptFailure]:
        return [failure for failure in self.failures if failure.retried]

    @property
    def error(self) -> AttemptFailure | None:
        """The failure the state ended with (caught by the ASL, or ending the execution)."""
        last = self.failures[-1] if self.failures else None
        return last if last is not None and not last.retried and self.exited is not None else None

    def seconds(self, now: datetime) -> float:
        return ((self.exited or now) - self.entered).total_seconds()


def _bake_progress(result: str | None) -> BakeProgress | None:
    """The bake's progress, when a task's result is one poll of a timed bake (a traffic step's look at the
    alarms has no duration)."""
    if result is None or '"duration_seconds"' not in result:
        return None
    try:
        progress = BakeProgress.model_validate_json(result)
    except ValidationError:
        return None
    return progress if progress.duration_seconds > 0 else None


# The states whose result is a deployment window's answer, and the environment each answers for.
WINDOW_CHECKS = {"Check deployment window": "prod", "Check preprod deployment window": "preprod"}


def window_answer(result: str | None) -> dict[str, Any] | None:
    """A "Check deployment window" result (``open``, ``reason``, ``opens_at``, ``wait_until``, ...), or
    None when ``result`` is not one."""
    if result is None or '"wait_until"' not in result:
        return None
    try:
        answer = json.loads(result)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) and "open" in answer else None


def window_summary(answer: Mapping[str, Any]) -> str:
    """A window's answer in a few words: closed, why, when it opens and when it checks again; or open, why."""
    if not answer["open"]:
        return (
            f"closed ({answer.get('reason')}): opens {answer.get('opens_at')}, "
            f"next check {answer.get('wait_until')}"
        )
    return f"open ({answer.get('reason')})"


def window_note(result: str | None) -> str | None:
    """What a "Check deployment window" result says worth a line: a closed window (why, when it opens,
    when it checks again) or an override; None for any other result, or a window simply open."""
    answer = window_answer(result)
    if answer is None:
        return None
    if not answer["open"]:
        return f"deployment window {window_summary(answer)}"
    return f"deployment window: {answer.get('reason')}" if answer.get("override") else None


def latest_window(view: ExecutionView) -> dict[str, Any] | None:
    """The newest window check's answer, with the environment it answers for and whether the execution is
    waiting for that window now (``promote describe``); None when no window was checked."""
    current = view.current
    for visit in reversed(view.visits):
        environment = WINDOW_CHECKS.get(visit.name)
        answer = window_answer(visit.result) if environment else None
        if answer is not None:
            waiting = current is not None and current.kind == "Wait" and not answer["open"]
            return {"environment": environment, "waiting": waiting, **answer}
    return None


@dataclass(frozen=True)
class BakeCount:
    polls_done: int
    polls_total: int
    elapsed_seconds: int
    duration_seconds: int


@dataclass
class ExecutionView:
    visits: list[StateVisit] = field(default_factory=list)
    started: datetime | None = None
    input: str | None = None
    ended: datetime | None = None
    status: str | None = None  # from the execution's end event; None while running
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    last_event_id: int = 0
    # Which visit each event belongs to, by event id (an event follows its ``previousEventId``).
    owners: dict[int, StateVisit] = field(default_factory=dict, repr=False)
    last_bake_poll: StateVisit | None = None

    @property
    def open_visits(self) -> list[StateVisit]:
        return [visit for visit in self.visits if visit.exited is None]

    @property
    def current(self) -> StateVisit | None:
        """The state the execution is in now (the innermost, latest entered, of those still open)."""
        return self.open_visits[-1] if self.open_visits and self.status is None else None

    def bake(self) -> BakeCount | None:
        """Polls done out of the bake's total, from the results of the bake's polls so far."""
        if self.last_bake_poll is None:
            return None
        last = self.last_bake_poll.bake_progress
        assert last is not None
        return BakeCount(
            polls_done=self.last_bake_poll.bake_poll,
            polls_total=bake_poll_count(last),
            elapsed_seconds=min(last.elapsed_seconds, last.duration_seconds),
            duration_seconds=last.duration_seconds,
        )


def bake_poll_count(progress: BakeProgress) -> int:
    """How many polls the bake takes in all, by the pipeline's own rule (:meth:`BakeSettings.polls`)."""
    settings = BakeSettings.model_construct(
        duration_seconds=progress.duration_seconds, poll_interval_seconds=progress.poll_seconds
    )
    return settings.polls()


def read_history(events: Iterable[Mapping[str, Any]], view: ExecutionView | None = None) -> ExecutionView:
    """Fold history events (in id order) into ``view`` (a new one by default); events already read, by id,
    are skipped, so a watcher can feed each poll's events to the same view."""
    view = view if view is not None else ExecutionView()
    # An event follows its ``previousEventId``: a Parallel's branches or a Map's iterations, interleaved in
    # the history, still land on their own states.
    owner = view.owners
    for event in sorted(events, key=lambda e: int(e["id"])):
        event_id = int(event["id"])
        if event_id <= view.last_event_id:
            continue
        view.last_event_id = event_id
        kind = str(event["type"])
        at: datetime = event["timestamp"]
        info = details(event)
        previous = owner.get(int(event.get("previousEventId") or 0))
        if kind.endswith("StateEntered"):
            entered = StateVisit(
                name=str(info.get("name", "")),
                kind=kind[: -len("StateEntered")],
                entered=at,
                entered_id=event_id,
            )
            entered.last_event_id = event_id
            view.visits.append(entered)
            owner[event_id] = entered
            continue
        visit = previous
        if visit is None and kind not in _EXECUTION_ENDED and kind != "ExecutionStarted":
            visit = view.open_visits[-1] if view.open_visits else None
        if kind == "ExecutionStarted":
            view.started, view.input = at, info.get("input")
        elif kind in _EXECUTION_ENDED:
            view.status, view.ended = _EXECUTION_ENDED[kind], at
            view.output = info.get("output")
            view.error, view.cause = info.get("error"), info.get("cause")
        elif visit is None:
            continue
        elif kind.endswith("StateExited"):
            visit.exited, visit.exited_id = at, event_id
        elif kind in _TASK_SCHEDULED:
            if visit.failures and not visit.failures[-1].retried:
                last = visit.failures[-1]
                visit.failures[-1] = AttemptFailure(
                    last.attempt, last.error, last.cause, last.at, last.event_id, retried=True
                )
            visit.attempts += 1
            visit.waits_for_callback = str(info.get("resource", "")).endswith(CALLBACK_SUFFIX)
        elif kind == "TaskSubmitted" and visit.waits_for_callback:
            visit.callback_sent = (at, event_id)
        elif kind in _TASK_FAILED:
            visit.failures.append(
                AttemptFailure(
                    attempt=max(visit.attempts, 1),
                    error=str(info.get("error") or kind),
                    cause=cause_message(info.get("cause")),
                    at=at,
                    event_id=event_id,
                )
            )
        elif kind in _TASK_SUCCEEDED:
            visit.result = info.get("output")
            visit.bake_progress = _bake_progress(visit.result)
            if visit.bake_progress is not None:
                earlier = view.last_bake_poll.bake_poll if view.last_bake_poll is not None else 0
                visit.bake_poll = earlier + 1
                view.last_bake_poll = visit
        if visit is not None:
            owner[event_id] = visit
            visit.last_event_id = event_id
    return view


LineKind = Literal["entered", "retry", "done", "failed", "bake", "waiting"]
# States that do their work in no time: their entry says all there is to say.
_INSTANT = {"Choice", "Pass", "Succeed", "Fail"}


@dataclass(frozen=True)
class TimelineLine:
    """One line of a watcher's log. ``order`` sorts lines as their events happened, so the lines of a
    longer history extend those of a shorter one (a watcher prints only the new ones)."""

    order: tuple[int, int]
    at: datetime
    kind: LineKind
    state: str
    text: str


def timeline(view: ExecutionView, *, changed_after: int = 0) -> list[TimelineLine]:
    """The log of an execution so far: each state entered, each retry (error and attempt), how each state
    that takes time ended and how long it took, the bake's polls. ``changed_after``: only the lines of
    visits with an event after this id (a watcher's poll lays out only what its new events changed)."""
    lines: list[TimelineLine] = []
    for visit in view.visits:
        if visit.last_event_id <= changed_after:
            continue
        lines.append(TimelineLine((visit.entered_id, 0), visit.entered, "entered", visit.name, visit.name))
        for failure in visit.retries:
            lines.append(
                TimelineLine(
                    (failure.event_id, 0),
                    failure.at,
                    "retry",
                    visit.name,
                    f"{failure.error} on attempt {failure.attempt}: retrying",
                )
            )
        if visit.callback_sent is not None:
            sent_at, sent_id = visit.callback_sent
            lines.append(TimelineLine((sent_id, 0), sent_at, "waiting", visit.name, "waiting for a decision"))
        if visit.exited is None or visit.exited_id is None:
            continue
        took = format_seconds(visit.seconds(visit.exited))
        error = visit.error
        if error is not None:
            text = f"{error.error} after {took}" + (f": {error.cause}" if error.cause else "")
            lines.append(TimelineLine((visit.exited_id, 0), visit.exited, "failed", visit.name, text))
        elif visit.kind not in _INSTANT:
            lines.append(
                TimelineLine((visit.exited_id, 0), visit.exited, "done", visit.name, f"done in {took}")
            )
        note = window_note(visit.result)
        if note is not None:
            lines.append(TimelineLine((visit.exited_id, 1), visit.exited, "waiting", visit.name, note))
        progress = visit.bake_progress
        if progress is not None:
            lines.append(
                TimelineLine(
                    (visit.exited_id, 1),
                    visit.exited,
                    "bake",
                    visit.name,
                    f"bake: poll {visit.bake_poll} of {bake_poll_count(progress)} "
                    f"({progress.duration_seconds} s, one poll every {progress.poll_seconds} s)",
                )
            )
    return sorted(lines, key=lambda line: line.order)


def describe_view(view: ExecutionView, now: datetime) -> list[dict[str, Any]]:
    """The states visited, as plain data (``promote describe --json``)."""
    visits = []
    for visit in view.visits:
        error = visit.error
        visits.append(
            {
                "state": visit.name,
                "type": visit.kind,
                "entered": visit.entered.isoformat(),
                "exited": visit.exited.isoformat() if visit.exited else None,
                "seconds": round(visit.seconds(now), 3),
                "attempts": visit.attempts,
                "retries": [{"attempt": r.attempt, "error": r.error} for r in visit.retries],
                "error": {"error": error.error, "cause": error.cause} if error else None,
            }
        )
    return visits


def format_seconds(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 04 s``, ``2 h 05 min``, ``3 d 04 h``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"
