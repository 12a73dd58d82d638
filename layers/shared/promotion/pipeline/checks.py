"""Running a pipeline's HTTP checks against an environment and reporting each result.

Two transports send the same checks: over HTTP to an environment's URL (integration tests on preprod), and
as API Gateway HTTP API events invoked on an exact function version (the prod canary, which must test the
new version itself, not whatever an alias routes to).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import requests

from promotion.models.config import Environment, HttpCheck
from promotion.models.execution import CheckReport, CheckResult


@dataclass(frozen=True)
class CheckResponse:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class CheckTransport(Protocol):
    """Sends one check; raises ``CheckTransportError`` when no answer comes back at all."""

    def describe(self) -> str: ...

    def send(self, check: HttpCheck) -> CheckResponse: ...


class CheckTransportError(Exception):
    pass


class HttpTransport:
    def __init__(self, base_url: str, session: requests.Session | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._session = session or requests.Session()

    def describe(self) -> str:
        return self._base_url

    def send(self, check: HttpCheck) -> CheckResponse:
        try:
            response = self._session.request(
                check.method,
                self._base_url + check.path,
                json=check.json_body,
                headers=check.headers,
                timeout=check.timeout_seconds,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise CheckTransportError(f"{type(error).__name__}: {error}") from error
        return CheckResponse(response.status_code, response.text, dict(response.headers))


@dataclass(frozen=True)
class VersionTarget:
    function_name: str
    version: str


class LambdaVersionTransport:
    """Invokes ``function:version`` with the event API Gateway (HTTP API, payload 2.0) would send."""

    def __init__(self, lambda_client: Any, targets: dict[str, VersionTarget], default_key: str) -> None:
        self._lambda = lambda_client
        self._targets = targets
        self._default_key = default_key

    def describe(self) -> str:
        return ", ".join(f"{t.function_name}:{t.version}" for _, t in sorted(self._targets.items()))

    def send(self, check: HttpCheck) -> CheckResponse:
        target = self._targets[check.function or self._default_key]
        try:
            response = self._lambda.invoke(
                FunctionName=target.function_name,
                Qualifier=target.version,
                Payload=json.dumps(http_api_event(check)).encode(),
            )
        except Exception as error:
            raise CheckTransportError(f"invoke {target.function_name}:{target.version}: {error}") from error
        payload = response["Payload"].read().decode("utf-8", "replace")
        if response.get("FunctionError"):
            return CheckResponse(502, f"function error: {payload[:500]}")
        return _decode_proxy_result(payload)


def http_api_event(check: HttpCheck) -> dict[str, Any]:
    path, _, query = check.path.partition("?")
    body = json.dumps(check.json_body) if check.json_body is not None else None
    headers = {k.lower(): v for k, v in check.headers.items()}
    if body is not None:
        headers.setdefault("content-type", "application/json")
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "http": {
                "method": check.method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "release-promotion-canary",
            },
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _decode_proxy_result(payload: str) -> CheckResponse:
    try:
        result = json.loads(payload)
    except json.JSONDecodeError:
        return CheckResponse(200, payload)
    if isinstance(result, dict) and "statusCode" in result:
        body = str(result.get("body") or "")
        if result.get("isBase64Encoded"):
            # API Gateway decodes these before any client sees them; the check judges what a client gets.
            try:
                body = base64.b64decode(body, validate=True).decode("utf-8", "replace")
            except ValueError:
                return CheckResponse(502, "function error: isBase64Encoded body is not base64")
        return CheckResponse(int(result["statusCode"]), body, dict(result.get("headers") or {}))
    # HTTP API payload 2.0 treats any other JSON as a 200 with that body.
    return CheckResponse(200, payload)


def evaluate(check: HttpCheck, response: CheckResponse) -> str | None:
    """Why ``response`` fails ``check``, or None when it passes."""
    if response.status != check.expect_status:
        return f"status {response.status}, expected {check.expect_status}"
    if check.expect_body_contains is not None and check.expect_body_contains not in response.body:
        return f"body does not contain {check.expect_body_contains!r}"
    if check.expect_json:
        try:
            document = json.loads(response.body)
        except json.JSONDecodeError:
            return "body is not JSON"
        if not isinstance(document, dict):
            return "body is not a JSON object"
        for key, expected in check.expect_json.items():
            if key not in document:
                return f"JSON has no {key!r}"
            if not _json_equal(document[key], expected):
                return f"JSON {key!r} is {document[key]!r}, expected {expected!r}"
    return None


def _json_equal(actual: Any, expected: Any) -> bool:
    """Equality as JSON means it: Python's ``==`` takes ``true`` for ``1`` and ``false`` for ``0``."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(_json_equal(actual[k], expected[k]) for k in actual)
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(_json_equal, actual, expected))
    return bool(actual == expected)


def run_checks(
    checks: list[HttpCheck],
    transport: CheckTransport,
    *,
    suite: Literal["integration", "canary"],
    environment: Environment,
    clock: Callable[[], float] = time.monotonic,
) -> CheckReport:
    results = []
    for check in checks:
        started = clock()
        try:
            response = transport.send(check)
        except CheckTransportError as error:
            failure: str | None = f"no answer: {error}"
            status: int | None = None
        else:
            failure = evaluate(check, response)
            status = response.status
        results.append(
            CheckResult(
                name=check.name,
                passed=failure is None,
                status=status,
                duration_ms=int((clock() - started) * 1000),
                detail=failure or "ok",
            )
        )
    return CheckReport(
        suite=suite,
        environment=environment,
        target=transport.describe(),
        passed=all(result.passed for result in results),
        results=results,
    )
