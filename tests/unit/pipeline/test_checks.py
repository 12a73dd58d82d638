"""HTTP checks: judging answers, sending them over HTTP or to an exact Lambda version, and the report."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from promotion.models.config import HttpCheck
from promotion.pipeline.checks import (
    CheckResponse,
    CheckTransportError,
    HttpTransport,
    LambdaVersionTransport,
    VersionTarget,
    evaluate,
    http_api_event,
    run_checks,
)


def check(**fields: Any) -> HttpCheck:
    return HttpCheck.model_validate({"name": "c", "path": "/health", **fields})


# ---- evaluate ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "response", "verdict"),
    [
        ({}, CheckResponse(200, ""), None),
        ({}, CheckResponse(503, "down"), "status 503, expected 200"),
        ({"expect_status": 404}, CheckResponse(404, ""), None),
        ({"expect_status": 404}, CheckResponse(200, ""), "status 200, expected 404"),
        ({"expect_body_contains": "pong"}, CheckResponse(200, "ping pong"), None),
        ({"expect_body_contains": "pong"}, CheckResponse(200, "ping"), "body does not contain 'pong'"),
        ({"expect_json": {"status": "ok"}}, CheckResponse(200, '{"status": "ok", "v": 1}'), None),
        (
            {"expect_json": {"status": "ok"}},
            CheckResponse(200, '{"status": "down"}'),
            "JSON 'status' is 'down', expected 'ok'",
        ),
        ({"expect_json": {"status": "ok"}}, CheckResponse(200, '{"state": "ok"}'), "JSON has no 'status'"),
        ({"expect_json": {"status": "ok"}}, CheckResponse(200, "<html>ok</html>"), "body is not JSON"),
        ({"expect_json": {"status": "ok"}}, CheckResponse(200, '["ok"]'), "body is not a JSON object"),
        (
            {"expect_json": {"count": 1}},
            CheckResponse(200, '{"count": "1"}'),
            "JSON 'count' is '1', expected 1",
        ),
        # JSON's true is not the number 1 (Python's == says it is)
        (
            {"expect_json": {"healthy": True}},
            CheckResponse(200, '{"healthy": 1}'),
            "JSON 'healthy' is 1, expected True",
        ),
        (
            {"expect_json": {"replicas": 1}},
            CheckResponse(200, '{"replicas": true}'),
            "JSON 'replicas' is True, expected 1",
        ),
        (
            {"expect_json": {"flags": [True, 0]}},
            CheckResponse(200, '{"flags": [1, false]}'),
            "JSON 'flags' is [1, False], expected [True, 0]",
        ),
        ({"expect_json": {"ratio": 1}}, CheckResponse(200, '{"ratio": 1.0}'), None),
        ({"expect_json": {"nested": {"ok": True}}}, CheckResponse(200, '{"nested": {"ok": true}}'), None),
        # status is judged first: a 500 with the right body still fails on its status
        (
            {"expect_json": {"status": "ok"}},
            CheckResponse(500, '{"status": "ok"}'),
            "status 500, expected 200",
        ),
    ],
)
def test_evaluate(spec: dict[str, Any], response: CheckResponse, verdict: str | None) -> None:
    assert evaluate(check(**spec), response) == verdict


# ---- HttpTransport against a real local HTTP server ------------------------------------------
class _ServiceHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/base/health":
            self._answer(200, {"status": "ok"})
        elif self.path == "/base/moved":
            self._answer(302, {}, {"location": "/base/health"})
        else:
            self._answer(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        received = json.loads(self.rfile.read(length) or b"null")
        self._answer(
            200,
            {
                "path": self.path,
                "received": received,
                "content_type": self.headers.get("content-type"),
                "x_check": self.headers.get("x-check"),
            },
        )


@pytest.fixture
def service_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ServiceHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    yield f"http://127.0.0.1:{port}/base/"
    server.shutdown()
    server.server_close()


def test_http_transport_sends_the_request_and_returns_the_answer(service_url: str) -> None:
    transport = HttpTransport(service_url)
    assert transport.describe() == service_url.rstrip("/")

    health = transport.send(check())
    assert health.status == 200
    assert json.loads(health.body) == {"status": "ok"}

    posted = transport.send(
        check(method="POST", path="/score", json={"text": "hello"}, headers={"X-Check": "yes"})
    )
    assert json.loads(posted.body) == {
        "path": "/base/score",
        "received": {"text": "hello"},
        "content_type": "application/json",
        "x_check": "yes",
    }


def test_http_transport_does_not_follow_redirects(service_url: str) -> None:
    # A redirect is an answer to judge, not a hop to somewhere the check did not name.
    answer = HttpTransport(service_url).send(check(path="/moved"))
    assert answer.status == 302


def test_http_checks_pass_and_fail_in_one_report(service_url: str) -> None:
    checks = [check(name="health", expect_json={"status": "ok"}), check(name="missing", path="/nope")]
    report = run_checks(checks, HttpTransport(service_url), suite="integration", environment="preprod")
    assert report.passed is False
    assert [(r.name, r.passed, r.status, r.detail) for r in report.results] == [
        ("health", True, 200, "ok"),
        ("missing", False, 404, "status 404, expected 200"),
    ]
    assert report.summary() == (
        f"1/2 integration checks failed on {service_url.rstrip('/')}: missing: status 404, expected 200"
    )


def test_no_answer_at_all_is_a_failed_check() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _ServiceHandler) as closed:
        port = closed.server_address[1]
    # the server is closed: nothing listens on the port any more
    transport = HttpTransport(f"http://127.0.0.1:{port}")
    with pytest.raises(CheckTransportError, match="ConnectionError"):
        transport.send(check(timeout_seconds=2))
    report = run_checks([check(name="health")], transport, suite="integration", environment="preprod")
    assert report.passed is False
    assert report.results[0].status is None
    assert report.results[0].detail.startswith("no answer: ConnectionError")


# ---- LambdaVersionTransport -----------------------------------------------------------------
class FakeLambda:
    """Records invocations and answers with queued payloads."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.calls: list[dict[str, Any]] = []
        self._answers = list(answers)

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        answer = self._answers.pop(0)
        response: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": io.BytesIO(json.dumps(answer["payload"]).encode()),
        }
        if "error" in answer:
            response["FunctionError"] = answer["error"]
        return response


