"""Operators' overrides of the deployment windows, one per promotion, kept in the environments table.

An override is an item of that table (beside the environments' freezes and locks, written the same way by
``promote window override``) keyed ``(pipeline, "window-override#{execution name}")``: who, when and why.
It is never deleted by the control plane: it is the audit of the override. "Check deployment window" reads
it by key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

OVERRIDE_PREFIX = "window-override#"


@dataclass(frozen=True)
class WindowOverride:
    """An operator's word that one promotion may deploy prod outside the windows."""

    execution_name: str
    reason: str
    by: str
    at: int

    def to_payload(self) -> dict[str, Any]:
        return {"reason": self.reason, "by": self.by, "at": self.at}


def override_key(pipeline: str, execution_name: str) -> dict[str, str]:
    return {"pipeline": pipeline, "environment": f"{OVERRIDE_PREFIX}{execution_name}"}


class WindowOverrideStore(Protocol):
    def get(self, pipeline: str, execution_name: str) -> WindowOverride | None: ...

    def put(self, pipeline: str, override: WindowOverride) -> None: ...


class DynamoWindowOverrideStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, pipeline: str, execution_name: str) -> WindowOverride | None:
        item = self._table.get_item(Key=override_key(pipeline, execution_name), ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return None
        return WindowOverride(
            execution_name=execution_name,
            reason=str(item.get("override_reason", "")),
            by=str(item.get("override_by", "")),
            at=int(item.get("override_at", 0)),
        )

    def put(self, pipeline: str, override: WindowOverride) -> None:
        self._table.update_item(
            Key=override_key(pipeline, override.execution_name),
            UpdateExpression="SET override_reason = :reason, override_by = :by, override_at = :at",
            ExpressionAttributeValues={
                ":reason": override.reason[:2000],
                ":by": override.by,
                ":at": override.at,
            },
        )
