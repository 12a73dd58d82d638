"""Load pipeline config: validate the execution input and hand the state machine its timing settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point

from promotion.models.steps import LoadPipelineRequest
from promotion.runtime import parse_request, pipeline_configs
from promotion.steps import load_pipeline as load_pipeline_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return load_pipeline_step.load_pipeline(
        pipeline_configs(), parse_request(event, LoadPipelineRequest)
    ).to_payload()
