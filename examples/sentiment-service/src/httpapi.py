"""The little of API Gateway's HTTP API (payload format 2.0) that the handlers need."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

JSON_HEADERS = {"content-type": "application/json"}


class BadRequest(ValueError):
    """The request cannot be served as sent: answered with 400 and the message."""


def request_event(
    method: str, path: str, body: str | None = None, *, base64_body: bool = False
) -> dict[str, Any]:
    """The event API Gateway's HTTP API sends a function for ``method path`` (what a test invokes it with)."""
    if body is not None and base64_body:
        body = base64.b64encode(body.encode()).decode()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": dict(JSON_HEADERS),
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": body,
        "isBase64Encoded": base64_body,
    }


def is_http_event(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and isinstance(event.get("requestContext"), dict)
        and isinstance(event["requestContext"].get("http"), dict)
    )


def route(event: dict[str, Any]) -> tuple[str, str]:
    """The request's method and path; a trailing slash does not make another route."""
    method = str(event["requestContext"]["http"].get("method", "")).upper()
    path = str(event.get("rawPath") or event["requestContext"]["http"].get("path") or "/")
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return method, path


def json_body(event: dict[str, Any]) -> Any:
    """The request's body parsed as JSON; ``BadRequest`` when it is missing or not JSON."""
    body = event.get("body")
    if body is None or body == "":
        raise BadRequest("request body is required")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise BadRequest("request body is not valid base64") from error
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest(f"request body is not JSON: {error}") from error


def response(status: int, document: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": dict(JSON_HEADERS), "body": json.dumps(document)}


def not_found(method: str, path: str) -> dict[str, Any]:
    return response(404, {"error": f"no route for {method} {path}"})
