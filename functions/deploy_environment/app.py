"""Deploy to an environment: the pinned build to every function, then the aliases together."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from promotion.github.runtime import deployment_reporter
from promotion.models.steps import DeployRequest
from promotion.observability import logger, metrics, tracer
from promotion.runtime import environment_clients, ledger, parse_request, pipeline_configs
from promotion.steps import deploy_environment as deploy_environment_step


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, DeployRequest)
    environment = environment_clients(
        request.pipeline, request.environment, execution_name=request.execution_name
    )
    return deploy_environment_step.deploy(
        pipeline_configs(),
        environment.lambda_client,
        request,
        reporter=deployment_reporter(),
        ledger=ledger(),
        now=time.time(),
    ).to_payload()
