"""Record baseline: what the environment runs before the deploy (the rollback target); refuses a frozen
environment and, for prod, one whose alarms already fire."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from promotion import steps
from promotion.adapters import aws
from promotion.models.steps import EnvironmentRequest
from promotion.observability import logger, metrics, tracer
from promotion.runtime import environment_store, parse_request, pipeline_configs


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, EnvironmentRequest)
    return steps.record_baseline(
        pipeline_configs(), aws.client("lambda"), aws.client("cloudwatch"), environment_store(), request
    ).to_payload()
