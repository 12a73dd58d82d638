"""Asking for an approval and deciding it.

The approval task stores a record holding the task token and sends each approver a signed link. Only a
POST from the link's confirmation page decides: the decision is a conditional write on the record, then
SendTaskSuccess (approved) or SendTaskFailure ``Rejected``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError

from promotion import links
from promotion.adapters.messaging import Mailer
from promotion.dal.approvals import ApprovalStore
from promotion.errors import ApprovalExpired, ApproverNotAllowed
from promotion.models.approval import ApprovalRecord, Decision
from promotion.models.config import PipelineConfig
from promotion.models.execution import ApprovalOutcome, PinnedArtifact

# Step Functions' answers for a token whose task is no longer waiting.
_TASK_GONE = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
REJECTED_ERROR = "Rejected"


class DecisionNotDelivered(Exception):
    """Step Functions did not take the decision for a transient reason; the record was reopened."""


@dataclass(frozen=True)
class ApprovalRequest:
    task_token: str
    execution_arn: str
    execution_name: str
    artifact: PinnedArtifact
    preprod_report: str


def iso(epoch: int | float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_approval(
    store: ApprovalStore,
    mailer: Mailer,
    key: bytes,
    *,
    api_url: str,
    config: PipelineConfig,
    request: ApprovalRequest,
    now: float,
) -> ApprovalRecord:
    record = ApprovalRecord(
        approval_id=secrets.token_urlsafe(18),
        task_token=request.task_token,
        execution_arn=request.execution_arn,
        execution_name=request.execution_name,
        pipeline=config.name,
        repo=config.repo,
        sha=request.artifact.sha,
        artifact_sha256=request.artifact.sha256,
        preprod_report=request.preprod_report,
        approvers=list(config.approval.approvers),
        requested_at=int(now),
        # The same config value is the task's TimeoutSecondsPath, so link and task expire together.
        expires_at=int(now) + config.approval.timeout_seconds,
    )
    store.put_new(record)
    for approver in record.approvers:
        link = links.link_url(api_url, links.sign(key, record.approval_id, approver, record.expires_at))
        mailer.send(to=[approver], subject=approval_subject(record), text=approval_email_text(record, link))
    return record


def approval_subject(record: ApprovalRecord) -> str:
    return f"Approve {record.repo}@{record.sha[:12]} to prod? ({record.pipeline})"


def approval_email_text(record: ApprovalRecord, link: str) -> str:
    return "\n".join(
        [
            f"{record.repo} commit {record.sha} passed preprod and waits for approval to go to prod.",
            "",
            f"Pipeline:   {record.pipeline}",
            f"Execution:  {record.execution_name}",
            f"Build:      sha256 {record.artifact_sha256}",
            f"Preprod:    {record.preprod_report}",
            f"Expires:    {iso(record.expires_at)}",
            "",
            "Review and decide (opening the link decides nothing):",
            link,
            "",
            "This link is for you alone; do not forward it.",
        ]
    )


@dataclass(frozen=True)
class DecisionRequest:
    approval_id: str
    approver: str
    expires: str
    signature: str
    decision: Decision
    reason: str
    channel: Literal["email", "slack", "operator"]


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


def decide(
    store: ApprovalStore, sfn: Any, key: bytes, request: DecisionRequest, *, now: float
) -> ApprovalRecord:
    record = check_link(
        store,
        key,
        approval_id=request.approval_id,
        approver=request.approver,
        expires=request.expires,
        signature=request.signature,
        now=now,
    )
    if record.status == "pending" and now >= record.expires_at:
        store.mark_expired(record.approval_id, at=int(now))
        raise ApprovalExpired("this approval request has expired")
    status = "approved" if request.decision == "approve" else "rejected"
    decided = store.decide(
        record.approval_id,
        status=status,
        by=request.approver,
        at=int(now),
        channel=request.channel,
        reason=request.reason or None,
    )
    try:
        if request.decision == "approve":
            outcome = ApprovalOutcome(
                approval_id=record.approval_id,
                approved_by=request.approver,
                channel=request.channel,
                decided_at=iso(now),
            )
            sfn.send_task_success(taskToken=record.task_token, output=json.dumps(outcome.to_payload()))
        else:
            sfn.send_task_failure(
                taskToken=record.task_token,
                error=REJECTED_ERROR,
                cause=f"rejected by {request.approver} via {request.channel}: {request.reason or 'no reason given'}"[
                    :32_768
                ],
            )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        store.reopen(record.approval_id, by=request.approver)
        if code in _TASK_GONE:
            store.mark_expired(record.approval_id, at=int(now))
            raise ApprovalExpired("the promotion is no longer waiting for this approval") from error
        raise DecisionNotDelivered(f"Step Functions did not take the decision ({code}); try again") from error
    return decided
