"""Per-environment state of a pipeline (frozen or not), one DynamoDB item per (pipeline, environment).

A frozen environment is one whose rollback failed: no promotion may deploy it until an operator has
checked it and runs ``promote unfreeze``. Freezing is a plain write (it must never fail because of what
the item held before); unfreezing is conditional on the item being frozen, so the operator learns when
there was nothing to clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from promotion.dal import conditional_check_failed


@dataclass(frozen=True)
class EnvironmentState:
    pipeline: str
    environment: str
    frozen: bool
    reason: str = ""
    frozen_by: str = ""
    frozen_at: int = 0
    lock_owner: str = ""
    lock_expires: int = 0


class LockHeld(Exception):
    """Another execution holds the environment's lock."""

    def __init__(self, owner: str, expires: int) -> None:
        super().__init__(f"locked by {owner} until {expires}")
        self.owner = owner
        self.expires = expires


class EnvironmentStateStore(Protocol):
    def get(self, pipeline: str, environment: str) -> EnvironmentState: ...

    def freeze(self, pipeline: str, environment: str, *, reason: str, by: str, at: int) -> None: ...

    def unfreeze(self, pipeline: str, environment: str, *, by: str, at: int, reason: str = "") -> bool: ...

    def acquire_lock(
        self, pipeline: str, environment: str, *, owner: str, lease_seconds: int, now: int
    ) -> None: ...

    def reclaim_lock(
        self, pipeline: str, environment: str, *, stale_owner: str, owner: str, lease_seconds: int, now: int
    ) -> bool: ...

    def release_lock(self, pipeline: str, environment: str, *, owner: str) -> bool: ...


class DynamoEnvironmentStateStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, pipeline: str, environment: str) -> EnvironmentState:
        item = self._table.get_item(
            Key={"pipeline": pipeline, "environment": environment}, ConsistentRead=True
        ).get("Item")
        if not item:
            return EnvironmentState(pipeline, environment, frozen=False)
        return EnvironmentState(
            pipeline=pipeline,
            environment=environment,
            frozen=bool(item.get("frozen", False)),
            reason=str(item.get("frozen_reason", "")),
            frozen_by=str(item.get("frozen_by", "")),
            frozen_at=int(item.get("frozen_at", 0)),
            lock_owner=str(item.get("lock_owner", "")),
            lock_expires=int(item.get("lock_expires", 0)),
        )

    def freeze(self, pipeline: str, environment: str, *, reason: str, by: str, at: int) -> None:
        self._table.update_item(
            Key={"pipeline": pipeline, "environment": environment},
            UpdateExpression="SET frozen = :true, frozen_reason = :reason, frozen_by = :by, frozen_at = :at",
            ExpressionAttributeValues={":true": True, ":reason": reason[:2000], ":by": by, ":at": at},
        )

    def unfreeze(self, pipeline: str, environment: str, *, by: str, at: int, reason: str = "") -> bool:
        """Clear the freeze (``reason``: why, when the operator said); False when it was not frozen."""
        try:
            self._table.update_item(
                Key={"pipeline": pipeline, "environment": environment},
                # The freeze kept the failed promotion's lock; clearing the freeze frees the environment.
                UpdateExpression="SET frozen = :false, unfrozen_by = :by, unfrozen_at = :at, "
                "unfrozen_reason = :reason REMOVE lock_owner, lock_expires",
                ConditionExpression="frozen = :true",
                ExpressionAttributeValues={
                    ":false": False,
                    ":true": True,
                    ":by": by,
                    ":at": at,
                    ":reason": reason[:2000],
                },
            )
        except ClientError as error:
            if conditional_check_failed(error):
                return False
            raise
        return True

    # ---- the deploy lock ----------------------------------------------------------------------------
    def acquire_lock(
        self, pipeline: str, environment: str, *, owner: str, lease_seconds: int, now: int
    ) -> None:
        """Take the lock, or renew it when ``owner`` already holds it; LockHeld when someone else does."""
        try:
            self._table.update_item(
                Key={"pipeline": pipeline, "environment": environment},
                UpdateExpression="SET lock_owner = :me, lock_expires = :expires, lock_taken_at = :now",
                ConditionExpression=(
                    "attribute_not_exists(lock_owner) OR lock_owner = :me OR lock_expires < :now"
                ),
                ExpressionAttributeValues={":me": owner, ":expires": now + lease_seconds, ":now": now},
            )
        except ClientError as error:
            if not conditional_check_failed(error):
                raise
            state = self.get(pipeline, environment)
            raise LockHeld(state.lock_owner, state.lock_expires) from error

    def reclaim_lock(
        self, pipeline: str, environment: str, *, stale_owner: str, owner: str, lease_seconds: int, now: int
    ) -> bool:
        """Take over a lock whose owner is known to be finished; False if it changed hands meanwhile."""
        try:
            self._table.update_item(
                Key={"pipeline": pipeline, "environment": environment},
                UpdateExpression="SET lock_owner = :me, lock_expires = :expires, lock_taken_at = :now, "
                "lock_reclaimed_from = :stale",
                ConditionExpression="lock_owner = :stale",
                ExpressionAttributeValues={
                    ":me": owner,
                    ":expires": now + lease_seconds,
                    ":now": now,
                    ":stale": stale_owner,
                },
            )
        except ClientError as error:
            if conditional_check_failed(error):
                return False
            raise
        return True

    def release_lock(self, pipeline: str, environment: str, *, owner: str) -> bool:
        """Release ``owner``'s lock; a frozen environment keeps it until ``promote unfreeze``."""
        try:
            self._table.update_item(
                Key={"pipeline": pipeline, "environment": environment},
                UpdateExpression="REMOVE lock_owner, lock_expires",
                ConditionExpression="lock_owner = :me AND (attribute_not_exists(frozen) OR frozen = :false)",
                ExpressionAttributeValues={":me": owner, ":false": False},
            )
        except ClientError as error:
            if conditional_check_failed(error):
                return False
            raise
        return True
