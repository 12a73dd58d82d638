"""GitHub webhook: verify a delivery's signature, record it, and start at most one promotion per commit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, metrics

from aws_lambda_powertools.logging import correlation_paths

from promotion.github.runtime import webhook_deps
from promotion.http.webhook_routes import build_resolver

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = build_resolver(webhook_deps(), metrics)


# log_event stays off: an unverified body is anyone's text, and it is never logged.
@entry_point(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
