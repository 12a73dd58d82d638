"""The webhook's Lambda handler under fuzzed headers and bodies: never a 5xx, never a start without a valid
signature.

The real ``functions/github_webhook/app.py`` runs with its real collaborators (powertools parameters, SSM,
Secrets Manager, DynamoDB, Step Functions) on moto in this process, fed API Gateway HTTP API events.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from promote_cli.local.sample import SAMPLE_DIR
from promotion import runtime
from promotion.adapters import aws
from promotion.github import runtime as github_runtime
from promotion.settings import ControlPlaneSettings, control_plane_settings
from tests.support.github import (
    SAMPLE_REPO,
    body_of,
    event_of,
    fixture,
    new_sha,
    push_payload,
    webhook_fixture_names,
    workflow_run_payload,
)
from tests.support.paths import REPO_ROOT

HANDLER = REPO_ROOT / "functions" / "github_webhook" / "app.py"
REGION = "us-east-1"
STACK = "fuzz"
PIPELINE = "sentiment-service"
SECRET = "fuzzing-webhook-secret-0123456789abcdef"
FUZZ_EXAMPLES = 2000


@dataclass(frozen=True)
class LambdaContext:
    function_name: str = "fuzz-GitHubWebhookFunction"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:fuzz-GitHubWebhookFunction"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "fuzz"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass
class Handler:
    invoke: Any
    sfn: Any
    state_machine_arn: str
    # Successful StartExecution calls the handler's own client made (counted by a botocore hook on it).
    starts: list[str]

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        return dict(self.invoke(event, LambdaContext()))

    def execution_count(self) -> int:
        pages = self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn)
        return sum(len(page["executions"]) for page in pages)


def _clear_caches() -> None:
    for cached in (
        control_plane_settings,
        runtime.pipeline_configs,
        github_runtime.webhook_deps,
        aws.client,
        aws.table,
    ):
        cached.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    from aws_lambda_powertools.utilities.parameters import base

    base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]


@contextmanager
def webhook_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[Handler]:
    """The real handler, loaded with its environment pointing at moto's in-process AWS."""
    monkeypatch.delenv(
        "AWS_ENDPOINT_URL", raising=False
    )  # a local plane in this session must not get the calls
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # Every variable the settings require gets a harmless value; the webhook's own get real ones below.
    for field in ControlPlaneSettings.model_fields.values():
        if field.is_required() and field.alias:
            monkeypatch.setenv(field.alias, "unused")
    with mock_aws():
        _clear_caches()
        prefix = f"/{STACK}/pipelines/"
        text = (SAMPLE_DIR / "pipeline.local.json").read_text()
        text = text.replace("${ARTIFACT_BUCKET}", "artifacts").replace(
            "${LOCAL_API_URL}", "http://127.0.0.1:9"
        )
        document = json.loads(text)
        document["github"]["push_triggers"] = True
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name=prefix + PIPELINE, Value=json.dumps(document), Type="String"
        )
        secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=f"{STACK}/github/webhook/default",
            SecretString=json.dumps({"current": SECRET, "previous": ""}),
        )["ARN"]
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=f"{STACK}-webhook-deliveries",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine_arn = sfn.create_state_machine(
            name=f"{STACK}-promotion",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/fuzz",
        )["stateMachineArn"]
        for name, value in {
            "STACK_NAME": STACK,
            "PIPELINE_CONFIG_PREFIX": prefix,
            "DELIVERIES_TABLE": f"{STACK}-webhook-deliveries",
            "STATE_MACHINE_ARN": machine_arn,
            "GITHUB_WEBHOOK_SECRET_ID": secret_arn,
        }.items():
            monkeypatch.setenv(name, value)
        spec = importlib.util.spec_from_file_location("github_webhook_app_under_test", HANDLER)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        starts: list[str] = []

        def count_start(parsed: dict[str, Any], **_: Any) -> None:
            if "executionArn" in parsed:
                starts.append(str(parsed["executionArn"]))

        github_runtime.webhook_deps().sfn.meta.events.register("after-call.sfn.StartExecution", count_start)
        try:
            yield Handler(module.lambda_handler, sfn, machine_arn, starts)
        finally:
            _clear_caches()


