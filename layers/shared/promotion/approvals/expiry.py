"""Closing requests nobody decided: expired records, audited, their Slack message told."""

from __future__ import annotations

from promotion.approvals.collaborators import ApprovalServices, closed_outcome, iso
from promotion.models.approval import (
    ApprovalRecord,
)


def expire(services: ApprovalServices, record: ApprovalRecord, *, now: float) -> ApprovalRecord | None:
    closed = services.store.mark_expired(record.approval_id, at=int(now))
    if closed is not None:
        services.record_audit(
            closed,
            "expired",
            actor="timeout",
            channel="state-machine",
            now=now,
            detail=f"expired at {iso(closed.expires_at)}",
        )
        services.refresh_slack(closed, outcome=closed_outcome(closed))
    return closed


def expire_execution(services: ApprovalServices, execution_arn: str, *, now: float) -> list[ApprovalRecord]:
    """The approval of ``execution_arn`` timed out: its pending records turn expired, audited, Slack told."""
    closed = services.store.expire_for_execution(execution_arn, at=int(now))
    for record in closed:
        services.record_audit(
            record,
            "expired",
            actor="timeout",
            channel="state-machine",
            now=now,
            detail="the approval task timed out",
        )
        services.refresh_slack(record, outcome=closed_outcome(record))
    return closed


class AuditedExpirer:
    """``expire_for_execution`` for the timeout and cleanup paths: the records turn expired (as the store's
    method does), each expiry is audited, and the Slack message loses its buttons and says so."""

    def __init__(self, services: ApprovalServices) -> None:
        self._services = services

    def expire_for_execution(self, execution_arn: str, *, at: int) -> list[ApprovalRecord]:
        return expire_execution(self._services, execution_arn, now=float(at))
