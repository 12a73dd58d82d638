"""The batch scorer: invoked with ``{"texts": [...]}``; also answers ``GET /health`` as an HTTP API event."""

from __future__ import annotations

from typing import Any

import httpapi
import variants

MAX_TEXTS = 100


def health() -> dict[str, Any]:
    try:
        variants.check_dependencies()
    except variants.DependencyUnavailable as error:
        return httpapi.response(500, {"status": "error", "error": str(error), **variants.describe()})
    return httpapi.response(200, {"status": "ok", **variants.describe()})


def score_batch(event: Any) -> dict[str, Any]:
    texts = event.get("texts") if isinstance(event, dict) else None
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise ValueError("expected an event {'texts': [<string>, ...]}")
    if len(texts) > MAX_TEXTS:
        raise ValueError(f"at most {MAX_TEXTS} texts per invocation, got {len(texts)}")
    variants.check_dependencies()
    return {"results": [variants.analyse(text) for text in texts]}


def handler(event: Any, context: Any) -> dict[str, Any]:
    if httpapi.is_http_event(event):
        method, path = httpapi.route(event)
        if (method, path) == ("GET", "/health"):
            return health()
        return httpapi.not_found(method, path)
    return score_batch(event)
