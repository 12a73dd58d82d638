"""Holding a task token is worth nothing: completions of "Wait for approval" that the control plane did not
make stop the promotion before any prod action, on the real ASL and handlers of the local plane."""

from __future__ import annotations

import json
from typing import Any

import boto3

from promote_cli.local.plane import LocalControlPlane
from promotion.dal.approvals import DynamoApprovalStore
from promotion.models.approval import ApprovalRecord
from tests.support.approval_plane import audit_actions, derived_pipeline, start
from tests.support.promotion import (
    Promotion,
    outbox,
    token_from_history,
    wait_for_end,
    wait_for_state,
)


def records_of(plane: LocalControlPlane, execution_arn: str) -> list[ApprovalRecord]:
    assert plane.stack is not None
    resource = boto3.resource(
        "dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url
    )
    return DynamoApprovalStore(resource.Table(plane.stack.environment["APPROVALS_TABLE"])).for_execution(
        execution_arn
    )


def waiting_promotion(plane: LocalControlPlane, name: str) -> tuple[Promotion, ApprovalRecord, str]:
    promotion = start(plane, derived_pipeline(plane, name))
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")
    token = token_from_history(plane, promotion.execution_arn)
    # The request step stores the record right after the task is scheduled.
    for _ in range(100):
        records = records_of(plane, promotion.execution_arn)
        if records:
            return promotion, records[0], token
        wait_for_state(plane, promotion.execution_arn, "Wait for approval", timeout=0.1)
    raise AssertionError("no approval record for the waiting promotion")


def failure_of(plane: LocalControlPlane, execution_arn: str) -> dict[str, Any]:
    described = plane.client("stepfunctions").describe_execution(executionArn=execution_arn)
    return {"error": described.get("error"), "cause": described.get("cause") or ""}


def notices(plane: LocalControlPlane, sha: str) -> list[str]:
    return [
        str(message.get("subject", ""))
        for message in outbox(plane)
        if sha[:12] in str(message.get("subject"))
    ]


def test_a_forged_send_task_success_fails_closed_before_any_prod_action(plane: LocalControlPlane) -> None:
    # Given a promotion waiting for approval, and its task token read from the execution history
    promotion, record, token = waiting_promotion(plane, "forged-success")
    prod_before = promotion.after()["prod"]

    # When a token holder completes the task with a decision of their own (naming the real approval, even)
    plane.client("stepfunctions").send_task_success(
        taskToken=token,
        output=json.dumps(
            {
                "approval_id": record.approval_id,
                "approved_by": "nobody@evil.example",
                "channel": "email",
                "decided_at": "2026-01-01T00:00:00Z",
                "approvers": ["nobody@evil.example"],
                "decision_mac": "AAAA",
            }
        ),
    )

    # Then the promotion fails with ApprovalNotVerified at "Verify approval", before any prod state
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "FAILED"
    states = promotion.states()
    assert "Verify approval" in states
    assert not {"Check and lock prod", "Deploy to prod", "Run canary checks", "Shift traffic"} & set(states)
    failure = failure_of(plane, promotion.execution_arn)
    assert failure["error"] == "ApprovalNotVerified"
    assert "pending, not approved" in failure["cause"]
    # prod serves what it served before
    assert promotion.after()["prod"] == prod_before
    # the record no longer waits, and the audit trail says what happened
    (closed,) = records_of(plane, promotion.execution_arn)
    assert closed.status == "expired"
    assert "forged_completion" in audit_actions(plane, record.approval_id)
    # and the notice is critical
    assert any(subject.startswith("CRITICAL: forged approval") for subject in notices(plane, promotion.sha))


def test_a_completion_without_any_proof_fails_closed_too(plane: LocalControlPlane) -> None:
    # Given a waiting promotion; when a token holder sends the shape that used to be enough
    promotion, record, token = waiting_promotion(plane, "forged-bare")
    plane.client("stepfunctions").send_task_success(
        taskToken=token, output=json.dumps({"approved_by": "nobody@evil.example", "channel": "email"})
    )

    # Then it fails closed, saying the proof is missing, and the record is closed and audited
    assert wait_for_end(plane, promotion.execution_arn)["status"] == "FAILED"
    failure = failure_of(plane, promotion.execution_arn)
    assert failure["error"] == "ApprovalNotVerified"
    assert "without the control plane's decision proof" in failure["cause"]
    assert "Deploy to prod" not in promotion.states()
    assert [r.status for r in records_of(plane, promotion.execution_arn)] == ["expired"]
    assert "forged_completion" in audit_actions(plane, record.approval_id)


def test_a_forged_send_task_failure_only_stops_the_promotion_and_is_audited(plane: LocalControlPlane) -> None:
    # Given a waiting promotion; when a token holder fails the task as if someone had rejected it
    promotion, record, token = waiting_promotion(plane, "forged-failure")
    prod_before = promotion.after()["prod"]
    plane.client("stepfunctions").send_task_failure(
        taskToken=token, error="Rejected", cause="rejected by release-manager@example.com"
    )

    # Then the promotion stops, named for what happened, and nothing reached prod
    assert wait_for_end(plane, promotion.execution_arn)["status"] == "FAILED"
    assert failure_of(plane, promotion.execution_arn)["error"] == "ApprovalNotVerified"
    states = promotion.states()
    assert "Close approval request" in states
    assert "Deploy to prod" not in states
    assert promotion.after()["prod"] == prod_before
    # the record does not wait for ever, and the audit trail has the forged completion
    assert [r.status for r in records_of(plane, promotion.execution_arn)] == ["expired"]
    assert "forged_completion" in audit_actions(plane, record.approval_id)
