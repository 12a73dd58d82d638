"""The step behind functions/load_pipeline: typed request in, typed result out."""

from __future__ import annotations

from promotion.adapters.config_store import PipelineConfigStore
from promotion.models.execution import (
    PipelineSettings,
)
from promotion.models.steps import (
    LoadPipelineRequest,
)


def load_pipeline(configs: PipelineConfigStore, request: LoadPipelineRequest) -> PipelineSettings:
    config = configs.get(request.input.pipeline)
    return PipelineSettings(
        pipeline=config.name,
        repo=config.repo,
        approval_timeout_seconds=config.approval.timeout_seconds,
        bake_seconds=config.bake.duration_seconds,
        poll_seconds=config.bake.poll_interval_seconds,
        mode=request.input.mode,
        target=request.input.target,
    )
