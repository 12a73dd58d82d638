"""The approval audit trail: every request and decision (who, when, channel, source IP, user agent, comment).

Records go to their own table, which the stack retains and the pipeline never deletes from, and to the log.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from promotion.models.approver_input import InputValue

_SEQUENCE = itertools.count()

AuditAction = Literal[
    "requested",  # the approval task asked for a decision and notified approvers
    "viewed",  # a valid link's confirmation page was rendered
    "approved",  # one approver's approval (more may be needed)
    "decided",  # the request reached its final approval and Step Functions was told
    "rejected",
    "refused",  # a decision attempt that the rules refused (with the reason)
    "expired",
    "superseded",
    # The approval task was completed (success or failure) by something other than the control plane's
    # own decision: a task-token holder called SendTaskSuccess/SendTaskFailure directly.
    "forged_completion",
    # An operator moved an environment's aliases straight back to its previous known-good versions
    # (``approval_id`` is then ``rollback#{pipeline}#{environment}``), or tried and failed.
    "emergency_rollback",
    "emergency_rollback_failed",
]


class Requester(BaseModel):
    """Where an HTTP request came from; empty for decisions with no HTTP request (the CLI)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    source_ip: str = ""
    user_agent: str = ""


class AuditEvent(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    approval_id: str
    event_id: str
    at: int
    action: AuditAction
    actor: str
    channel: str
    pipeline: str = ""
    execution_arn: str = ""
    source_ip: str = ""
    user_agent: str = Field(default="", max_length=512)
    comment: str = Field(default="", max_length=1000)
    detail: str = Field(default="", max_length=2000)
    # The approver input an approval carried (``approval.inputs``), validated before it was recorded.
    inputs: dict[str, InputValue] = Field(default_factory=dict)

    def to_item(self) -> dict[str, Any]:
        return self.model_dump()


def audit_event(
    *,
    approval_id: str,
    action: AuditAction,
    actor: str,
    channel: str,
    at_ms: int,
    requester: Requester | None = None,
    pipeline: str = "",
    execution_arn: str = "",
    comment: str = "",
    detail: str = "",
    inputs: Mapping[str, InputValue] | None = None,
) -> AuditEvent:
    # Sort key: time first, then this process's sequence (events of one decision keep their order within
    # a millisecond), then a random suffix so events from two processes never collide.
    requester = requester or Requester()
    return AuditEvent(
        approval_id=approval_id,
        event_id=f"{at_ms:013d}#{next(_SEQUENCE):09d}#{secrets.token_hex(4)}",
        at=at_ms // 1000,
        action=action,
        actor=actor,
        channel=channel,
        pipeline=pipeline,
        execution_arn=execution_arn,
        source_ip=requester.source_ip[:64],
        user_agent=requester.user_agent[:512],
        comment=comment[:1000],
        detail=detail[:2000],
        inputs=dict(inputs or {}),
    )


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None: ...

    def history(self, approval_id: str) -> list[AuditEvent]: ...
