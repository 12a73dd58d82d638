"""Expire approval: nobody decided in time; the approval record turns expired and links say so."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from promotion.cleanup import expire_approval
from promotion.models.steps import ExpireApprovalRequest
from promotion.observability import logger, metrics, tracer
from promotion.runtime import approval_expirer, parse_request, pipeline_configs


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, ExpireApprovalRequest)
    timeout = pipeline_configs().get(request.pipeline).approval.timeout_seconds
    failure = expire_approval(
        approval_expirer(), request.execution_arn, timeout_seconds=timeout, now=time.time()
    )
    return failure.model_dump()
