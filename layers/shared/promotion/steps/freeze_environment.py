"""The step behind functions/freeze_environment: typed request in, typed result out."""

from __future__ import annotations

from typing import Any

from promotion.dal.environments import EnvironmentStateStore
from promotion.models.steps import (
    EnvironmentRequest,
)


def freeze_environment(
    environments: EnvironmentStateStore, request: EnvironmentRequest, *, now: float
) -> dict[str, Any]:
    environments.freeze(
        request.pipeline,
        request.environment,
        reason=request.reason or "rollback failed",
        by=request.execution_arn,
        at=int(now),
    )
    return {"frozen": True, "environment": request.environment}
