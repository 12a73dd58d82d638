"""The cleanup after executions the ASL could not finish, fed with the events Step Functions emits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promote_cli.local.events import matches, status_change_event
from promotion.errors import BakeNoData
from promotion.pipeline.alarms import bake_step
from promotion.pipeline.cleanup import (
    ExecutionStatusChange,
    already_notified,
    clean_up_after,
    close_out,
    expire_approval,
)
from promotion.pipeline.notify import Outcome

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:release-promotion-promotion"
EXECUTION = f"{STATE_MACHINE.replace('stateMachine', 'execution')}:sentiment-service-0123456789ab-a1"
INPUT = {
    "pipeline": "sentiment-service",
    "sha": "0123456789abcdef0123456789abcdef01234567",
    "attempt": 1,
    "trigger": {"source": "cli", "requested_by": "alice"},
}


def aws_event(status: str, **detail: Any) -> dict[str, Any]:
    """The shape of EventBridge's "Step Functions Execution Status Change" event (AWS documentation)."""
    return {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-26T12:00:00Z",
        "region": "us-east-1",
        "resources": [EXECUTION],
        "detail": {
            "executionArn": EXECUTION,
            "stateMachineArn": STATE_MACHINE,
            "name": "sentiment-service-0123456789ab-a1",
            "status": status,
            "startDate": 1764158400000,
            "stopDate": 1764158460000,
            "input": json.dumps(INPUT),
            "output": None,
            "inputDetails": {"included": True},
            "outputDetails": None,
            "error": None,
            "cause": None,
            **detail,
        },
    }


RULE = {
    "source": ["aws.states"],
    "detail-type": ["Step Functions Execution Status Change"],
    "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"], "stateMachineArn": [STATE_MACHINE]},
}


@pytest.mark.parametrize(
    ("status", "matched"),
    [("ABORTED", True), ("TIMED_OUT", True), ("FAILED", True), ("SUCCEEDED", False), ("RUNNING", False)],
)
def test_the_templates_rule_pattern_matches_only_ended_executions(status: str, matched: bool) -> None:
    assert matches(RULE, aws_event(status)) is matched


def test_the_rule_ignores_other_state_machines() -> None:
    event = aws_event("ABORTED", stateMachineArn=STATE_MACHINE + "-other")
    assert not matches(RULE, event)


def test_the_local_watcher_builds_the_same_event_shape() -> None:
    described = {
        "executionArn": EXECUTION,
        "stateMachineArn": STATE_MACHINE,
        "name": "n",
        "status": "ABORTED",
        "input": "{}",
    }
    event = status_change_event(described, "123456789012", "us-east-1")
    assert set(aws_event("ABORTED")) == set(event)
    assert set(aws_event("ABORTED")["detail"]) <= set(event["detail"])
    assert matches(RULE, {**event, "detail": {**event["detail"], "stateMachineArn": STATE_MACHINE}})


class Expirer:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def expire_for_execution(self, execution_arn: str, *, at: int) -> list[Any]:
        self.calls.append(execution_arn)
        return ["appr-1"]


class History:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._events = events

    def get_paginator(self, name: str) -> Any:
        events = self._events

        class Pages:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                return [{"events": events}]

        return Pages()


def entered(name: str) -> dict[str, Any]:
    return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}


def test_a_cancelled_promotion_is_notified_and_its_approvals_expired() -> None:
    sent: list[Outcome] = []
    expirer = Expirer()
    change = ExecutionStatusChange.model_validate(
        aws_event("ABORTED", error="Cancelled", cause="wrong build (by alice)")["detail"]
    )
    report = clean_up_after(
        change, sfn=History([entered("Wait for approval")]), expirer=expirer, notify=sent.append, now=1.0
    )
    assert report.notified
    assert report.expired_approvals == 1
    assert expirer.calls == [EXECUTION]
    (outcome,) = sent
    assert outcome.outcome == "cancelled"
    assert outcome.failure is not None
    assert outcome.failure.Error == "Cancelled"
    assert "stopped: Cancelled" in outcome.subject()


def test_a_timed_out_execution_without_error_is_named() -> None:
    sent: list[Outcome] = []
    change = ExecutionStatusChange.model_validate(aws_event("TIMED_OUT")["detail"])
    clean_up_after(change, sfn=History([]), expirer=Expirer(), notify=sent.append, now=1.0)
    assert sent[0].failure is not None
    assert sent[0].failure.Error == "ExecutionTimedOut"


