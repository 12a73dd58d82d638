"""The step behind functions/finish_promotion: typed request in, typed result out."""

from __future__ import annotations

from typing import Any

from promotion.dal.environments import EnvironmentStateStore
from promotion.dal.ledger import DynamoLedger
from promotion.dal.ledger import Outcome as LedgerOutcome
from promotion.models.steps import (
    FinishRequest,
)


def finish(
    environments: EnvironmentStateStore, ledger: DynamoLedger, request: FinishRequest, *, now: float
) -> dict[str, Any]:
    """Close the promotion's ledger entries and release its locks (a frozen environment keeps its lock)."""
    state = request.promotion
    approver = (state.approval or {}).get("approved_by")
    # The verified approval's input (approval.inputs), from the record; none on older executions.
    inputs = (state.approval or {}).get("inputs") or None
    closed: dict[str, str] = {}
    started_at: int | None = None
    for baseline in (state.preprod_baseline, state.prod_baseline):
        if baseline is None or baseline.ledger_key is None:
            continue
        entry = ledger.entry(state.pipeline, baseline.environment, baseline.ledger_key)
        if entry is None:
            continue
        if entry.outcome in ("rolled_back", "rollback_failed"):
            # Closed by its rollback; the approval that let it deploy is still part of its record.
            if approver and not entry.approver:
                ledger.record_approver(
                    state.pipeline, baseline.environment, baseline.ledger_key, approver, inputs
                )
            continue
        if baseline.environment == "preprod":
            started_at = entry.started_at
        outcome: LedgerOutcome = request.outcome if entry.outcome == "deployed" else "failed"
        detail = state.failure.Error if state.failure else None
        ledger.finish(
            state.pipeline,
            baseline.environment,
            baseline.ledger_key,
            outcome=outcome,
            at=int(now),
            approver=approver,
            detail=detail,
            approval_inputs=inputs,
        )
        closed[baseline.environment] = outcome
    # The environment whose rollback failed keeps its lock, frozen or not (its freeze may have failed):
    # nothing may deploy it until an operator has checked it and runs promote unfreeze.
    failed = state.failed_environment_baseline() if request.outcome == "rollback_failed" else None
    keep = failed.environment if failed is not None else None
    released = [
        environment
        for environment in ("preprod", "prod")
        if environment != keep
        and environments.release_lock(state.pipeline, environment, owner=request.execution_arn)
    ]
    result: dict[str, Any] = {"ledger": closed, "released_locks": released}
    if closed.get("prod") == "succeeded" and started_at is not None:
        # From locking preprod (a webhook's promotion gets there within seconds) to prod recorded.
        result["time_to_prod_seconds"] = max(0, int(now) - started_at)
    return result
