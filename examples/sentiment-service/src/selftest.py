"""The service's own tests, shipped in every build: its test Lambda and its pre-traffic hook.

The control plane invokes this function's new version with the ``release-promotion/test/v1`` contract
(docs/release-policy.md in the control plane): ``environment``, ``base_url``, ``pipeline``, ``sha``,
``versions`` and ``execution``, plus ``"hook": "pre_traffic"`` when it runs as the pre-traffic hook. It
answers ``{"passed": bool, "cases": [{"name", "passed", "detail", "seconds"}, ...]}``.

* As the test Lambda, it calls the environment's HTTP API at ``base_url``: health, a blank text refused,
  the same text scored twice alike, concurrent requests, and each answer's latency under a bound. In
  preprod the aliases moved at deploy, so ``base_url`` serves the build under test; in prod the alias still
  serves the previous build until traffic shifts (the control plane's canary checks call the new versions).
* As the pre-traffic hook, it checks this build itself, in this environment, before any traffic reaches it:
  it is the commit under test, it runs in the stage it was invoked for, the stage has the schema migrations
  the build needs, and its scorer answers.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import scoring
import variants

CONTRACT = "release-promotion/test/v1"
LATENCY_BOUND_SECONDS = 3.0
CONCURRENT_REQUESTS = 3
REQUEST_TIMEOUT_SECONDS = 5.0
SAMPLE_TEXT = "I love this service, it is fast and works great"

Case = dict[str, Any]


class Answer:
    def __init__(self, status: int, document: Any, seconds: float) -> None:
        self.status, self.document, self.seconds = status, document, seconds


def call(base_url: str, method: str, path: str, body: Any = None) -> Answer:
    if not base_url.startswith(("https://", "http://")):
        raise ValueError(f"base_url {base_url!r} is not an http(s) URL")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
        base_url.rstrip("/") + path, data=data, method=method, headers={"content-type": "application/json"}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    seconds = time.monotonic() - started
    try:
        document = json.loads(raw)
    except ValueError:
        document = raw.decode("utf-8", "replace")
    return Answer(status, document, seconds)


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


def api_cases(event: dict[str, Any]) -> list[Case]:
    base_url = str(event["base_url"])
    timings: list[float] = []

    def score(text: str) -> Answer:
        answer = call(base_url, "POST", "/score", {"text": text})
        timings.append(answer.seconds)
        return answer

    def health() -> str | None:
        answer = call(base_url, "GET", "/health")
        if answer.status != 200 or not isinstance(answer.document, dict):
            return f"status {answer.status}: {answer.document!r}"
        if answer.document.get("status") != "ok":
            return f"status is {answer.document.get('status')!r}"
        # Only preprod's aliases serve the build under test at this point (prod's move at "Shift traffic").
        if event["environment"] == "preprod" and answer.document.get("version") != event["sha"]:
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
        slowest = max(timings, default=0.0)
        if not timings:
            return "no request was timed"
        if slowest > LATENCY_BOUND_SECONDS:
            return f"slowest of {len(timings)} answers took {slowest:.2f} s (bound {LATENCY_BOUND_SECONDS} s)"
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
    cases = pre_traffic_cases(event) if event.get("hook") == "pre_traffic" else api_cases(event)
    return {"passed": all(c["passed"] for c in cases), "cases": cases}
