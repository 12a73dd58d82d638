"""What happens after a promotion ends in a way the state machine could not handle itself.

Two entry points:
- ``expire_approval``: the approval wait timed out (a Catch in the ASL): the approval record turns expired,
  so its links say so, and the failure is named ``ApprovalTimedOut``.
- ``clean_up_after``: an EventBridge rule sends every FAILED, TIMED_OUT or ABORTED status change of the
  promotion state machine here. An execution stopped by hand (``promote cancel``), timed out or failed
  outside the ASL's catches still gets its notice and its approval records expired.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from promotion.models.execution import ExecutionInput
from promotion.pipeline.notify import Failure, Outcome, OutcomeKind

# States whose successful completion means people were already told how the promotion ended.
NOTIFY_STATE_PREFIX = "Notify "


class ApprovalExpirer(Protocol):
    def expire_for_execution(self, execution_arn: str, *, at: int) -> list[Any]: ...


def expire_approval(
    expirer: ApprovalExpirer, execution_arn: str, *, timeout_seconds: int, now: float
) -> Failure:
    expired = expirer.expire_for_execution(execution_arn, at=int(now))
    ids = ", ".join(str(getattr(record, "approval_id", record)) for record in expired) or "none pending"
    return Failure(
        Error="ApprovalTimedOut",
        Cause=f"no decision within {timeout_seconds}s; approval request expired ({ids})",
    )


class ExecutionStatusChange(BaseModel):
    """The ``detail`` of EventBridge's "Step Functions Execution Status Change" event."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    executionArn: str
    stateMachineArn: str
    name: str
    status: str
    input: str | None = None
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True)
class CleanupReport:
    execution_arn: str
    status: str
    expired_approvals: int
    notified: bool
    reason: str

    def to_payload(self) -> dict[str, Any]:
        return self.__dict__.copy()


def already_notified(history: list[dict[str, Any]]) -> bool:
    state = ""
    for event in history:
        if event["type"].endswith("StateEntered"):
            state = event["stateEnteredEventDetails"]["name"]
        elif event["type"] in ("LambdaFunctionSucceeded", "TaskSucceeded") and state.startswith(
            NOTIFY_STATE_PREFIX
        ):
            return True
    return False


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


class LockReleaser(Protocol):
    def release_lock(self, pipeline: str, environment: str, *, owner: str) -> bool: ...


class LedgerCloser(Protocol):
    def history(self, pipeline: str, environment: str, *, limit: int = 10) -> list[Any]: ...

    def finish(self, pipeline: str, environment: str, key: str, *, outcome: Any, at: int) -> Any: ...


def close_out(
    pipeline: str,
    execution_arn: str,
    status: str,
    *,
    locks: LockReleaser,
    ledger: LedgerCloser,
    now: float,
    error: str = "",
) -> list[str]:
    """Release the execution's deploy locks and close its open ledger entries.

    After a failed rollback the locks stay: nothing may deploy there until an operator has checked and
    runs ``promote unfreeze`` (a frozen environment's lock is never released here either).
    """
    closed = []
    for environment in ("preprod", "prod"):
        if error != "RollbackFailed":
            locks.release_lock(pipeline, environment, owner=execution_arn)
        for entry in ledger.history(pipeline, environment, limit=20):
            if entry.execution_arn == execution_arn and entry.outcome in ("started", "deployed"):
                outcome = "aborted" if status in ("ABORTED", "TIMED_OUT") else "failed"
                ledger.finish(pipeline, environment, entry.entry_key, outcome=outcome, at=int(now))
                closed.append(environment)
    return closed


def clean_up_after(
    change: ExecutionStatusChange,
    *,
    sfn: Any,
    expirer: ApprovalExpirer,
    notify: Callable[[Outcome], None],
    now: float,
    close: Callable[[str, str, str, str], Any] | None = None,
) -> CleanupReport:
    if change.status not in ("FAILED", "TIMED_OUT", "ABORTED"):
        return CleanupReport(change.executionArn, change.status, 0, False, "nothing to clean up")
    expired = expirer.expire_for_execution(change.executionArn, at=int(now))
    try:
        request = ExecutionInput.model_validate(json.loads(change.input or "{}"))
    except (ValueError, ValidationError):
        # An input the state machine itself refused: nobody to tell about a pipeline.
        return CleanupReport(
            change.executionArn, change.status, len(expired), False, "execution input not valid"
        )
    if close is not None:
        close(request.pipeline, change.executionArn, change.status, change.error or "")
    if already_notified(execution_history(sfn, change.executionArn)):
        return CleanupReport(change.executionArn, change.status, len(expired), False, "already notified")
    error = change.error or {"ABORTED": "Cancelled", "TIMED_OUT": "ExecutionTimedOut"}.get(
        change.status, "Failed"
    )
    kind: OutcomeKind = "failed" if change.status == "FAILED" else "cancelled"
    if error == "RollbackFailed":
        kind = "rollback_failed"  # the state machine's own critical notice did not go out: this one is it
    notify(
        Outcome(
            outcome=kind,
            pipeline=request.pipeline,
            sha=request.sha,
            execution_name=change.name,
            execution_arn=change.executionArn,
            failure=Failure(Error=error, Cause=change.cause or f"execution {change.status.lower()}"),
        )
    )
    return CleanupReport(change.executionArn, change.status, len(expired), True, "notified")
