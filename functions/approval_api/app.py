"""Approval API: the confirmation page behind each approval link and the POST that decides."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point

from aws_lambda_powertools.logging import correlation_paths

from promotion.approvals.runtime import approval_services, approval_signing_key
from promotion.http.approval_routes import ApprovalApiDeps, build_resolver

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = build_resolver(ApprovalApiDeps(services=approval_services(), signing_key=approval_signing_key))


# log_event stays off: query strings carry link signatures.
@entry_point(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
