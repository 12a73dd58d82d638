"""The console's reading of an execution history: each state's status, the path, failures, progress."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from promote_cli.local.console.history import HIDDEN, redact, trace

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class History:
    """Builds a history as GetExecutionHistory returns it (oldest first, ids from 1)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, **details: Any) -> History:
        event: dict[str, Any] = {
            "id": len(self.events) + 1,
            "previousEventId": len(self.events),
            "type": kind,
            "timestamp": T0 + timedelta(seconds=len(self.events)),
        }
        event.update(details)
        self.events.append(event)
        return self

    def started(self) -> History:
        return self.add("ExecutionStarted", executionStartedEventDetails={"input": "{}"})

    def enter(self, state: str, kind: str = "Task", data: Any = None) -> History:
        details = {"name": state, "input": json.dumps(data or {})}
        return self.add(f"{kind}StateEntered", stateEnteredEventDetails=details)

    def exit(self, state: str, kind: str = "Task", data: Any = None) -> History:
        details = {"name": state, "output": json.dumps(data or {})}
        return self.add(f"{kind}StateExited", stateExitedEventDetails=details)

    def attempt(self, *, fails_with: str | None = None) -> History:
        self.add("LambdaFunctionScheduled", lambdaFunctionScheduledEventDetails={"resource": "f"})
        self.add("LambdaFunctionStarted")
        if fails_with is None:
            return self.add("LambdaFunctionSucceeded", lambdaFunctionSucceededEventDetails={"output": "{}"})
        return self.add(
            "LambdaFunctionFailed",
            lambdaFunctionFailedEventDetails={"error": fails_with, "cause": f"{fails_with} happened"},
        )

    def task(self, state: str, data: Any = None) -> History:
        return self.enter(state).attempt().exit(state, data=data)


def test_a_running_execution_marks_its_current_state_running_and_the_rest_not_reached() -> None:
    events = History().started().task("Load").task("Fetch").enter("Wait for approval").events
    events.append(
        {
            "id": len(events) + 1,
            "type": "TaskScheduled",
            "timestamp": T0,
            "taskScheduledEventDetails": {"parameters": json.dumps({"Payload": {"task_token": "secret"}})},
        }
    )

    traced = trace(events, status="RUNNING")

    assert traced.state_status() == {
        "Load": "succeeded",
        "Fetch": "succeeded",
        "Wait for approval": "running",
    }
    assert traced.path == [("Load", "Fetch"), ("Fetch", "Wait for approval")]
    assert traced.failure is None


def test_a_state_that_failed_then_succeeded_on_a_retry_is_retried() -> None:
    history = History().started().enter("Fetch")
    history.attempt(fails_with="ArtifactNotFound").attempt(fails_with="ArtifactNotFound").attempt()
    history.exit("Fetch").task("Deploy")

    traced = trace(history.events, status="RUNNING")

    assert traced.state_status() == {"Fetch": "retried", "Deploy": "succeeded"}
    assert traced.caught_path == []
    fetch = traced.visits[0]
    assert fetch.attempts == 3
    assert [failure.error for failure in fetch.failures] == ["ArtifactNotFound", "ArtifactNotFound"]


def test_a_state_retrying_right_now_is_running_with_its_failures_so_far() -> None:
    history = History().started().enter("Fetch").attempt(fails_with="ArtifactNotFound")

    traced = trace(history.events, status="RUNNING")

    assert traced.state_status() == {"Fetch": "running"}
    assert traced.visits[0].failures[0].error == "ArtifactNotFound"


def test_a_caught_failure_marks_the_state_caught_and_the_fail_state_failed() -> None:
    history = History().started().task("Deploy to preprod")
    # The interpreter exits the state with the Catch's output; AWS may go straight to the next state.
    history.enter("Run integration tests").attempt(fails_with="IntegrationTestsFailed")
    history.exit("Run integration tests")
    history.task("Roll back preprod").enter("Promotion failed", kind="Fail")
    history.add(
        "ExecutionFailed",
        executionFailedEventDetails={"error": "IntegrationTestsFailed", "cause": "1/3 checks failed"},
    )

    traced = trace(history.events, status="FAILED")

    assert traced.state_status() == {
        "Deploy to preprod": "succeeded",
        "Run integration tests": "caught",
        "Roll back preprod": "succeeded",
        "Promotion failed": "failed",
    }
    assert ("Run integration tests", "Roll back preprod") in traced.path
    assert traced.caught_path == [("Run integration tests", "Roll back preprod")]
    assert traced.failure is not None
    assert (traced.failure.error, traced.failure.cause) == ("IntegrationTestsFailed", "1/3 checks failed")
    assert traced.status == "FAILED"


