"""The step behind functions/release_lock: typed request in, typed result out."""

from __future__ import annotations

from typing import Any

from promotion.dal.environments import EnvironmentStateStore
from promotion.models.steps import (
    ReleaseLockRequest,
)


def release_lock(environments: EnvironmentStateStore, request: ReleaseLockRequest) -> dict[str, Any]:
    released = environments.release_lock(request.pipeline, request.environment, owner=request.execution_arn)
    return {"environment": request.environment, "released": released}
