"""The step behind functions/roll_back: typed request in, typed result out."""

from __future__ import annotations

from typing import Any

from promotion.dal.ledger import DynamoLedger
from promotion.models.execution import (
    BaselineFunction,
    EnvironmentBaseline,
    RollbackResult,
)
from promotion.models.steps import (
    RollbackRequest,
)
from promotion.pipeline.notify import cause_text
from promotion.pipeline.rollback import roll_back


def roll_back_environment(
    lambda_client: Any, ledger: DynamoLedger, request: RollbackRequest, *, now: float
) -> RollbackResult:
    """Restore from the ledger entry written right before the deploy (the state's copy if it is missing)."""
    baseline = request.baseline
    entry = (
        ledger.entry(request.pipeline, baseline.environment, baseline.ledger_key)
        if baseline.ledger_key
        else None
    )
    if entry is not None:
        baseline = EnvironmentBaseline(
            environment=baseline.environment,
            functions=[
                BaselineFunction(
                    key=f.key,
                    function_name=f.function_name,
                    alias=f.alias,
                    version=f.previous_version,
                    code_sha256=f.previous_code_sha256,
                )
                for f in entry.functions
            ],
            previous_sha=entry.previous_sha,
            ledger_key=entry.entry_key,
        )
    result = roll_back(lambda_client, baseline)
    if baseline.ledger_key:
        failure = request.failure
        ledger.finish(
            request.pipeline,
            baseline.environment,
            baseline.ledger_key,
            outcome="rolled_back",
            at=int(now),
            detail=f"{failure.Error}: {cause_text(failure.Cause)}" if failure else None,
        )
    return result
