"""What the GitHub webhook has received and started, in DynamoDB: the webhook's idempotency.

Two kinds of item share one table (key ``pk``), each written with ``attribute_not_exists`` so that exactly
one writer wins however many Lambda instances race:

- ``delivery#{X-GitHub-Delivery}``: a delivery was received (kept 30 days: GitHub offers redelivery for 3).
- ``commit#{pipeline}#{sha}``: the claim to start the promotion of one commit. Its first writer starts the
  execution; everyone after (a redelivery, the push and the build run of the same commit, a replayed old
  payload) finds it and starts nothing. It never expires: a signed payload has no timestamp and can be
  replayed at any time, and this record is what makes the replay harmless. One exception: a claim whose
  execution failed before deploying anything gives way (:meth:`DeliveryStore.supersede`) to a delivery never
  seen before, which starts the commit's next attempt (``-aN``) under the same key.

Step Functions' own duplicate-name check would also stop a second start, but moto's is not atomic, and a
closed execution's name answers ``ExecutionAlreadyExists`` only for 90 days: this table is the real guard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from botocore.exceptions import ClientError

from promotion.dal import conditional_check_failed

DELIVERY_RETENTION_SECONDS = 30 * 86_400
ClaimStatus = Literal["starting", "started"]


@dataclass(frozen=True)
class CommitClaim:
    pipeline: str
    sha: str
    delivery_id: str
    execution_name: str
    # The exact StartExecution input, so a claim left "starting" by a crashed instance can be finished with
    # the same name and input (Step Functions then answers with the execution that already exists).
    execution_input: dict[str, Any]
    claimed_at: int
    status: ClaimStatus = "starting"
    execution_arn: str | None = None

    @property
    def key(self) -> str:
        return commit_key(self.pipeline, self.sha)


def delivery_key(delivery_id: str) -> str:
    return f"delivery#{delivery_id}"


def commit_key(pipeline: str, sha: str) -> str:
    return f"commit#{pipeline}#{sha}"


class DeliveryStore(Protocol):
    def record_delivery(self, delivery_id: str, *, pipeline: str, event: str, received_at: int) -> bool:
        """True for the first time a delivery id is seen, False for a redelivery."""
        ...

    def claim_commit(self, claim: CommitClaim) -> CommitClaim | None:
        """None when this claim won; otherwise the claim already stored for the commit."""
        ...

    def take_over(self, stale: CommitClaim, *, now: int) -> bool:
        """Re-claim a claim left ``starting``; True for exactly one of any racing callers."""
        ...

    def supersede(self, ended: CommitClaim, successor: CommitClaim) -> bool:
        """Replace a started claim with the next attempt's; True for exactly one of any racing callers."""
        ...

    def mark_started(self, claim: CommitClaim, *, execution_arn: str) -> None: ...

    def release(self, claim: CommitClaim) -> None:
        """Drop a claim whose start failed, so a redelivery can try again."""
        ...


class DynamoDeliveryStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def record_delivery(self, delivery_id: str, *, pipeline: str, event: str, received_at: int) -> bool:
        try:
            self._table.put_item(
                Item={
                    "pk": delivery_key(delivery_id),
                    "pipeline": pipeline,
                    "event": event,
                    "received_at": received_at,
                    "expires_at": received_at + DELIVERY_RETENTION_SECONDS,
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if conditional_check_failed(error):
                return False
            raise
        return True

    def claim_commit(self, claim: CommitClaim) -> CommitClaim | None:
        try:
            self._table.put_item(Item=_item_of(claim), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if not conditional_check_failed(error):
                raise
            item = self._table.get_item(Key={"pk": claim.key}, ConsistentRead=True).get("Item")
            if item is None:  # released between the two calls: report it as still being started
                return claim
            return _claim_from_item(item)
        return None

    def take_over(self, stale: CommitClaim, *, now: int) -> bool:
        try:
            self._table.update_item(
                Key={"pk": stale.key},
                UpdateExpression="SET claimed_at = :now",
                ConditionExpression="#s = :starting AND claimed_at = :then",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":now": now, ":then": stale.claimed_at, ":starting": "starting"},
            )
        except ClientError as error:
            if conditional_check_failed(error):
                return False
            raise
        return True

    def supersede(self, ended: CommitClaim, successor: CommitClaim) -> bool:
        try:
            self._table.put_item(
                Item=_item_of(successor),
                ConditionExpression="#s = :started AND execution_name = :ended",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":started": "started", ":ended": ended.execution_name},
            )
        except ClientError as error:
            if conditional_check_failed(error):
                return False
            raise
        return True

    def mark_started(self, claim: CommitClaim, *, execution_arn: str) -> None:
        self._table.update_item(
            Key={"pk": claim.key},
            UpdateExpression="SET #s = :started, execution_arn = :arn",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":started": "started", ":arn": execution_arn},
        )

    def release(self, claim: CommitClaim) -> None:
        try:
            self._table.delete_item(
                Key={"pk": claim.key},
                ConditionExpression="#s = :starting AND delivery_id = :delivery",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":starting": "starting", ":delivery": claim.delivery_id},
            )
        except ClientError as error:
            if not conditional_check_failed(error):
                raise


def _item_of(claim: CommitClaim) -> dict[str, Any]:
    return {
        "pk": claim.key,
        "pipeline": claim.pipeline,
        "sha": claim.sha,
        "delivery_id": claim.delivery_id,
        "execution_name": claim.execution_name,
        "execution_input": json.dumps(claim.execution_input, sort_keys=True),
        "claimed_at": claim.claimed_at,
        "status": claim.status,
    }


def _claim_from_item(item: dict[str, Any]) -> CommitClaim:
    return CommitClaim(
        pipeline=str(item["pipeline"]),
        sha=str(item["sha"]),
        delivery_id=str(item["delivery_id"]),
        execution_name=str(item["execution_name"]),
        execution_input=json.loads(str(item["execution_input"])),
        # DynamoDB hands numbers back as Decimal.
        claimed_at=int(item["claimed_at"]),
        status="started" if item.get("status") == "started" else "starting",
        execution_arn=str(item["execution_arn"]) if item.get("execution_arn") else None,
    )