def api_event(*, pipeline: str, headers: dict[str, str], body: str | None, is_base64: bool) -> dict[str, Any]:
    """The HTTP API (payload 2.0) event for ``POST /webhooks/github/{pipeline}``."""
    path = f"/webhooks/github/{pipeline}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "POST /webhooks/github/{pipeline}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "pathParameters": {"pipeline": pipeline},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "fuzz",
            "domainName": "fuzz.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "POST /webhooks/github/{pipeline}",
            "stage": "$default",
            "time": "26/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_800_000_000_000,
        },
        "isBase64Encoded": is_base64,
    }
    if body is not None:
        event["body"] = body
    return event


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def received_bytes(body: str | None, is_base64: bool) -> bytes | None:
    """The bytes the function verifies, decoded from the event independently of the code under test."""
    if not body:
        return b""
    if not is_base64:
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        return None


def test_a_signed_build_of_main_starts_through_the_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    with webhook_handler(monkeypatch) as handler:
        body = body_of(workflow_run_payload(sha=new_sha()))
        headers = {
            "content-type": "application/json",
            "x-github-event": "workflow_run",
            "x-github-delivery": str(uuid.uuid4()),
            "x-hub-signature-256": signature(body),
        }
        answer = handler.call(
            api_event(pipeline=PIPELINE, headers=headers, body=body.decode(), is_base64=False)
        )
        assert answer["statusCode"] == 201, answer
        assert json.loads(answer["body"])["status"] == "started"
        assert handler.execution_count() == 1
        # API Gateway may hand over the same bytes base64-encoded; they verify the same
        second = body_of(workflow_run_payload(sha=new_sha()))
        headers.update({"x-hub-signature-256": signature(second), "x-github-delivery": str(uuid.uuid4())})
        encoded = base64.b64encode(second).decode()
        answer = handler.call(api_event(pipeline=PIPELINE, headers=headers, body=encoded, is_base64=True))
        assert answer["statusCode"] == 201, answer
        assert handler.execution_count() == 2


# ---- the fuzz --------------------------------------------------------------------------------------
HEADER_NAMES = [
    "content-type",
    "x-github-event",
    "x-github-delivery",
    "x-hub-signature-256",
    "x-hub-signature",
    "user-agent",
    "content-length",
]
EVENTS = ["workflow_run", "push", "ping", "pull_request", "release", "", "WORKFLOW_RUN", "issues"]


@st.composite
def payload_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """Real payloads and their event, some made startable (a build or push of main), random fields changed."""
    kind = draw(st.sampled_from(["startable_run", "startable_push", "fixture"]))
    # Drawn, not random: hypothesis must be able to replay every case.
    sha = draw(st.binary(min_size=20, max_size=20)).hex()
    if kind == "startable_run":
        event, payload = "workflow_run", workflow_run_payload(sha=sha)
    elif kind == "startable_push":
        event, payload = "push", push_payload(sha=sha)
    else:
        name = draw(st.sampled_from(webhook_fixture_names()))
        event, payload = event_of(name), fixture(name)
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        path = draw(
            st.sampled_from(
                [
                    ("action",),
                    ("ref",),
                    ("after",),
                    ("repository",),
                    ("repository", "full_name"),
                    ("workflow_run",),
                    ("workflow_run", "head_sha"),
                    ("workflow_run", "head_branch"),
                    ("workflow_run", "conclusion"),
                    ("workflow_run", "event"),
                    ("workflow_run", "head_repository"),
                    ("workflow_run", "pull_requests"),
                    ("head_commit",),
                ]
            )
        )
        value = draw(
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(),
                st.text(max_size=50),
                st.lists(st.integers(), max_size=3),
                st.just({"full_name": SAMPLE_REPO}),
                st.just("0" * 40),
                st.just("main"),
            )
        )
        target: Any = payload
        for key in path[:-1]:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[path[-1]] = value
    return event, body_of(payload)


bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=20,
    ).map(lambda document: json.dumps(document).encode()),
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, dict[str, str], str | None, bool]:
    if draw(st.booleans()):
        return draw(well_formed_deliveries())
    raw = draw(st.one_of(payload_bodies().map(lambda pair: pair[1]), bodies))
    headers = {
        name: draw(st.text(max_size=80))
        for name in draw(st.lists(st.sampled_from(HEADER_NAMES), unique=True, max_size=len(HEADER_NAMES)))
    }
    if draw(st.booleans()):
        headers["content-type"] = draw(
            st.sampled_from(["application/json", "application/json; charset=utf-8"])
        )
    if draw(st.booleans()):
        headers["x-github-event"] = draw(st.sampled_from(EVENTS))
    if draw(st.booleans()):
        headers["x-github-delivery"] = draw(st.one_of(st.uuids().map(str), st.text(max_size=20)))
    signing = draw(st.sampled_from(["valid", "valid_other_body", "garbage", "absent", "sha1_only"]))
    if signing == "valid":
        headers["x-hub-signature-256"] = signature(raw)
    elif signing == "valid_other_body":
        headers["x-hub-signature-256"] = signature(raw + b" ")
    elif signing == "absent":
        headers.pop("x-hub-signature-256", None)
    elif signing == "sha1_only":
        headers.pop("x-hub-signature-256", None)
        headers["x-hub-signature"] = "sha1=" + hmac.new(SECRET.encode(), raw, hashlib.sha1).hexdigest()
    extra = draw(
        st.dictionaries(st.text(min_size=1, max_size=20).map(str.lower), st.text(max_size=40), max_size=3)
    )
    headers = {**extra, **headers}
    encoding = draw(st.sampled_from(["text", "base64", "broken_base64", "none"]))
    if encoding == "base64":
        body: str | None = base64.b64encode(raw).decode()
    elif encoding == "broken_base64":
        body = draw(st.text(max_size=60))
    elif encoding == "none":
        body = None
    else:
        body = raw.decode("utf-8", "surrogateescape")
    pipeline = draw(st.sampled_from([PIPELINE, PIPELINE, PIPELINE, "unknown-pipeline", "Bad Name"]))
    return pipeline, headers, body, encoding in ("base64", "broken_base64")


@st.composite
def well_formed_deliveries(draw: st.DrawFn) -> tuple[str, dict[str, str], str | None, bool]:
    """Deliveries as GitHub sends them (real payload, matching event, JSON), signed right or wrong."""
    event, raw = draw(payload_bodies())
    headers = {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": str(draw(st.uuids())),
        "user-agent": "GitHub-Hookshot/0d2a1a7",
    }
    signing = draw(st.sampled_from(["valid", "valid", "other_secret", "other_body", "absent", "flipped"]))
    if signing == "valid":
        headers["x-hub-signature-256"] = signature(raw)
    elif signing == "other_secret":
        headers["x-hub-signature-256"] = (
            "sha256=" + hmac.new(b"not-the-secret", raw, hashlib.sha256).hexdigest()
        )
    elif signing == "other_body":
        headers["x-hub-signature-256"] = signature(raw + draw(st.binary(min_size=1, max_size=4)))
    elif signing == "flipped":
        good = signature(raw)
        position = draw(st.integers(len("sha256="), len(good) - 1))
        digit = draw(st.sampled_from("0123456789abcdef").filter(lambda d: d != good[position]))
        headers["x-hub-signature-256"] = good[:position] + digit + good[position + 1 :]
    is_base64 = draw(st.booleans())
    body = base64.b64encode(raw).decode() if is_base64 else raw.decode("utf-8")
    return PIPELINE, headers, body, is_base64


def test_fuzzed_deliveries_never_get_a_5xx_and_never_start_without_a_valid_signature(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    valid_starts = [0]
    validly_signed_cases = [0]
    statuses: set[int] = set()
    with webhook_handler(monkeypatch) as handler:

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            database=None,
        )
        @given(case=deliveries())
        def deliver(case: tuple[str, dict[str, str], str | None, bool]) -> None:
            pipeline, headers, body, is_base64 = case
            before = len(handler.starts)

            answer = handler.call(
                api_event(pipeline=pipeline, headers=headers, body=body, is_base64=is_base64)
            )

            status = int(answer["statusCode"])
            statuses.add(status)
            assert status < 500, answer
            started = len(handler.starts) - before
            raw = received_bytes(body, is_base64)
            header = headers.get("x-hub-signature-256", "")
            expected = signature(raw).encode() if raw is not None else b""
            validly_signed = raw is not None and hmac.compare_digest(
                header.lower().encode("utf-8", "surrogatepass"), expected
            )
            validly_signed_cases[0] += validly_signed
            if not validly_signed or pipeline != PIPELINE:
                assert started == 0, (status, answer["body"])
            else:
                assert started in (0, 1)
                valid_starts[0] += started
            if started:
                assert status == 201

        deliver()
        # The hook saw every execution there is.
        assert handler.execution_count() == len(handler.starts) == valid_starts[0]

    # The fuzz reached the interesting paths: real starts with valid signatures, and the refusals.
    assert validly_signed_cases[0] > FUZZ_EXAMPLES // 10
    assert valid_starts[0] >= 20
    assert {201, 202, 400, 401, 404}.issubset(statuses)
