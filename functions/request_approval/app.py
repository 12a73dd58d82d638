"""Request approval: store the approval record with the task token and email each approver a signed link."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from promotion import steps
from promotion.models.steps import RequestApprovalRequest
from promotion.observability import logger, metrics, tracer
from promotion.runtime import approval_signing_key, approval_store, mailer, parse_request, pipeline_configs
from promotion.settings import control_plane_settings


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, RequestApprovalRequest)
    return steps.request_approval(
        pipeline_configs(),
        approval_store(),
        mailer(),
        approval_signing_key(),
        api_url=control_plane_settings().public_api_url,
        request=request,
        now=time.time(),
    )