def test_a_catch_without_an_exit_event_is_still_caught() -> None:
    history = History().started().enter("Canary").attempt(fails_with="CanaryFailed")
    history.task("Roll back prod")

    assert trace(history.events, status="RUNNING").state_status()["Canary"] == "caught"


def test_retried_and_then_caught_is_caught() -> None:
    history = History().started().enter("Deploy").attempt(fails_with="Lambda.Unknown")
    history.attempt(fails_with="DeployFailed").task("Roll back")

    assert trace(history.events, status="RUNNING").state_status()["Deploy"] == "caught"


def test_the_state_an_execution_stopped_in_failed_it() -> None:
    history = History().started().task("Load").enter("Fetch").attempt(fails_with="ArtifactNotFound")
    history.add("ExecutionAborted", executionAbortedEventDetails={"error": "Cancelled", "cause": "by ops"})

    traced = trace(history.events, status="RUNNING")  # described before the abort, read after it

    assert traced.state_status() == {"Load": "succeeded", "Fetch": "failed"}
    assert traced.status == "ABORTED"
    assert traced.failure is not None
    assert traced.failure.error == "Cancelled"


def test_a_loop_keeps_every_visit_and_its_transitions() -> None:
    history = History().started()
    for elapsed in (0, 2, 4):
        bake = {"elapsed_seconds": elapsed, "duration_seconds": 4, "done": elapsed == 4}
        history.task("Check prod alarms", data={"bake": bake})
        history.enter("Bake complete?", kind="Choice").exit(
            "Bake complete?", kind="Choice", data={"bake": bake}
        )
        if elapsed < 4:
            history.enter("Bake", kind="Wait").exit("Bake", kind="Wait")
    history.task("Record success").enter("Promoted", kind="Succeed").exit("Promoted", kind="Succeed")
    history.add("ExecutionSucceeded", executionSucceededEventDetails={"output": "{}"})

    traced = trace(history.events, status="SUCCEEDED")

    assert set(traced.state_status().values()) == {"succeeded"}
    assert [visit.state for visit in traced.visits].count("Check prod alarms") == 3
    assert traced.path.count(("Bake", "Check prod alarms")) == 2
    assert traced.latest_output_field("bake") == {"elapsed_seconds": 4, "duration_seconds": 4, "done": True}
    assert traced.latest_output_field("traffic") is None
    assert traced.status == "SUCCEEDED"


def test_a_retry_in_an_earlier_visit_of_a_loop_still_shows() -> None:
    history = History().started()
    history.enter("Shift traffic").attempt(fails_with="Lambda.Unknown").attempt().exit("Shift traffic")
    history.enter("Hold", kind="Wait").exit("Hold", kind="Wait").task("Shift traffic")

    assert trace(history.events, status="RUNNING").state_status()["Shift traffic"] == "retried"


def test_events_out_of_order_are_read_in_id_order() -> None:
    events = History().started().task("Load").task("Fetch").events

    assert trace(list(reversed(events))).path == [("Load", "Fetch")]


def test_task_tokens_are_hidden_wherever_they_are_nested() -> None:
    parameters = json.dumps({"FunctionName": "f", "Payload": {"task_token": "AAAA+/=", "pipeline": "p"}})
    document = {"taskScheduledEventDetails": {"parameters": parameters}, "TaskToken": "BBBB", "x": ["y"]}

    shown = redact(document)

    assert "AAAA" not in json.dumps(shown)
    assert shown["TaskToken"] == HIDDEN
    assert json.loads(shown["taskScheduledEventDetails"]["parameters"])["Payload"] == {
        "task_token": HIDDEN,
        "pipeline": "p",
    }
    assert shown["x"] == ["y"]
    assert redact("{not json") == "{not json"
