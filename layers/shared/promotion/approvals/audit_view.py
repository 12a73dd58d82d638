"""The approval audit trail as operators read it: one request's events, or every event of one promotion.

An execution's view is the one an incident needs: the notice names the execution, not the request, and a
forged completion of a promotion that never opened a request is kept under ``execution:{name}``
(``promotion.approvals.verification``). Task tokens are never part of either view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from promotion.approvals.audit import AuditEvent, AuditLog
from promotion.dal.approvals import ApprovalStore
from promotion.errors import ExecutionNotFound, NotAnExecutionOfPipeline
from promotion.naming import parse_execution_name


@dataclass(frozen=True)
class ExecutionLookup:
    """The promotion state machine and how to read one of its executions' status (None: no such one)."""

    state_machine_arn: str
    execution_status: Callable[[str], str | None]


def _events(events: Iterable[AuditEvent]) -> list[dict[str, Any]]:
    # The sort key starts with the time in milliseconds: its order is the order things happened in.
    return [event.model_dump(mode="json") for event in sorted(events, key=lambda event: event.event_id)]


def approval_audit(store: ApprovalStore, audit: AuditLog, approval_id: str) -> dict[str, Any]:
    """The request (without its task token) and its events, oldest first; ``ApprovalNotFound`` if unknown."""
    record = store.get(approval_id)
    return {"approval": record.public_view(), "events": _events(audit.history(approval_id))}


def execution_audit(
    store: ApprovalStore, audit: AuditLog, executions: ExecutionLookup, name: str
) -> dict[str, Any]:
    """Every request the execution ``name`` opened and all their events, with any event kept under the
    execution itself, oldest first. ``NotAnExecutionOfPipeline`` for a name no promotion has,
    ``ExecutionNotFound`` when the state machine has no such execution."""
    if parse_execution_name(name) is None:
        raise NotAnExecutionOfPipeline(f"{name!r} is not a promotion's execution name (PIPELINE-SHA12-aN)")
    arn = executions.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
    status = executions.execution_status(arn)
    if status is None:
        raise ExecutionNotFound(f"no execution {name}")
    records = sorted(store.for_execution(arn), key=lambda record: record.requested_at)
    events = [event for record in records for event in audit.history(record.approval_id)]
    events += audit.history(f"execution:{name}")
    return {
        "execution": name,
        "execution_arn": arn,
        "status": status,
        "approvals": [record.public_view() for record in records],
        "events": _events(events),
    }
