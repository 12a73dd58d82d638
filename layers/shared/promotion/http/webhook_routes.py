"""The webhook's HTTP route, ``POST /webhooks/github/{pipeline}``, on powertools' HTTP API resolver.

The route hands the raw body bytes (the signature covers those exact bytes) and the headers to
``promotion.webhook.receive`` and turns its answer into JSON. Answers are counted per outcome.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from promotion.github.webhook import Delivery, WebhookAnswer, WebhookDeps, receive
from promotion.observability import logger

if TYPE_CHECKING:
    from promotion.github.deployment_status import MetricsSink

ROUTE = "/webhooks/github/<pipeline>"


def raw_body(body: str | None, is_base64: bool) -> bytes | None:
    """The bytes GitHub sent; None when API Gateway's base64 does not decode."""
    if not body:
        return b""
    if not is_base64:
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


def _json(answer: WebhookAnswer) -> Response[str]:
    return Response(
        status_code=answer.status,
        content_type="application/json",
        body=json.dumps(answer.body()),
        headers={"Cache-Control": "no-store"},
    )


def build_resolver(deps: WebhookDeps, metrics: MetricsSink) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.post(ROUTE)
    def github_delivery(pipeline: str) -> Response[str]:
        event = app.current_event
        body = raw_body(event.body, bool(event.is_base64_encoded))
        if body is None:
            answer = WebhookAnswer(400, "rejected", "the body could not be decoded")
        else:
            headers = {str(k).lower(): str(v) for k, v in (event.headers or {}).items()}
            answer = receive(deps, Delivery(pipeline=pipeline, headers=headers, body=body))
        try:
            metrics.add_metric(name=f"Webhook{answer.outcome.capitalize()}", unit=MetricUnit.Count, value=1)
        except Exception:  # the answer stands: a delivery is never refused for want of a metric
            logger.exception("webhook metric not recorded", extra={"outcome": answer.outcome})
        return _json(answer)

    return app
