"""Recorded histories read as a person follows a promotion: states, durations, retries, failures, bake."""

from __future__ import annotations

from datetime import timedelta

import pytest

from promote_cli.execution_history import (
    ExecutionView,
    cause_message,
    format_seconds,
    read_history,
    timeline,
)
from promote_cli.executions import describe, history_events
from tests.support.histories import RECORDED, ReplayedExecution, recorded


def entered_names(events: list[dict[str, object]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if str(e["type"]).endswith("StateEntered")]  # type: ignore[index]


@pytest.mark.parametrize("name", RECORDED)
def test_every_state_entered_is_one_visit_with_a_duration(name: str) -> None:
    history = recorded(name)
    view = read_history(history.events)
    assert [visit.name for visit in view.visits] == entered_names(history.events)
    assert view.status == history.describe["status"]
    assert view.current is None
    for visit in view.visits:
        assert visit.exited is not None or visit.kind in ("Succeed", "Fail")
        assert visit.seconds(history.describe["stopDate"]) >= 0


def test_an_approved_promotion_waits_for_a_callback_and_bakes_every_poll() -> None:
    view = read_history(recorded("approved").events)
    (waiting,) = [visit for visit in view.visits if visit.waits_for_callback]
    assert waiting.name == "Wait for approval"
    assert waiting.callback_sent is not None
    assert waiting.error is None
    bake = view.bake()
    assert bake is not None
    assert (bake.polls_done, bake.polls_total) == (3, 3)
    texts = [line.text for line in timeline(view) if line.kind == "bake"]
    assert texts == [f"bake: poll {n} of 3 (4 s, one poll every 2 s)" for n in (1, 2, 3)]
    assert not any(visit.failures for visit in view.visits)


def test_retries_are_error_and_attempt_and_the_state_still_succeeds() -> None:
    view = read_history(recorded("retried_then_rejected").events)
    deploy = next(visit for visit in view.visits if visit.name == "Deploy to preprod")
    assert [(r.error, r.attempt) for r in deploy.retries] == [
        ("Lambda.ServiceException", 1),
        ("Lambda.ServiceException", 2),
    ]
    assert deploy.attempts == 3
    assert deploy.error is None
    lines = [line.text for line in timeline(view) if line.state == "Deploy to preprod"]
    assert lines[:3] == [
        "Deploy to preprod",
        "Lambda.ServiceException on attempt 1: retrying",
        "Lambda.ServiceException on attempt 2: retrying",
    ]
    assert lines[3].startswith("done in ")


def test_a_rejection_ends_the_wait_with_its_error_and_reason() -> None:
    view = read_history(recorded("retried_then_rejected").events)
    wait = next(visit for visit in view.visits if visit.name == "Wait for approval")
    assert wait.error is not None
    assert wait.error.error == "Rejected"
    assert wait.error.cause.startswith("rejected by release-manager@example.com via email at ")
    assert wait.error.cause.endswith(": not today")
    assert (view.status, view.error) == ("FAILED", "Rejected")
    assert view.visits[view.visits.index(wait) + 1].name == "Close approval request"


def test_a_lambda_failure_shows_its_message_never_its_stack_trace() -> None:
    history = recorded("never_published")
    view = read_history(history.events)
    fetch = next(visit for visit in view.visits if visit.name == "Fetch artifact")
    assert [(r.error, r.attempt) for r in fetch.retries] == [("ArtifactNotFound", 1), ("ArtifactNotFound", 2)]
    assert fetch.error is not None
    assert fetch.error.error == "BuildNotPublished"
    assert "stackTrace" in str(view.cause)  # what Step Functions holds...
    for text in [fetch.error.cause, cause_message(view.cause), *(line.text for line in timeline(view))]:
        assert "Traceback" not in text
        assert "stackTrace" not in text
        assert "\n" not in text
    assert cause_message(view.cause).startswith("no build of example-org/sentiment-service@")


def test_a_failed_check_is_caught_and_rolled_back() -> None:
    view = read_history(recorded("fails_preprod").events)
    checks = next(visit for visit in view.visits if visit.name == "Run integration tests")
    assert checks.error is not None
    assert checks.error.error == "IntegrationTestsFailed"
    assert "integration checks failed" in checks.error.cause
    assert view.visits[view.visits.index(checks) + 1].name == "Roll back preprod"


@pytest.mark.parametrize("name", RECORDED)
def test_a_longer_history_only_adds_lines_so_a_watcher_prints_each_once(name: str) -> None:
    events = recorded(name).events
    everything = set(timeline(read_history(events)))
    growing = ExecutionView()
    for cut in range(1, len(events) + 1):
        partial = set(timeline(read_history(events[:cut])))
        assert partial <= everything, f"after {cut} events"
        read_history(events[:cut], growing)  # the same view fed again: events already read are skipped
        assert set(timeline(growing)) == partial


def test_while_waiting_for_approval_the_current_state_is_the_wait() -> None:
    history = recorded("approved")
    view = read_history(history.events[: history.cut_after("TaskSubmitted", "Wait for approval")])
    assert view.status is None
    assert view.current is not None
    assert view.current.name == "Wait for approval"
    assert view.current.waits_for_callback
    assert view.current.callback_sent is not None
    assert timeline(view)[-1].text == "waiting for a decision"


def test_history_events_reads_newest_pages_only_down_to_what_it_has_seen() -> None:
    history = recorded("approved")
    sfn = ReplayedExecution(history, page_size=10, shown=len(history.events))
    arn = history.describe["executionArn"]
    assert [e["id"] for e in history_events(sfn, arn)] == [e["id"] for e in history.events]
    pages_for_all = len(sfn.history_calls)
    sfn.history_calls.clear()
    newest = history_events(sfn, arn, after_event_id=len(history.events) - 3)
    assert [e["id"] for e in newest] == [e["id"] for e in history.events[-3:]]
    assert len(sfn.history_calls) == 1 < pages_for_all


def test_describe_reports_states_retries_and_the_failure_without_a_stack_trace() -> None:
    history = recorded("never_published")
    sfn = ReplayedExecution(history, shown=len(history.events))
    report = describe(sfn, history.describe)
    assert (report["status"], report["error"]) == ("FAILED", "BuildNotPublished")
    assert report["cause"].startswith("no build of ")
    assert "Traceback" not in report["cause"]
    assert report["pipeline"] == "recorded-unpublished"
    assert report["attempt"] == 1
    assert report["window"] is None  # no deployment window was checked
    assert report["input"]["pipeline"] == "recorded-unpublished"
    fetch = next(state for state in report["states"] if state["state"] == "Fetch artifact")
    assert fetch["retries"] == [
        {"attempt": 1, "error": "ArtifactNotFound"},
        {"attempt": 2, "error": "ArtifactNotFound"},
    ]
    assert fetch["error"]["error"] == "BuildNotPublished"
    assert report["seconds"] == pytest.approx(
        (history.describe["stopDate"] - history.describe["startDate"]).total_seconds(), abs=0.001
    )


@pytest.mark.parametrize(
    ("cause", "shown"),
    [
        ('{"errorType": "X", "errorMessage": "it broke\\n  badly", "stackTrace": ["a"]}', "it broke badly"),
        ("rejected by a@example.com: not today", "rejected by a@example.com: not today"),
        ('["not", "an object"]', '["not", "an object"]'),
        (None, ""),
    ],
)
def test_cause_message(cause: str | None, shown: str) -> None:
    assert cause_message(cause) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.04, "0.0 s"),
        (9.94, "9.9 s"),
        (12.5, "12 s"),
        (184, "3 min 04 s"),
        (7500, "2 h 05 min"),
        (
            timedelta(days=3, hours=4).total_seconds(),
            "3 d 04 h",
        ),
    ],
)
def test_format_seconds(seconds: float, shown: str) -> None:
    assert format_seconds(seconds) == shown
