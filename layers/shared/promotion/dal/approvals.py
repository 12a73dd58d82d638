"""Approval records in DynamoDB. Every state change is a conditional write, so decisions are single use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from promotion.errors import ApprovalAlreadyDecided, ApprovalNotFound
from promotion.models.approval import ApprovalRecord, ApprovalStatus


class ApprovalStore(Protocol):
    def put_new(self, record: ApprovalRecord) -> None: ...

    def get(self, approval_id: str) -> ApprovalRecord: ...

    def decide(
        self, approval_id: str, *, status: ApprovalStatus, by: str, at: int, channel: str, reason: str | None
    ) -> ApprovalRecord: ...

    def reopen(self, approval_id: str, *, by: str) -> None: ...

    def mark_expired(self, approval_id: str, *, at: int) -> None: ...


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoApprovalStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def put_new(self, record: ApprovalRecord) -> None:
        self._table.put_item(Item=record.to_item(), ConditionExpression="attribute_not_exists(approval_id)")

    def get(self, approval_id: str) -> ApprovalRecord:
        item = self._table.get_item(Key={"approval_id": approval_id}, ConsistentRead=True).get("Item")
        if item is None:
            raise ApprovalNotFound(f"no approval {approval_id!r}")
        return ApprovalRecord.from_item(item)

    def decide(
        self, approval_id: str, *, status: ApprovalStatus, by: str, at: int, channel: str, reason: str | None
    ) -> ApprovalRecord:
        try:
            response = self._table.update_item(
                Key={"approval_id": approval_id},
                UpdateExpression="SET #s = :status, decided_by = :by, decided_at = :at, channel = :channel, "
                "reason = :reason",
                ConditionExpression="attribute_exists(approval_id) AND #s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":status": status,
                    ":by": by,
                    ":at": at,
                    ":channel": channel,
                    ":reason": reason or "",
                    ":pending": "pending",
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _conditional_failed(error):
                raise ApprovalAlreadyDecided(_already_decided_message(self.get(approval_id))) from error
            raise
        return ApprovalRecord.from_item(response["Attributes"])

    def reopen(self, approval_id: str, *, by: str) -> None:
        """Undo a decision whose hand-off to Step Functions failed transiently, so it can be tried again."""
        try:
            self._table.update_item(
                Key={"approval_id": approval_id},
                UpdateExpression="SET #s = :pending REMOVE decided_by, decided_at, channel, reason",
                ConditionExpression="decided_by = :by",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":pending": "pending", ":by": by},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    def mark_expired(self, approval_id: str, *, at: int) -> None:
        try:
            self._table.update_item(
                Key={"approval_id": approval_id},
                UpdateExpression="SET #s = :expired, decided_at = :at",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":expired": "expired", ":pending": "pending", ":at": at},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise


def _already_decided_message(record: ApprovalRecord) -> str:
    if record.status == "expired":
        return "this approval request has expired"
    when = datetime.fromtimestamp(record.decided_at or 0, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"already {record.status} by {record.decided_by} at {when}"
