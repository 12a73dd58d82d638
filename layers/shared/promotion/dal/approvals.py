"""Approval records in DynamoDB. Every state change is a conditional write, so decisions are single use.

Indexes (template.yaml): ``by-execution`` (execution_arn) finds an execution's records when its approval
times out; ``by-pipeline`` (pipeline, requested_at) finds the requests still waiting when a newer one
arrives, and the last approved commit for the compare link.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from promotion.dal import conditional_check_failed
from promotion.errors import ApprovalAlreadyDecided, ApprovalExpired, ApprovalNotFound, ApprovalStoreBusy
from promotion.models.approval import ApprovalRecord, ApprovalStatus, SlackMessageRef, Vote

BY_EXECUTION_INDEX = "by-execution"
BY_PIPELINE_INDEX = "by-pipeline"
# BatchGetItem reads at most 100 keys per call; what throttling leaves unread is asked for again.
MAX_BATCH_GET = 100
MAX_BATCH_ATTEMPTS = 6


class ApprovalStore(Protocol):
    def put_new(self, record: ApprovalRecord) -> None: ...

    def get(self, approval_id: str) -> ApprovalRecord: ...

    def add_vote(self, approval_id: str, *, by: str, vote: Vote) -> ApprovalRecord: ...

    def decide(
        self, approval_id: str, *, status: ApprovalStatus, by: str, at: int, channel: str, reason: str | None
    ) -> ApprovalRecord: ...

    def reopen(self, approval_id: str, *, voter: str) -> None: ...

    def mark_expired(self, approval_id: str, *, at: int) -> ApprovalRecord | None: ...

    def expire_for_execution(self, execution_arn: str, *, at: int) -> list[ApprovalRecord]: ...

    def for_execution(self, execution_arn: str) -> list[ApprovalRecord]: ...

    def supersede(self, approval_id: str, *, by_approval: str, at: int) -> ApprovalRecord | None: ...

    def open_for_pipeline(self, pipeline: str) -> list[ApprovalRecord]: ...

    def last_approved(self, pipeline: str) -> ApprovalRecord | None: ...

    def list_open(self) -> list[ApprovalRecord]: ...

    def set_slack_message(self, approval_id: str, message: SlackMessageRef) -> ApprovalRecord: ...


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

    def add_vote(self, approval_id: str, *, by: str, vote: Vote) -> ApprovalRecord:
        """One approver's approval; refused if the request is decided or this approver already approved."""
        try:
            response = self._table.update_item(
                Key={"approval_id": approval_id},
                UpdateExpression="SET votes.#by = :vote",
                ConditionExpression="attribute_exists(approval_id) AND #s = :pending "
                "AND attribute_not_exists(votes.#by)",
                ExpressionAttributeNames={"#s": "status", "#by": by},
                ExpressionAttributeValues={":vote": vote.model_dump(mode="json"), ":pending": "pending"},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if conditional_check_failed(error):
                raise _refusal(self.get(approval_id), by) from error
            raise
        return ApprovalRecord.from_item(response["Attributes"])

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
            if conditional_check_failed(error):
                raise _refusal(self.get(approval_id), by) from error
            raise
        return ApprovalRecord.from_item(response["Attributes"])

    def reopen(self, approval_id: str, *, voter: str) -> None:
        """Undo a decision, and ``voter``'s vote, whose hand-off to Step Functions failed transiently."""
        try:
            self._table.update_item(
                Key={"approval_id": approval_id},
                UpdateExpression="SET #s = :pending "
                "REMOVE decided_by, decided_at, channel, reason, votes.#by",
                ConditionExpression="#s IN (:pending, :approved, :rejected)",
                ExpressionAttributeNames={"#s": "status", "#by": voter},
                ExpressionAttributeValues={
                    ":pending": "pending",
                    ":approved": "approved",
                    ":rejected": "rejected",
                },
            )
        except ClientError as error:
            if not conditional_check_failed(error):
                raise

    def mark_expired(self, approval_id: str, *, at: int) -> ApprovalRecord | None:
        """The record, now expired; None if it was no longer pending."""
        return self._close(approval_id, status="expired", at=at, extra={})

    def expire_for_execution(self, execution_arn: str, *, at: int) -> list[ApprovalRecord]:
        """Mark every pending record of the execution expired (its approval task timed out)."""
        expired = []
        for record in self._query(BY_EXECUTION_INDEX, Key("execution_arn").eq(execution_arn)):
            if record.status == "pending":
                closed = self.mark_expired(record.approval_id, at=at)
                if closed is not None:
                    expired.append(closed)
        return expired

    def for_execution(self, execution_arn: str) -> list[ApprovalRecord]:
        """Every record the execution's approval task opened, whatever its status."""
        return self._query(BY_EXECUTION_INDEX, Key("execution_arn").eq(execution_arn))

    def supersede(self, approval_id: str, *, by_approval: str, at: int) -> ApprovalRecord | None:
        return self._close(approval_id, status="superseded", at=at, extra={"superseded_by": by_approval})

    def open_for_pipeline(self, pipeline: str) -> list[ApprovalRecord]:
        """The pipeline's pending requests, oldest first."""
        return [
            record
            for ids in self._index_batches(BY_PIPELINE_INDEX, Key("pipeline").eq(pipeline))
            for record in self._read(ids)
            if record.status == "pending"
        ]

    def last_approved(self, pipeline: str) -> ApprovalRecord | None:
        """The pipeline's newest approved request: read newest first, a batch at a time, up to the first
        approved one (not the pipeline's whole history)."""
        for ids in self._index_batches(BY_PIPELINE_INDEX, Key("pipeline").eq(pipeline), newest_first=True):
            for record in self._read(ids):
                if record.status == "approved":
                    return record
        return None

    def list_open(self) -> list[ApprovalRecord]:
        records: list[ApprovalRecord] = []
        arguments: dict[str, Any] = {"FilterExpression": Attr("status").eq("pending")}
        while True:
            page = self._table.scan(**arguments)
            records += [ApprovalRecord.from_item(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(records, key=lambda record: record.requested_at)
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def set_slack_message(self, approval_id: str, message: SlackMessageRef) -> ApprovalRecord:
        """The record with its message stored, as it is now: it may have closed while the message went out."""
        response = self._table.update_item(
            Key={"approval_id": approval_id},
            UpdateExpression="SET slack_message = :message",
            ConditionExpression="attribute_exists(approval_id)",
            ExpressionAttributeValues={":message": message.model_dump()},
            ReturnValues="ALL_NEW",
        )
        return ApprovalRecord.from_item(response["Attributes"])

    # ---- internals ----------------------------------------------------------------------------
    def _close(
        self, approval_id: str, *, status: ApprovalStatus, at: int, extra: dict[str, str]
    ) -> ApprovalRecord | None:
        sets = ", ".join(["#s = :status", "decided_at = :at", *(f"{key} = :{key}" for key in extra)])
        try:
            response = self._table.update_item(
                Key={"approval_id": approval_id},
                UpdateExpression=f"SET {sets}",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":status": status,
                    ":pending": "pending",
                    ":at": at,
                    **{f":{key}": value for key, value in extra.items()},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if conditional_check_failed(error):
                return None
            raise
        return ApprovalRecord.from_item(response["Attributes"])

    def _query(self, index: str, condition: Any, *, newest_first: bool = False) -> list[ApprovalRecord]:
        return [
            record
            for ids in self._index_batches(index, condition, newest_first=newest_first)
            for record in self._read(ids)
        ]

    def _index_batches(
        self, index: str, condition: Any, *, newest_first: bool = False
    ) -> Iterator[list[str]]:
        """The ids an index holds under ``condition``, in the index's order, at most ``MAX_BATCH_GET`` at a
        time (one BatchGetItem each); the query's next page is asked for only when one is needed."""
        arguments: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ScanIndexForward": not newest_first,
        }
        while True:
            page = self._table.query(**arguments)
            ids = [str(item["approval_id"]) for item in page.get("Items", [])]
            for start in range(0, len(ids), MAX_BATCH_GET):
                yield ids[start : start + MAX_BATCH_GET]
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _read(self, ids: list[str]) -> list[ApprovalRecord]:
        """The records of ``ids`` (at most ``MAX_BATCH_GET``), in that order, in one BatchGetItem, read
        consistently for their current status (the indexes project keys only); ids whose record is gone
        are skipped."""
        client, name = self._table.meta.client, self._table.name
        request: dict[str, Any] = {
            name: {"Keys": [{"approval_id": approval_id} for approval_id in ids], "ConsistentRead": True}
        }
        found: dict[str, ApprovalRecord] = {}
        for attempt in range(MAX_BATCH_ATTEMPTS):
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(name, []):
                record = ApprovalRecord.from_item(item)
                found[record.approval_id] = record
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return [found[approval_id] for approval_id in ids if approval_id in found]
            # What throttling left unread comes back as UnprocessedKeys: back off, then ask again.
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise ApprovalStoreBusy(f"{name}: {len(request[name]['Keys'])} records still unread")


def decided_message(record: ApprovalRecord) -> str:
    if record.status == "superseded":
        return f"superseded by a newer promotion of {record.pipeline} at {_when(record.decided_at)}"
    if record.status == "expired":
        return f"this approval request expired at {_when(record.decided_at or record.expires_at)}"
    return f"already {record.status} by {record.decided_by} at {_when(record.decided_at)}"


def _refusal(record: ApprovalRecord, by: str) -> Exception:
    if record.status in ("expired", "superseded"):
        return ApprovalExpired(decided_message(record))
    if record.status == "pending" and by in record.votes:
        vote = record.votes[by]
        waiting = record.rules.required_approvals - len(record.votes)
        return ApprovalAlreadyDecided(
            f"already approved by {by} at {_when(vote.at)}; waiting for {waiting} more approval(s)"
        )
    return ApprovalAlreadyDecided(decided_message(record))


def _when(epoch: int | None) -> str:
    return datetime.fromtimestamp(epoch or 0, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
