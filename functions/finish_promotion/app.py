"""Record success / Record failure: close the promotion's ledger entries and release its deploy locks."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from promotion.models.steps import FinishRequest
from promotion.observability import logger, metrics, tracer
from promotion.runtime import environment_store, ledger, parse_request
from promotion.steps import finish_promotion as finish_promotion_step


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, FinishRequest)
    result = finish_promotion_step.finish(environment_store(), ledger(), request, now=time.time())
    if "time_to_prod_seconds" in result:
        metrics.add_dimension(name="pipeline", value=request.promotion.pipeline)
        metrics.add_metric(name="TimeToProd", unit=MetricUnit.Seconds, value=result["time_to_prod_seconds"])
    return result
