"""The step behind functions/check_and_lock: typed request in, typed result out."""

from __future__ import annotations

from promotion.adapters.config_store import PipelineConfigStore
from promotion.models.execution import (
    EnvironmentBaseline,
)
from promotion.models.steps import (
    PrepareRequest,
)
from promotion.pipeline.prepare import (
    Deployment,
    PrepareDeps,
    prepare_environment,
)
from promotion.steps.clock import parse_time


def check_and_lock(
    configs: PipelineConfigStore, deps: PrepareDeps, request: PrepareRequest
) -> EnvironmentBaseline:
    config = configs.get(request.pipeline)
    return prepare_environment(
        deps,
        config,
        request.environment,
        Deployment(
            execution_arn=request.execution_arn,
            execution_name=request.execution_name,
            sha=request.sha,
            mode=request.mode,
            artifact=request.artifact,
        ),
        now=int(parse_time(request.entered_at)),
    )
