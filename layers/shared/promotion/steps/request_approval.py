"""The step behind functions/request_approval: typed request in, typed result out."""

from __future__ import annotations

from typing import Any

from promotion.adapters.config_store import PipelineConfigStore
from promotion.approvals import request as approval_request
from promotion.approvals.collaborators import ApprovalServices, Notifier
from promotion.github.attestation import trusted_input
from promotion.models.steps import (
    RequestApprovalRequest,
)


def request_approval(
    configs: PipelineConfigStore,
    services: ApprovalServices,
    notifier: Notifier,
    *,
    request: RequestApprovalRequest,
    now: float,
    attestation_key: bytes,
) -> dict[str, Any]:
    config = configs.get(request.pipeline)
    # Only facts the webhook attested, for this very execution, count as verified (the two-person rule
    # relies on them); the name and ARN come from the context object ($$.Execution), not from the input.
    trusted_execution_input = trusted_input(
        request.execution_input,
        attestation_key,
        execution_arn=request.execution_arn,
        execution_name=request.execution_name,
    )
    trusted = request.model_copy(update={"execution_input": trusted_execution_input})
    return approval_request.request_approval(config, services, notifier, request=trusted, now=now)
