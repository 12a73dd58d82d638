"""Verify approval: only an approval the control plane made and MACed resumes the promotion toward prod."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, metrics

from aws_lambda_powertools.metrics import MetricUnit

from promotion.approvals.runtime import approval_services, decision_key
from promotion.approvals.verification import verify_approval
from promotion.errors import ApprovalNotVerified
from promotion.models.steps import VerifyApprovalRequest
from promotion.runtime import parse_request

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, VerifyApprovalRequest)
    try:
        approval = verify_approval(approval_services(), decision_key(), request, now=time.time())
    except ApprovalNotVerified:
        metrics.add_metric(name="ForgedApprovalCompletion", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_dimension(name="pipeline", value=request.pipeline)
    metrics.add_metric(name="ApprovalWait", unit=MetricUnit.Seconds, value=approval["waited_seconds"])
    return approval
