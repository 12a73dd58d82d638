"""The sentiment API: ``GET /health`` and ``POST /score`` behind an HTTP API (payload format 2.0)."""

from __future__ import annotations

from typing import Any

import httpapi
import variants

MAX_TEXT_LENGTH = 10_000


def health() -> dict[str, Any]:
    return httpapi.response(200, {"status": "ok", **variants.describe()})


def score_request(event: dict[str, Any]) -> dict[str, Any]:
    try:
        document = httpapi.json_body(event)
        if not isinstance(document, dict):
            raise httpapi.BadRequest("request body must be a JSON object")
        text = document.get("text")
        if not isinstance(text, str) or (not text.strip() and variants.refuses_blank_text()):
            raise httpapi.BadRequest("'text' must be a non-empty string")
        if len(text) > MAX_TEXT_LENGTH:
            raise httpapi.BadRequest(f"'text' is longer than {MAX_TEXT_LENGTH} characters")
    except httpapi.BadRequest as error:
        return httpapi.response(400, {"error": str(error)})
    return httpapi.response(200, variants.analyse(text))


ROUTES = {
    ("GET", "/health"): lambda event: health(),
    ("POST", "/score"): score_request,
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not httpapi.is_http_event(event):
        return httpapi.response(400, {"error": "expected an API Gateway HTTP API (payload 2.0) event"})
    method, path = httpapi.route(event)
    serve = ROUTES.get((method, path))
    if serve is None:
        return httpapi.not_found(method, path)
    return serve(event)
