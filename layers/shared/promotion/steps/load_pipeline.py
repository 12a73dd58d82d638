"""The step behind functions/load_pipeline: typed request in, typed result out."""

from __future__ import annotations

from promotion.adapters.config_store import PipelineConfigStore
from promotion.models.execution import (
    PipelineSettings,
    WindowsHeld,
)
from promotion.models.steps import (
    LoadPipelineRequest,
)


def load_pipeline(configs: PipelineConfigStore, request: LoadPipelineRequest) -> PipelineSettings:
    config = configs.get(request.input.pipeline)
    # Whether there are windows is read once, here; what they say is read afresh at every window check.
    held = config.windows.environments if config.windows is not None else []
    return PipelineSettings(
        pipeline=config.name,
        repo=config.repo,
        approval_timeout_seconds=config.approval.timeout_seconds,
        bake_seconds=config.bake.duration_seconds,
        poll_seconds=config.bake.poll_interval_seconds,
        mode=request.input.mode,
        target=request.input.target,
        windows=WindowsHeld(preprod="preprod" in held, prod="prod" in held),
    )
