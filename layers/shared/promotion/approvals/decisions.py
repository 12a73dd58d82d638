"""Deciding: the one decision path of every channel (email link, Slack, operator), single use by
conditional writes, the decision MACed and handed to Step Functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from promotion.approvals import links, slack
from promotion.approvals.audit import AuditAction, Requester
from promotion.approvals.collaborators import (
    REJECTED_ERROR,
    TASK_GONE,
    ApprovalQueued,
    ApprovalServices,
    DecisionNotDelivered,
    closed_outcome,
    iso,
)
from promotion.approvals.decision_proof import decision_message
from promotion.approvals.expiry import expire
from promotion.approvals.rules import check_rules, operator_approver
from promotion.dal.approvals import ApprovalStore, decided_message
from promotion.errors import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApproverNotAllowed,
    PromotionError,
)
from promotion.models.approval import (
    ApprovalRecord,
    Channel,
    Decision,
    Vote,
)
from promotion.models.approver_input import InputValue, input_text, validate_inputs
from promotion.models.execution import ApprovalOutcome

# What a channel hands over as the approver's input: claims, validated by ``decide`` against the record.
RawInputs = Mapping[str, object]


# ---- deciding -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Actor:
    """Who decides: the approver they act as, through which channel, proven by what, from where."""

    approver: str
    channel: Channel
    identity: str
    requester: Requester = field(default_factory=Requester)


@dataclass(frozen=True)
class DecisionResult:
    record: ApprovalRecord
    final: bool  # False: this approval counted, more are needed

    def summary(self) -> str:
        if not self.final:
            have, need = len(self.record.votes), self.record.rules.required_approvals
            return f"approval recorded ({have} of {need}); waiting for {need - have} more"
        return decided_message(self.record).removeprefix("already ")


def decide(
    services: ApprovalServices,
    approval_id: str,
    actor: Actor,
    decision: Decision,
    *,
    comment: str,
    now: float,
    inputs: RawInputs | None = None,
) -> DecisionResult:
    """The one decision path of every channel; audits the outcome, refusals included.

    ``inputs`` (the approver's answers to ``approval.inputs``) are validated here against the record's
    rules snapshot, whatever the channel checked before; a rejection needs none and records none.
    """
    record = services.store.get(approval_id)
    try:
        return _decide(services, record, actor, decision, comment=comment, now=now, inputs=inputs or {})
    except (PromotionError, DecisionNotDelivered) as error:
        _audit_as(
            actor,
            services,
            record,
            "refused",
            now=now,
            comment=comment,
            detail=f"{decision} refused ({type(error).__name__}): {error}; identity {actor.identity}",
        )
        raise


def _audit_as(
    actor: Actor,
    services: ApprovalServices,
    record: ApprovalRecord,
    action: AuditAction,
    *,
    now: float,
    comment: str,
    detail: str,
    inputs: Mapping[str, InputValue] | None = None,
) -> None:
    """An audit event of ``actor``'s decision on ``record``: who, through which channel, from where."""
    services.record_audit(
        record,
        action,
        actor=actor.approver,
        channel=actor.channel,
        now=now,
        requester=actor.requester,
        comment=comment,
        detail=detail,
        inputs=inputs,
    )


# ---- the three channels -------------------------------------------------------------------------------
def check_link(
    store: ApprovalStore,
    key: bytes,
    *,
    approval_id: str,
    approver: str,
    expires: str,
    signature: str,
    now: float,
) -> ApprovalRecord:
    """The record a valid, unexpired link points at (for the confirmation page); raises otherwise."""
    links.verify(key, approval_id, approver, expires, signature, now=now)
    record = store.get(approval_id)
    if approver not in record.approvers:
        raise ApproverNotAllowed(f"{approver} is not an approver of this request")
    return record


@dataclass(frozen=True)
class LinkDecision:
    approval_id: str
    approver: str
    expires: str
    signature: str
    csrf_nonce: str
    csrf_token: str
    decision: Decision
    comment: str
    requester: Requester = field(default_factory=Requester)
    inputs: RawInputs = field(default_factory=dict)


def decide_by_link(
    services: ApprovalServices, key: bytes, request: LinkDecision, *, now: float
) -> DecisionResult:
    check_link(
        services.store,
        key,
        approval_id=request.approval_id,
        approver=request.approver,
        expires=request.expires,
        signature=request.signature,
        now=now,
    )
    links.verify_csrf(
        key, request.approval_id, request.approver, request.csrf_nonce, request.csrf_token, now=now
    )
    actor = Actor(
        approver=request.approver,
        channel="email",
        identity=f"signed link for {request.approver}",
        requester=request.requester,
    )
    return decide(
        services,
        request.approval_id,
        actor,
        request.decision,
        comment=request.comment,
        now=now,
        inputs=request.inputs,
    )


def decide_by_slack(
    services: ApprovalServices, click: slack.SlackClick, *, requester: Requester, now: float
) -> DecisionResult:
    record = services.store.get(click.approval_id)
    approver = record.rules.slack_users.get(click.user_id)
    identity = f"slack user {click.user_id} ({click.user_name}) team {click.team_id}"
    decision: Decision = "approve" if click.decision in slack.APPROVE_ACTIONS else "reject"
    if record.rules.slack_team is None or click.team_id != record.rules.slack_team:
        # Checked before the user: a user id means something only within its own workspace.
        team_error = slack.SlackWorkspaceRefused(
            f"403: this click came from Slack workspace {click.team_id or 'unknown'}; "
            f"pipeline {record.pipeline} takes approvals from workspace {record.rules.slack_team or 'none'}"
        )
        services.record_audit(
            record,
            "refused",
            actor=f"slack:{click.team_id}:{click.user_id}",
            channel="slack",
            now=now,
            requester=requester,
            detail=f"{decision} refused: {team_error}; identity {identity}",
        )
        raise team_error
    if approver is None:
        error = ApproverNotAllowed(
            f"Slack user {click.user_id} is not mapped to an approver of this pipeline"
        )
        services.record_audit(
            record,
            "refused",
            actor=f"slack:{click.user_id}",
            channel="slack",
            now=now,
            requester=requester,
            detail=f"{decision} refused: {error}; identity {identity}",
        )
        raise error
    actor = Actor(approver=approver, channel="slack", identity=identity, requester=requester)
    comment = f"via Slack by {click.user_name or click.user_id}"
    return decide(services, click.approval_id, actor, decision, comment=comment, now=now, inputs=click.inputs)


def decide_by_operator(
    services: ApprovalServices,
    approval_id: str,
    *,
    principal_arn: str,
    decision: Decision,
    reason: str,
    now: float,
    requester: Requester | None = None,
    inputs: RawInputs | None = None,
) -> DecisionResult:
    record = services.store.get(approval_id)
    approver = operator_approver(record.rules, principal_arn)
    if approver is None:
        error = ApproverNotAllowed(
            f"{principal_arn} is not mapped to an approver of pipeline {record.pipeline}"
        )
        services.record_audit(
            record,
            "refused",
            actor=principal_arn,
            channel="operator",
            now=now,
            requester=requester,
            comment=reason,
            detail=f"{decision} refused: {error}",
        )
        raise error
    actor = Actor(
        approver=approver, channel="operator", identity=principal_arn, requester=requester or Requester()
    )
    return decide(services, approval_id, actor, decision, comment=reason, now=now, inputs=inputs)


def _decide(
    services: ApprovalServices,
    record: ApprovalRecord,
    actor: Actor,
    decision: Decision,
    *,
    comment: str,
    now: float,
    inputs: RawInputs,
) -> DecisionResult:
    store = services.store
    if record.status != "pending":
        if record.status in ("expired", "superseded"):
            raise ApprovalExpired(decided_message(record))
        raise ApprovalAlreadyDecided(decided_message(record))
    if now >= record.expires_at:
        expire(services, record, now=now)
        raise ApprovalExpired("this approval request has expired")
    author_note = check_rules(record, actor.approver, decision)
    # Only an approval carries input: a rejection stops the promotion and needs no ticket or risk.
    values = validate_inputs(record.rules.inputs, inputs) if decision == "approve" else {}
    if decision == "approve" and record.rules.on_newer_request == "queue":
        ahead = [
            other
            for other in store.open_for_pipeline(record.pipeline)
            if (other.requested_at, other.approval_id) < (record.requested_at, record.approval_id)
        ]
        if ahead:
            raise ApprovalQueued(
                f"an older promotion of {record.pipeline} ({ahead[0].execution_name}) still waits; "
                "decide it first"
            )
    detail = f"{author_note}; identity {actor.identity}"
    if decision == "reject":
        decided = store.decide(
            record.approval_id,
            status="rejected",
            by=actor.approver,
            at=int(now),
            channel=actor.channel,
            reason=comment or None,
        )
        cause = (
            f"rejected by {actor.approver} via {actor.channel} at {iso(now)}: {comment or 'no reason given'}"
        )
        _deliver(
            services,
            decided,
            actor,
            now,
            lambda: services.sfn.send_task_failure(
                taskToken=decided.task_token, error=REJECTED_ERROR, cause=cause[:32_768]
            ),
        )
        _audit_as(actor, services, decided, "rejected", now=now, comment=comment, detail=detail)
        return DecisionResult(decided, final=True)

    vote = Vote(at=int(now), channel=actor.channel, comment=comment, inputs=values)
    voted = store.add_vote(record.approval_id, by=actor.approver, vote=vote)
    if values:
        detail += f"; input {input_text(values)}"
    _audit_as(actor, services, voted, "approved", now=now, comment=comment, detail=detail, inputs=values)
    if len(voted.votes) < voted.rules.required_approvals:
        return DecisionResult(voted, final=False)
    approvers = voted.approved_by()
    decided = store.decide(
        record.approval_id,
        status="approved",
        by=", ".join(approvers),
        at=int(now),
        channel=actor.channel,
        reason=comment or None,
    )
    outcome = ApprovalOutcome(
        approval_id=decided.approval_id,
        approved_by=", ".join(approvers),
        channel=actor.channel,
        decided_at=iso(now),
        approvers=approvers,
        decision_mac=_decision_mac(services, decided, actor),
    )
    _deliver(
        services,
        decided,
        actor,
        now,
        lambda: services.sfn.send_task_success(
            taskToken=decided.task_token, output=json.dumps(outcome.to_payload())
        ),
    )
    _audit_as(
        actor,
        services,
        decided,
        "decided",
        now=now,
        comment=comment,
        detail=f"approved by {', '.join(approvers)}; Step Functions told",
        inputs=decided.deciding_inputs(),
    )
    return DecisionResult(decided, final=True)


def _decision_mac(services: ApprovalServices, decided: ApprovalRecord, actor: Actor) -> str:
    """The proof "Verify approval" requires; if it cannot be made, the decision is undone (fail closed)."""
    try:
        if services.decision_key is None:
            raise RuntimeError("no decision key is configured")
        return services.decision_key.mac(decision_message(decided))
    except Exception as error:
        services.store.reopen(decided.approval_id, voter=actor.approver)
        if services.log is not None:
            services.log.error("decision MAC failed", extra={"error": repr(error)})
        raise DecisionNotDelivered(
            "the decision could not be signed by the control plane's key; try again"
        ) from error


def _deliver(services: ApprovalServices, record: ApprovalRecord, actor: Actor, now: float, send: Any) -> None:
    try:
        send()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        services.store.reopen(record.approval_id, voter=actor.approver)
        if code in TASK_GONE:
            expire(services, services.store.get(record.approval_id), now=now)
            raise ApprovalExpired("the promotion is no longer waiting for this approval") from error
        raise DecisionNotDelivered(f"Step Functions did not take the decision ({code}); try again") from error
    if actor.channel != "slack":
        # Slack clicks update their message through response_url; other channels refresh it here.
        services.refresh_slack(record, outcome=closed_outcome(record))
