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


@dataclass(frozen=True)
class EnvironmentState:
    pipeline: str
    environment: str
    frozen: bool
    reason: str = ""
    frozen_by: str = ""
    frozen_at: int = 0


class EnvironmentStateStore(Protocol):
    def get(self, pipeline: str, environment: str) -> EnvironmentState: ...

    def freeze(self, pipeline: str, environment: str, *, reason: str, by: str, at: int) -> None: ...

    def unfreeze(self, pipeline: str, environment: str, *, by: str, at: int) -> bool: ...


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
        )

    def freeze(self, pipeline: str, environment: str, *, reason: str, by: str, at: int) -> None:
        self._table.update_item(
            Key={"pipeline": pipeline, "environment": environment},
            UpdateExpression="SET frozen = :true, frozen_reason = :reason, frozen_by = :by, frozen_at = :at",
            ExpressionAttributeValues={":true": True, ":reason": reason[:2000], ":by": by, ":at": at},
        )

    def unfreeze(self, pipeline: str, environment: str, *, by: str, at: int) -> bool:
        """Clear the freeze; False when the environment was not frozen."""
        try:
            self._table.update_item(
                Key={"pipeline": pipeline, "environment": environment},
                UpdateExpression="SET frozen = :false, unfrozen_by = :by, unfrozen_at = :at",
                ConditionExpression="frozen = :true",
                ExpressionAttributeValues={":false": False, ":true": True, ":by": by, ":at": at},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
