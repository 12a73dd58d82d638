"""Freeze environment: after a failed rollback, no promotion may deploy it until `promote unfreeze`."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from promotion.models.steps import EnvironmentRequest
from promotion.observability import logger, metrics, tracer
from promotion.runtime import environment_store, parse_request
from promotion.steps import freeze_environment as freeze_environment_step


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, EnvironmentRequest)
    metrics.add_metric(name="EnvironmentsFrozen", unit=MetricUnit.Count, value=1)
    logger.critical(
        "freezing environment", extra={"pipeline": request.pipeline, "environment": request.environment}
    )
    return freeze_environment_step.freeze_environment(environment_store(), request, now=time.time())