TARGETS = {
    "api": VersionTarget("svc-sentiment-prod-api", "7"),
    "worker": VersionTarget("svc-sentiment-prod-worker", "5"),
}


def test_lambda_transport_invokes_the_exact_version_with_an_http_api_event() -> None:
    fake = FakeLambda(
        {"payload": {"statusCode": 201, "body": '{"label": "positive"}', "headers": {"a": "b"}}}
    )
    transport = LambdaVersionTransport(fake, TARGETS, default_key="api")

    answer = transport.send(check(method="POST", path="/score?lang=en", json={"text": "great"}))

    assert answer == CheckResponse(201, '{"label": "positive"}', {"a": "b"})
    (call,) = fake.calls
    assert call["FunctionName"] == "svc-sentiment-prod-api"
    assert call["Qualifier"] == "7"  # the new version itself, never the alias
    event = json.loads(call["Payload"])
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/score"
    assert event["rawQueryString"] == "lang=en"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["path"] == "/score"
    assert event["headers"]["content-type"] == "application/json"
    assert json.loads(event["body"]) == {"text": "great"}
    assert event["isBase64Encoded"] is False
    assert transport.describe() == "svc-sentiment-prod-api:7, svc-sentiment-prod-worker:5"


def test_a_check_naming_a_function_goes_to_that_function() -> None:
    fake = FakeLambda({"payload": {"statusCode": 200, "body": '{"status": "ok"}'}})
    LambdaVersionTransport(fake, TARGETS, default_key="api").send(check(function="worker"))
    assert (fake.calls[0]["FunctionName"], fake.calls[0]["Qualifier"]) == ("svc-sentiment-prod-worker", "5")


