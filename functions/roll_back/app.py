"""Roll back: every function of the environment back on its baseline version, in one step."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, logger, metrics

from aws_lambda_powertools.metrics import MetricUnit

from promotion.models.steps import RollbackRequest
from promotion.runtime import environment_clients, ledger, parse_request
from promotion.steps import roll_back as roll_back_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, RollbackRequest)
    metrics.add_dimension(name="environment", value=request.baseline.environment)
    metrics.add_metric(name="Rollbacks", unit=MetricUnit.Count, value=1)
    environment = environment_clients(
        request.pipeline, request.baseline.environment, execution_name=request.execution_name
    )
    result = roll_back_step.roll_back_environment(
        environment.lambda_client, ledger(), request, now=time.time()
    )
    logger.info("rolled back", extra={"restored": result.restored, "moved_from": result.moved_from})
    return result.to_payload()
