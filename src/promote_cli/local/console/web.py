"""The console's HTTP side under ``/_local/console``: two pages, their JSON, and the static files.

- ``/_local/console/``: the executions; ``/_local/console/executions/{URL-encoded ARN}``: one execution
  (the address ``promotion.console.execution_console_url`` gives every link on the local plane).
- ``/_local/console/api/executions`` and ``/_local/console/api/executions/{URL-encoded ARN}``: the JSON the
  pages fetch (again every few seconds while something runs).
- ``/_local/console/static/{name}``: the pages' script and style, and the vendored dagre (layout).

Pages carry a Content-Security-Policy that allows scripts and styles from this origin only: nothing inline,
nothing from elsewhere (the console works offline).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import unquote

from promote_cli.local.console.service import ExecutionConsole
from promotion.console import EXECUTIONS_PATH

PREFIX = "/_local/console"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# The files a page may load; nothing else in the package is served.
STATIC_FILES = ("console.js", "console.css", "dagre.min.js")
_COMMON_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


@dataclass(frozen=True)
class ConsoleResponse:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def base_url(api_url: str) -> str:
    """The console's address on a local plane serving at ``api_url`` (what its handlers link to)."""
    return f"{api_url.rstrip('/')}{PREFIX}"


class ConsoleRoutes:
    def __init__(self, console: ExecutionConsole) -> None:
        self._console = console

    def handle(self, method: str, path: str) -> ConsoleResponse | None:
        """The answer for ``path`` (raw, still URL-encoded), or None when the path is not the console's."""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return None
        try:
            return self._answer(method, path)
        except Exception as error:  # one broken page must not take the plane's HTTP thread with it
            print(f"local-console: {method} {path}: {type(error).__name__}: {error}", file=sys.stderr)
            return _json(500, {"message": "Internal Server Error"})

    def _answer(self, method: str, path: str) -> ConsoleResponse:
        if method not in ("GET", "HEAD"):
            return _json(405, {"message": "Method Not Allowed"}, allow="GET, HEAD")
        rest = path[len(PREFIX) :].strip("/")
        if rest == "":
            return _page("Promotions", "list", api=f"{PREFIX}/api/{EXECUTIONS_PATH}")
        if rest == f"api/{EXECUTIONS_PATH}":
            return _json(200, self._console.executions())
        kind, _, encoded = rest.partition(f"{EXECUTIONS_PATH}/")
        if kind in ("", "api/") and encoded and "/" not in encoded:
            arn = unquote(encoded)
            document = self._console.execution(arn) if kind == "api/" else self._console.summary(arn)
            if document is None:
                return _json(404, {"message": f"no execution {arn}"})
            if kind == "api/":
                return _json(200, document)
            return _page(
                f"{document['name']} ({document['status'].lower()})",
                "execution",
                api=f"{PREFIX}/api/{EXECUTIONS_PATH}/{encoded}",
            )
        if rest.startswith("static/") and rest[len("static/") :] in STATIC_FILES:
            return _static(rest[len("static/") :])
        return _json(404, {"message": "Not Found"})


def _page(title: str, kind: str, *, api: str) -> ConsoleResponse:
    """A page shell; console.js fills it from ``api`` (no inline script or style: the CSP forbids them)."""
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="stylesheet" href="{PREFIX}/static/console.css">
<script src="{PREFIX}/static/dagre.min.js" defer></script>
<script src="{PREFIX}/static/console.js" defer></script>
</head>
<body>
<header><a href="{PREFIX}/">Promotions</a> <span class="plane">local control plane</span></header>
<main id="console" data-page="{escape(kind)}" data-api="{escape(api)}" data-base="{PREFIX}">
<p class="loading">Loading…</p>
</main>
</body>
</html>
"""
    headers = {
        **_COMMON_HEADERS,
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "cache-control": "no-store",
    }
    return ConsoleResponse(200, "text/html; charset=utf-8", html.encode(), headers)


def _json(status: int, document: Any, *, allow: str | None = None) -> ConsoleResponse:
    headers = {**_COMMON_HEADERS, "cache-control": "no-store"}
    if allow:
        headers["allow"] = allow
    return ConsoleResponse(status, "application/json", json.dumps(document, default=str).encode(), headers)


def _static(name: str) -> ConsoleResponse:
    body = resources.files("promote_cli.local.console").joinpath("static", name).read_bytes()
    suffix = name[name.rindex(".") :]
    return ConsoleResponse(200, STATIC_TYPES[suffix], body, dict(_COMMON_HEADERS))
