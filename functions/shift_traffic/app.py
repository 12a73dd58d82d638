"""Shift traffic: move prod's aliases one rollout step further towards the new versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, logger

from promotion.models.steps import ShiftTrafficRequest
from promotion.runtime import environment_clients, parse_request, pipeline_configs
from promotion.steps import shift_traffic as shift_traffic_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, ShiftTrafficRequest)
    prod = environment_clients(request.pipeline, "prod", execution_name=request.execution_name)
    step = shift_traffic_step.shift_prod_traffic(pipeline_configs(), prod.lambda_client, request)
    logger.info("traffic shifted", extra={"weight": step.weight, "done": step.done})
    return step.to_payload()
