"""Freeze environment: after a failed rollback, no promotion may deploy it until `promote unfreeze`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, logger, metrics

from aws_lambda_powertools.metrics import MetricUnit

from promotion.models.steps import EnvironmentRequest
from promotion.runtime import environment_store, parse_request
from promotion.steps import freeze_environment as freeze_environment_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, EnvironmentRequest)
    metrics.add_metric(name="EnvironmentsFrozen", unit=MetricUnit.Count, value=1)
    logger.critical(
        "freezing environment", extra={"pipeline": request.pipeline, "environment": request.environment}
    )
    return freeze_environment_step.freeze_environment(environment_store(), request, now=time.time())
