"""Release preprod lock: preprod is free for the next promotion while this one waits for approval."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from promotion.models.steps import ReleaseLockRequest
from promotion.observability import logger, metrics, tracer
from promotion.runtime import environment_store, parse_request
from promotion.steps import release_lock as release_lock_step


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return release_lock_step.release_lock(environment_store(), parse_request(event, ReleaseLockRequest))