def test_a_function_error_fails_the_check() -> None:
    crash = {"errorType": "DependencyUnavailable", "errorMessage": "prod-only dependency is unavailable"}
    fake = FakeLambda({"payload": crash, "error": "Unhandled"})
    report = run_checks(
        [check(name="health", expect_json={"status": "ok"})],
        LambdaVersionTransport(fake, TARGETS, default_key="api"),
        suite="canary",
        environment="prod",
    )
    assert report.passed is False
    (result,) = report.results
    assert result.status == 502
    assert result.detail == "status 502, expected 200"
    assert "1/1 canary checks failed" in report.summary()


def test_a_plain_json_answer_is_a_200_with_that_body() -> None:
    # HTTP API payload 2.0 turns a result without statusCode into a 200 whose body is the JSON.
    fake = FakeLambda({"payload": {"status": "ok"}})
    answer = LambdaVersionTransport(fake, TARGETS, default_key="api").send(check())
    assert answer.status == 200
    assert json.loads(answer.body) == {"status": "ok"}


def test_a_base64_encoded_answer_is_judged_on_its_decoded_body() -> None:
    # What API Gateway would decode before the client sees it (binary or compressed answers)
    body = base64.b64encode(b'{"status": "ok"}').decode()
    fake = FakeLambda({"payload": {"statusCode": 200, "body": body, "isBase64Encoded": True}})
    answer = LambdaVersionTransport(fake, TARGETS, default_key="api").send(check())
    assert json.loads(answer.body) == {"status": "ok"}
    assert evaluate(check(expect_json={"status": "ok"}), answer) is None


def test_a_body_claiming_base64_that_is_not_fails_the_check() -> None:
    fake = FakeLambda({"payload": {"statusCode": 200, "body": "not base64!", "isBase64Encoded": True}})
    answer = LambdaVersionTransport(fake, TARGETS, default_key="api").send(check())
    assert answer.status == 502
    assert evaluate(check(), answer) == "status 502, expected 200"


def test_an_invoke_that_raises_is_no_answer() -> None:
    class Unreachable:
        def invoke(self, **kwargs: Any) -> Any:
            raise RuntimeError("endpoint unreachable")

    transport = LambdaVersionTransport(Unreachable(), TARGETS, default_key="api")
    with pytest.raises(CheckTransportError, match="invoke svc-sentiment-prod-api:7: endpoint unreachable"):
        transport.send(check())


def test_http_api_event_without_a_body() -> None:
    event = http_api_event(check(headers={"X-Trace": "1"}))
    assert event["body"] is None
    assert event["headers"] == {"x-trace": "1"}
    assert event["requestContext"]["http"]["method"] == "GET"


# ---- the report ----------------------------------------------------------------------------
class ScriptedTransport:
    def __init__(self, answers: dict[str, CheckResponse]) -> None:
        self._answers = answers

    def describe(self) -> str:
        return "scripted"

    def send(self, check: HttpCheck) -> CheckResponse:
        return self._answers[check.name]


def test_run_checks_times_each_check_with_the_given_clock() -> None:
    ticks = iter([10.0, 10.25, 20.0, 20.5])
    report = run_checks(
        [check(name="a"), check(name="b")],
        ScriptedTransport({"a": CheckResponse(200, ""), "b": CheckResponse(200, "")}),
        suite="canary",
        environment="prod",
        clock=lambda: next(ticks),
    )
    assert [r.duration_ms for r in report.results] == [250, 500]
    assert report.passed is True
    assert report.summary() == "2/2 canary checks passed on scripted"
    assert (report.suite, report.environment, report.target) == ("canary", "prod", "scripted")
