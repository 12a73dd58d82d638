"""The service's own tests, shipped in every build: its test Lambda and its pre-traffic hook.

The control plane invokes this function's new version with the ``release-promotion/test/v1`` contract
(docs/release-policy.md in the control plane): ``environment``, ``base_url``, ``pipeline``, ``sha``,
``versions``, ``functions`` and ``execution``, plus ``"hook": "pre_traffic"`` when it runs as the pre-traffic
hook. It answers ``{"passed": bool, "cases": [{"name", "passed", "detail", "seconds"}, ...]}``.

* As the test Lambda, it calls the api function at the version under test (``functions["api"]`` at
  ``versions["api"]``) directly, with API Gateway's HTTP API events: health (serving the commit under
  test), a blank text refused, the same text scored twice alike, concurrent requests, and each answer's
  latency under a bound. Not through ``base_url``: in prod its alias still serves the previous build until
  traffic shifts, and the tests would judge the build already live. Its role may invoke the service's
  functions (template.yaml).
* As the pre-traffic hook, it checks this build itself, in this environment, before any traffic reaches it:
  it is the commit under test, it runs in the stage it was invoked for, the stage has the schema migrations
  the build needs, and its scorer answers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpapi
import scoring
import variants

CONTRACT = "release-promotion/test/v1"
# The slowest answer the latency case allows; a stage deployed under unusual load (a benchmark) may set its
# own with the template's TestLatencyBoundSeconds parameter (the function's LATENCY_BOUND_SECONDS).
DEFAULT_LATENCY_BOUND_SECONDS = 3.0
CONCURRENT_REQUESTS = 3
REQUEST_TIMEOUT_SECONDS = 5.0
SAMPLE_TEXT = "I love this service, it is fast and works great"
API_KEY = "api"  # the key of the api function in the request's functions and versions

Case = dict[str, Any]


class Answer:
    def __init__(self, status: int, document: Any, seconds: float) -> None:
        self.status, self.document, self.seconds = status, document, seconds


class ApiUnderTest:
    """The api function at the version under test, invoked directly, as API Gateway would invoke it.

    Not through ``base_url``: in prod the alias behind it serves the previous build until traffic shifts,
    and the tests must judge the build being promoted.
    """

    def __init__(self, lambda_client: Any, function_name: str, version: str) -> None:
        self._lambda, self.function_name, self.version = lambda_client, function_name, version

    def call(self, method: str, path: str, body: Any = None) -> Answer:
        started = time.monotonic()
        response = self._lambda.invoke(
            FunctionName=self.function_name,
            Qualifier=self.version,
            Payload=json.dumps(
                httpapi.request_event(method, path, json.dumps(body) if body is not None else None)
            ).encode(),
        )
        raw = response["Payload"].read()
        seconds = time.monotonic() - started
        answer = json.loads(raw or b"null")
        if response.get("FunctionError") or not isinstance(answer, dict):
            # What API Gateway answers when the integration fails.
            return Answer(502, answer, seconds)
        try:
            document = json.loads(answer.get("body") or "null")
        except ValueError:
            document = answer.get("body")
        return Answer(int(answer.get("statusCode", 502)), document, seconds)


def api_under_test(event: dict[str, Any], lambda_client: Any) -> ApiUnderTest:
    functions, versions = event.get("functions") or {}, event.get("versions") or {}
    if API_KEY not in functions or API_KEY not in versions:
        raise ValueError(f"the request names no {API_KEY!r} function and version under test")
    return ApiUnderTest(lambda_client, str(functions[API_KEY]), str(versions[API_KEY]))


def latency_bound_seconds() -> float:
    """The stage's bound on one answer's latency: LATENCY_BOUND_SECONDS if set (a positive number)."""
    configured = os.environ.get("LATENCY_BOUND_SECONDS", "").strip()
    if not configured:
        return DEFAULT_LATENCY_BOUND_SECONDS
    bound = float(configured)
    if not bound > 0:
        raise ValueError(f"LATENCY_BOUND_SECONDS must be a positive number of seconds, not {configured!r}")
    return bound


def case(name: str, check: Callable[[], str | None]) -> Case:
    """Run one check: it returns why it failed, or None; an exception fails it with its message."""
    started = time.monotonic()
    try:
        failure = check()
    except Exception as error:
        failure = f"{type(error).__name__}: {error}"
    return {
        "name": name,
        "passed": failure is None,
        "detail": failure or "ok",
        "seconds": round(time.monotonic() - started, 3),
    }


def api_cases(event: dict[str, Any], api: ApiUnderTest) -> list[Case]:
    timings: list[float] = []

    def score(text: str) -> Answer:
        answer = api.call("POST", "/score", {"text": text})
        timings.append(answer.seconds)
        return answer

    def health() -> str | None:
        answer = api.call("GET", "/health")
        if answer.status != 200 or not isinstance(answer.document, dict):
            return f"status {answer.status}: {answer.document!r}"
        if answer.document.get("status") != "ok":
            return f"status is {answer.document.get('status')!r}"
        if answer.document.get("version") != event["sha"]:
            return f"serves version {answer.document.get('version')!r}, not {event['sha']!r}"
        return None

    def blank_text_refused() -> str | None:
        answer = score("   ")
        return None if answer.status == 400 else f"a blank text got status {answer.status}, expected 400"

    def idempotent() -> str | None:
        first, second = score(SAMPLE_TEXT), score(SAMPLE_TEXT)
        if first.status != 200 or first.document != second.document:
            return f"the same text scored {first.document!r} then {second.document!r}"
        return None

    def concurrent() -> str | None:
        with ThreadPoolExecutor(CONCURRENT_REQUESTS) as pool:
            answers = list(pool.map(score, [SAMPLE_TEXT] * CONCURRENT_REQUESTS))
        statuses = sorted(answer.status for answer in answers)
        labels = {
            str(answer.document.get("label")) for answer in answers if isinstance(answer.document, dict)
        }
        if statuses != [200] * CONCURRENT_REQUESTS or labels != {"positive"}:
            return f"{CONCURRENT_REQUESTS} concurrent requests answered {statuses}, labels {sorted(labels)}"
        return None

    def latency() -> str | None:
        bound = latency_bound_seconds()
        slowest = max(timings, default=0.0)
        if not timings:
            return "no request was timed"
        if slowest > bound:
            return f"slowest of {len(timings)} answers took {slowest:.2f} s (bound {bound:g} s)"
        return None

    return [
        case("health", health),
        case("blank-text-refused", blank_text_refused),
        case("score-idempotent", idempotent),
        case("concurrent-requests", concurrent),
        case("latency-under-bound", latency),
    ]


def pre_traffic_cases(event: dict[str, Any]) -> list[Case]:
    stage = os.environ.get("STAGE", "")

    def build_under_test() -> str | None:
        built = variants.describe()["version"]
        return None if built == event["sha"] else f"this is build {built!r}, not {event['sha']!r}"

    def stage_matches() -> str | None:
        return None if stage == event["environment"] else f"STAGE is {stage!r}, not {event['environment']!r}"

    def migrations_applied() -> str | None:
        missing = variants.missing_migrations(stage)
        return f"{stage} lacks schema migrations {missing}" if missing else None

    def scorer_answers() -> str | None:
        label = scoring.analyse(SAMPLE_TEXT)["label"]
        return None if label == "positive" else f"scored {label!r}, expected 'positive'"

    return [
        case("build-under-test", build_under_test),
        case("stage", stage_matches),
        case("migrations-applied", migrations_applied),
        case("scorer-answers", scorer_answers),
    ]


def handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or event.get("contract") != CONTRACT:
        raise ValueError(f"expected a {CONTRACT} test request")
    if event.get("hook") == "pre_traffic":
        cases = pre_traffic_cases(event)
    else:
        import boto3  # only the test run calls AWS; the hook does not pay for the import

        cases = api_cases(event, api_under_test(event, boto3.client("lambda")))
    return {"passed": all(c["passed"] for c in cases), "cases": cases}