def test_a_failure_the_state_machine_already_notified_is_not_notified_twice() -> None:
    sent: list[Outcome] = []
    history = [entered("Deploy to prod"), entered("Notify failure"), {"type": "LambdaFunctionSucceeded"}]
    assert already_notified(history)
    change = ExecutionStatusChange.model_validate(aws_event("FAILED", error="CanaryFailed")["detail"])
    report = clean_up_after(change, sfn=History(history), expirer=Expirer(), notify=sent.append, now=1.0)
    assert not report.notified
    assert sent == []


def test_a_failed_notify_state_does_not_count_as_notified() -> None:
    history = [entered("Notify failure"), {"type": "LambdaFunctionFailed"}]
    assert not already_notified(history)


def test_succeeded_executions_are_left_alone() -> None:
    expirer = Expirer()
    change = ExecutionStatusChange.model_validate(aws_event("SUCCEEDED")["detail"])
    report = clean_up_after(change, sfn=History([]), expirer=expirer, notify=lambda o: None, now=1.0)
    assert not report.notified
    assert expirer.calls == []


def test_approval_timeout_names_the_error_and_expires_records() -> None:
    expirer = Expirer()
    failure = expire_approval(expirer, EXECUTION, timeout_seconds=600, now=5.0)
    assert failure.Error == "ApprovalTimedOut"
    assert "no decision within 600s" in failure.Cause
    assert expirer.calls == [EXECUTION]


def test_bake_without_any_data_fails_at_the_end_unless_accepted() -> None:
    silent = {"errors": "INSUFFICIENT_DATA", "p99": "OK"}
    first = bake_step(silent, elapsed_seconds=0, duration_seconds=4, poll_seconds=2)
    assert first.seen_data == ["p99"]
    assert not first.done
    second = bake_step(
        silent, elapsed_seconds=2, duration_seconds=4, poll_seconds=2, seen_data=first.seen_data
    )
    with pytest.raises(BakeNoData, match="errors"):
        bake_step(silent, elapsed_seconds=4, duration_seconds=4, poll_seconds=2, seen_data=second.seen_data)
    done = bake_step(silent, elapsed_seconds=4, duration_seconds=4, poll_seconds=2, insufficient_data="ok")
    assert done.done


def test_an_alarm_with_data_once_during_the_bake_counts_as_seen() -> None:
    once = bake_step({"errors": "OK"}, elapsed_seconds=0, duration_seconds=4, poll_seconds=2)
    end = bake_step(
        {"errors": "INSUFFICIENT_DATA"},
        elapsed_seconds=4,
        duration_seconds=4,
        poll_seconds=2,
        seen_data=once.seen_data,
    )
    assert end.done


class Locks:
    def __init__(self) -> None:
        self.released: list[str] = []

    def release_lock(self, pipeline: str, environment: str, *, owner: str) -> bool:
        self.released.append(environment)
        return True


class EmptyLedger:
    def history(self, pipeline: str, environment: str, *, limit: int = 10) -> list[Any]:
        return []

    def finish(self, pipeline: str, environment: str, key: str, *, outcome: Any, at: int) -> Any:
        raise AssertionError("nothing to close")


def test_close_out_releases_locks_but_keeps_them_after_a_failed_rollback() -> None:
    released = Locks()
    close_out("p", EXECUTION, "ABORTED", locks=released, ledger=EmptyLedger(), now=1.0)
    assert released.released == ["preprod", "prod"]
    kept = Locks()
    close_out("p", EXECUTION, "FAILED", locks=kept, ledger=EmptyLedger(), now=1.0, error="RollbackFailed")
    assert kept.released == []


def test_a_failed_rollback_that_was_never_announced_gets_the_critical_notice() -> None:
    sent: list[Outcome] = []
    change = ExecutionStatusChange.model_validate(aws_event("FAILED", error="RollbackFailed")["detail"])
    clean_up_after(
        change, sfn=History([entered("Roll back prod")]), expirer=Expirer(), notify=sent.append, now=1
    )
    (outcome,) = sent
    assert outcome.outcome == "rollback_failed"
    assert outcome.subject().startswith("CRITICAL:")
