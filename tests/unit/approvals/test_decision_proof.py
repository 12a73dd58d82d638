"""The decision proof: only what the control plane decided and MACed verifies, against the stored record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from promotion.approvals.collaborators import ApprovalServices, DecisionNotDelivered
from promotion.approvals.decision_proof import decision_message
from promotion.approvals.decisions import Actor, decide
from promotion.approvals.request import open_approval
from promotion.approvals.verification import close_failed_wait
from promotion.errors import ApprovalNotVerified
from promotion.models.approval import ApprovalRecord
from promotion.models.steps import ExpireApprovalRequest
from promotion.pipeline.notify import Failure
from tests.support.approval_fakes import (
    ApprovalWorld,
    approval_world,
    decision_key_from_template,
    github_identity,
    pipeline,
    request,
)

NOW = 1_800_000_000.0
SHA = "c" * 40
RELEASE = "release-manager@example.com"
SECOND = "second@example.com"
OTHER_AUTHOR = github_identity("dev", "dev@example.com")


@pytest.fixture
def world() -> Iterator[ApprovalWorld]:
    with approval_world() as world:
        yield world


def actor(approver: str = RELEASE) -> Actor:
    return Actor(approver=approver, channel="email", identity=f"signed link for {approver}")


def approved(world: ApprovalWorld, *, execution: str = "exec-1", **rules: Any) -> tuple[ApprovalRecord, Any]:
    """An approval decided through the rules, and the output the control plane sent Step Functions."""
    record = world.ask(
        config=pipeline(**rules),
        request=request(SHA, execution=execution, identity=OTHER_AUTHOR),
        now=NOW,
    )
    for approver in [RELEASE, SECOND][: rules.get("required_approvals", 1)]:
        decide(world.services, record.approval_id, actor(approver), "approve", comment="", now=NOW + 5)
    operation, params = world.sfn.calls[-1]
    assert operation == "SendTaskSuccess"
    return world.store.get(record.approval_id), json.loads(params["output"])


def verify(world: ApprovalWorld, record: ApprovalRecord, output: Any) -> dict[str, Any]:
    return world.verify(record, output, now=NOW + 10)


def test_the_control_planes_own_decision_verifies_and_yields_the_records_facts(world: ApprovalWorld) -> None:
    record, output = approved(world, approvers=[RELEASE, SECOND], required_approvals=2)

    verified = verify(world, record, output)

    assert verified["verified"] is True
    assert verified["approvers"] == [RELEASE, SECOND]
    assert verified["approval_id"] == record.approval_id
    # The wait the dashboard charts is the record's own: requested to decided.
    stored = world.store.get(record.approval_id)
    assert stored.decided_at is not None
    assert verified["waited_seconds"] == stored.decided_at - stored.requested_at


def test_an_output_naming_someone_else_still_yields_only_who_the_record_says(world: ApprovalWorld) -> None:
    record, output = approved(world)

    verified = verify(world, record, {**output, "approved_by": "nobody@evil.example", "approvers": ["x"]})

    assert verified["approved_by"] == RELEASE


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda output: {k: v for k, v in output.items() if k != "decision_mac"}, "decision proof"),
        (lambda output: {**output, "decision_mac": "AAAA"}, "does not verify"),
        (lambda output: {**output, "decision_mac": "not base64!"}, "does not verify"),
        (lambda output: {**output, "approval_id": "no-such-approval"}, "does not exist"),
        (lambda output: "approved", "decision proof"),
    ],
)
def test_a_claimed_decision_without_a_valid_proof_is_refused(
    world: ApprovalWorld, tamper: Any, reason: str
) -> None:
    record, output = approved(world)

    with pytest.raises(ApprovalNotVerified, match=reason):
        verify(world, record, tamper(output))


def test_a_real_proof_replayed_into_another_execution_is_refused(world: ApprovalWorld) -> None:
    record, output = approved(world, execution="exec-1")
    other = record.model_copy(update={"execution_arn": record.execution_arn.replace("exec-1", "exec-2")})

    with pytest.raises(ApprovalNotVerified, match="belongs to execution exec-1"):
        verify(world, other, output)


def test_a_record_edited_after_the_decision_no_longer_verifies(world: ApprovalWorld) -> None:
    # Given an approval that needed two approvers, edited afterwards by someone with table access
    record, output = approved(world, approvers=[RELEASE, SECOND], required_approvals=2)
    assert record.policy is not None
    edited = record.model_copy(update={"policy": record.policy.model_copy(update={"required_approvals": 1})})

    # Then its MAC no longer matches what the record says
    assert not world.decision_key.verify(decision_message(edited), output["decision_mac"])
    assert world.decision_key.verify(decision_message(record), output["decision_mac"])


def test_a_mac_from_another_key_is_refused(world: ApprovalWorld) -> None:
    record, _ = approved(world)
    foreign = decision_key_from_template().mac(decision_message(record))

    with pytest.raises(ApprovalNotVerified, match="does not verify"):
        verify(world, record, {"approval_id": record.approval_id, "decision_mac": foreign})


def test_a_forged_success_closes_the_waiting_record_and_is_audited(world: ApprovalWorld) -> None:
    record = world.ask(
        config=pipeline(),
        request=request(SHA, identity=OTHER_AUTHOR),
        now=NOW,
    )

    with pytest.raises(ApprovalNotVerified, match="pending, not approved"):
        verify(world, record, {"approval_id": record.approval_id, "decision_mac": "AAAA"})

    assert world.store.get(record.approval_id).status == "expired"
    assert world.actions(record.approval_id) == ["requested", "expired", "forged_completion"]


def test_without_a_decision_key_nothing_is_approved_and_the_vote_is_undone(world: ApprovalWorld) -> None:
    services = ApprovalServices(store=world.store, sfn=world.sfn, audit=world.audit)
    record = open_approval(
        services, world.notifier, config=pipeline(), request=request(SHA, identity=OTHER_AUTHOR), now=NOW
    )

    with pytest.raises(DecisionNotDelivered):
        decide(services, record.approval_id, actor(), "approve", comment="", now=NOW + 5)

    assert world.sfn.calls == []
    reopened = world.store.get(record.approval_id)
    assert reopened.status == "pending"
    assert reopened.votes == {}


def close(world: ApprovalWorld, record: ApprovalRecord, error: str) -> Failure:
    return close_failed_wait(
        world.services,
        ExpireApprovalRequest(
            pipeline=record.pipeline,
            execution_arn=record.execution_arn,
            execution_name=record.execution_name,
            failure=Failure(Error=error, Cause="given cause"),
        ),
        now=NOW + 10,
    )


def test_a_real_rejection_is_carried_on_unchanged(world: ApprovalWorld) -> None:
    record = world.ask(config=pipeline(), request=request(SHA), now=NOW)
    decide(world.services, record.approval_id, actor(), "reject", comment="not now", now=NOW + 5)

    failure = close(world, record, "Rejected")

    assert failure.Error == "Rejected"
    assert "forged_completion" not in world.actions(record.approval_id)


def test_a_rejection_nobody_made_is_renamed_audited_and_its_record_closed(world: ApprovalWorld) -> None:
    record = world.ask(config=pipeline(), request=request(SHA), now=NOW)

    failure = close(world, record, "Rejected")

    assert failure.Error == "ApprovalNotVerified"
    assert world.store.get(record.approval_id).status == "expired"
    assert world.actions(record.approval_id)[-1] == "forged_completion"


def test_another_failure_of_the_wait_closes_the_record_without_calling_it_forged(
    world: ApprovalWorld,
) -> None:
    record = world.ask(config=pipeline(), request=request(SHA), now=NOW)

    failure = close(world, record, "Lambda.Unknown")

    assert failure.Error == "Lambda.Unknown"
    assert world.store.get(record.approval_id).status == "expired"
    assert "forged_completion" not in world.actions(record.approval_id)
