"""The approval record: one per approval request, kept in the approvals table."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ApprovalStatus = Literal["pending", "approved", "rejected", "expired"]
Decision = Literal["approve", "reject"]


class ApprovalRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    approval_id: str
    # A bearer credential for the waiting task: stored here, never sent anywhere.
    task_token: str
    execution_arn: str
    execution_name: str
    pipeline: str
    repo: str
    sha: str
    environment: Literal["prod"] = "prod"
    artifact_sha256: str
    preprod_report: str
    approvers: list[str]
    requested_at: int
    expires_at: int
    status: ApprovalStatus = "pending"
    decided_by: str | None = None
    decided_at: int | None = None
    channel: str | None = None
    reason: str | None = None

    def to_item(self) -> dict[str, Any]:
        return {key: value for key, value in self.model_dump().items() if value is not None}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ApprovalRecord:
        # DynamoDB hands numbers back as Decimal.
        data = {key: int(value) if key in _INT_FIELDS else value for key, value in item.items()}
        return cls.model_validate(data)

    def public_view(self) -> dict[str, Any]:
        """Everything but the task token."""
        view = self.model_dump()
        view.pop("task_token")
        return view


_INT_FIELDS = {"requested_at", "expires_at", "decided_at"}
