"""Deploy to an environment: the pinned build to every function, then the aliases together."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point

from promotion.github.runtime import deployment_reporter
from promotion.models.steps import DeployRequest
from promotion.runtime import environment_clients, ledger, parse_request, pipeline_configs
from promotion.steps import deploy_environment as deploy_environment_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
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
