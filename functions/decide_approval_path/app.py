"""Decide approval path: apply the bypass policy (fail closed: unproven means approval required).

The proof of a Dependabot update comes from GitHub's REST API, asked here, never from the webhook payload.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from promotion import steps
from promotion.github_runtime import dependabot_prover
from promotion.models.steps import DecideApprovalPathRequest
from promotion.observability import logger, metrics, tracer
from promotion.runtime import parse_request, pipeline_configs


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, DecideApprovalPathRequest)
    return steps.decide_path(pipeline_configs(), dependabot_prover(), request).to_payload()
