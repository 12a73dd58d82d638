"""Request approval: store the approval record (with the task token), supersede older waiting requests of
the pipeline, and notify approvers by email (signed links) and Slack (buttons)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point

from promotion.approvals.runtime import approval_notifier, approval_services
from promotion.models.steps import RequestApprovalRequest
from promotion.runtime import attestation_key, parse_request, pipeline_configs
from promotion.settings import control_plane_settings
from promotion.steps import request_approval as request_approval_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, RequestApprovalRequest)
    notifier = approval_notifier(control_plane_settings().public_api_url)
    return request_approval_step.request_approval(
        pipeline_configs(),
        approval_services(),
        notifier,
        request=request,
        now=time.time(),
        attestation_key=attestation_key(),
    )
