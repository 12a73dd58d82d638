"""The audit table: append-only writes (a new sort key per event); nothing in the control plane deletes."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key

from promotion.approvals.audit import AuditEvent
from promotion.models.approval import from_dynamo


class DynamoAuditLog:
    def __init__(self, table: Any, log: Any | None = None) -> None:
        self._table = table
        self._log = log

    def record(self, event: AuditEvent) -> None:
        if self._log is not None:
            self._log.info("approval audit", extra={"audit": event.model_dump()})
        # Never overwrite: an event id that exists already is a bug, not something to paper over.
        self._table.put_item(Item=event.to_item(), ConditionExpression="attribute_not_exists(approval_id)")

    def history(self, approval_id: str) -> list[AuditEvent]:
        events: list[AuditEvent] = []
        arguments: dict[str, Any] = {"KeyConditionExpression": Key("approval_id").eq(approval_id)}
        while True:
            page = self._table.query(**arguments)
            events += [AuditEvent.model_validate(from_dynamo(item)) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return events
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
