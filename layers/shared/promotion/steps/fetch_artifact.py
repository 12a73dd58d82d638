"""The step behind functions/fetch_artifact: typed request in, typed result out."""

from __future__ import annotations

from typing import Any

from promotion.adapters.config_store import PipelineConfigStore
from promotion.errors import (
    ArtifactNotFound,
    BuildNotPublished,
)
from promotion.models.execution import (
    PinnedArtifact,
)
from promotion.models.steps import (
    FetchArtifactRequest,
)
from promotion.pipeline.artifacts import fetch_and_pin
from promotion.steps.clock import parse_time


def fetch_artifact(
    configs: PipelineConfigStore, s3: Any, request: FetchArtifactRequest, *, now: float
) -> PinnedArtifact:
    config = configs.get(request.pipeline)
    try:
        return fetch_and_pin(s3, config.artifacts, config.repo, request.sha)
    except ArtifactNotFound as error:
        # ArtifactNotFound is retried by the state machine (CI may still be uploading) until the
        # pipeline's wait is over; then the error becomes BuildNotPublished, which is not retried.
        waited = now - parse_time(request.entered_at) if request.entered_at else float("inf")
        if waited >= config.artifacts.wait_seconds:
            raise BuildNotPublished(
                f"no build of {config.repo}@{request.sha} after waiting "
                f"{config.artifacts.wait_seconds}s: {error}"
            ) from error
        raise
