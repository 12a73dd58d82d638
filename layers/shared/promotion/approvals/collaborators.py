"""What asking for and deciding an approval needs: the services, the notifier, the request, and the
errors and constants every approval module shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from promotion.adapters.messaging import Mailer
from promotion.approvals import slack
from promotion.approvals.audit import AuditAction, AuditLog, Requester, audit_event
from promotion.approvals.decision_proof import DecisionKey
from promotion.dal.approvals import ApprovalStore
from promotion.errors import (
    PromotionError,
)
from promotion.models.approval import (
    ApprovalRecord,
)
from promotion.models.approver_input import InputValue
from promotion.models.execution import CommitIdentity, CommitInfo, PinnedArtifact

# Step Functions' answers for a token whose task is no longer waiting.
TASK_GONE = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
REJECTED_ERROR = "Rejected"
SUPERSEDED_ERROR = "Superseded"


class DecisionNotDelivered(Exception):
    """Step Functions did not take the decision for a transient reason; the record was reopened."""


class ApprovalQueued(PromotionError):
    """An older request of the same pipeline still waits, and the pipeline queues: decide that one first."""


def iso(epoch: int | float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ms(now: float) -> int:
    return int(now * 1000)


# How a decision's channel reads in a message (the others as stored: "email", "operator").
_CHANNEL_NAMES = {"slack": "Slack"}


def closed_outcome(record: ApprovalRecord, *, superseded_by: str | None = None) -> str:
    """What a closed request's Slack message says in place of its buttons, from the stored record (the one
    text, whichever path closed it). ``superseded_by``: the newer build's short sha, where it is known."""
    when = iso(record.decided_at if record.decided_at is not None else record.expires_at)
    if record.status == "expired":
        return f"Expired at {when}: nobody decided in time"
    if record.status == "superseded":
        return f"Superseded by {superseded_by or 'a newer request'} at {when}"
    verb = "Approved" if record.status == "approved" else "Rejected"
    channel = _CHANNEL_NAMES.get(record.channel or "", record.channel)
    return f"{verb} by {record.decided_by} via {channel} at {when}"


# ---- collaborators ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApprovalServices:
    """What deciding (and closing) an approval needs; ``slack`` is None where no bot token is configured.

    ``decision_key`` MACs every approval handed to Step Functions ("Verify approval" checks it); without
    one, approvals fail closed (nothing is sent) while rejections, which can only stop a promotion, work.
    """

    store: ApprovalStore
    sfn: Any
    audit: AuditLog
    slack: slack.SlackPoster | None = None
    log: Any = None
    decision_key: DecisionKey | None = None

    def record_audit(
        self,
        record: ApprovalRecord,
        action: AuditAction,
        *,
        actor: str,
        channel: str,
        now: float,
        requester: Requester | None = None,
        comment: str = "",
        detail: str = "",
        inputs: Mapping[str, InputValue] | None = None,
    ) -> None:
        self.record_audit_under(
            record.approval_id,
            action,
            pipeline=record.pipeline,
            execution_arn=record.execution_arn,
            actor=actor,
            channel=channel,
            now=now,
            requester=requester,
            comment=comment,
            detail=detail,
            inputs=inputs,
        )

    def record_audit_under(
        self,
        key: str,
        action: AuditAction,
        *,
        pipeline: str,
        execution_arn: str,
        actor: str,
        channel: str,
        now: float,
        requester: Requester | None = None,
        comment: str = "",
        detail: str = "",
        inputs: Mapping[str, InputValue] | None = None,
    ) -> None:
        """An audit event kept under ``key``: an approval id, or another key when no record exists."""
        self.audit.record(
            audit_event(
                approval_id=key,
                action=action,
                actor=actor,
                channel=channel,
                at_ms=ms(now),
                requester=requester,
                pipeline=pipeline,
                execution_arn=execution_arn,
                comment=comment,
                detail=detail,
                inputs=inputs,
            )
        )

    def refresh_slack(self, record: ApprovalRecord, *, outcome: str) -> None:
        """Replace the Slack message's buttons with the outcome (best effort: the decision already stands)."""
        if self.slack is None or record.slack_message is None:
            return
        try:
            self.slack.update(
                record.slack_message,
                text=f"{slack.approval_text(record)}: {outcome}",
                blocks=slack.closed_blocks(record, outcome=outcome, expires=iso(record.expires_at)),
            )
        except Exception as error:  # Slack being down must not undo or hide a decision already made.
            if self.log is not None:
                self.log.warning("slack message update failed", extra={"error": repr(error)})


@dataclass(frozen=True)
class Notifier:
    """How approvers hear of a request: email with signed links, and Slack when configured."""

    mailer: Mailer
    signing_key: bytes
    api_url: str
    slack: slack.SlackPoster | None = None
    # The control plane's own console, when it has one: the messages link there (promotion.console).
    console_base: str | None = None


@dataclass(frozen=True)
class ApprovalRequest:
    task_token: str
    execution_arn: str
    execution_name: str
    artifact: PinnedArtifact
    preprod_report: str
    requested_by: str = ""
    # The execution input's commit facts (claims unless the webhook attested them).
    commit: CommitInfo | None = None
    approval_reason: str | None = None
    # The commit's author and committer per GitHub's API ("Decide approval path"); the facts that count.
    identity: CommitIdentity | None = None
