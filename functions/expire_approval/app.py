"""Expire approval / Close approval request: the wait ended without an approval; the approval record is
closed (links say so), and a failure the control plane did not send is audited and named."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, metrics

from aws_lambda_powertools.metrics import MetricUnit

from promotion.approvals.runtime import approval_expirer, approval_services
from promotion.approvals.verification import close_failed_wait
from promotion.errors import ApprovalNotVerified
from promotion.models.steps import ExpireApprovalRequest
from promotion.pipeline.cleanup import expire_approval
from promotion.runtime import parse_request, pipeline_configs

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, ExpireApprovalRequest)
    if request.failure is not None:
        failure = close_failed_wait(approval_services(), request, now=time.time())
        if failure.Error == ApprovalNotVerified.__name__:
            metrics.add_metric(name="ForgedApprovalCompletion", unit=MetricUnit.Count, value=1)
        return failure.model_dump()
    timeout = pipeline_configs().get(request.pipeline).approval.timeout_seconds
    failure = expire_approval(
        approval_expirer(), request.execution_arn, timeout_seconds=timeout, now=time.time()
    )
    return failure.model_dump()
