"""GitHub webhook: verify a delivery's signature, record it, and start at most one promotion per commit."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from promotion.github.runtime import webhook_deps
from promotion.http.webhook_routes import build_resolver
from promotion.observability import logger, metrics, tracer

app = build_resolver(webhook_deps(), metrics)


# log_event stays off: an unverified body is anyone's text, and it is never logged.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
