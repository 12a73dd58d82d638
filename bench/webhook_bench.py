"""Benchmark: how long the GitHub webhook's Lambda handler takes to answer, per kind of delivery.

    .venv/bin/python bench/webhook_bench.py [--runs N]

Runs the real ``functions/github_webhook/app.py`` in this process against moto's in-process AWS (SSM,
Secrets Manager, DynamoDB, Step Functions without execution) and times ``lambda_handler`` for: the first
call (module import and clients already made; config and secret not yet cached), then warm calls of
each kind: a started promotion, a duplicate, an ignored event, a bad signature. The handler's own work plus
moto's API emulation; on AWS add each service's network round trip (one SSM and one Secrets Manager read
per cache period, two DynamoDB writes and one StartExecution per start). GitHub allows 10 s.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared"), str(ROOT / "src")]
REGION = "us-east-1"
STACK = "bench"
SECRET = "bench-webhook-secret-0123456789abcdef"  # noqa: S105 (a throwaway key for moto)


class Context:
    function_name = "bench-GitHubWebhookFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-GitHubWebhookFunction"
    memory_limit_in_mb = 512
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def event(payload: dict[str, Any], kind: str, *, signed: bool = True) -> dict[str, Any]:
    body = json.dumps(payload)
    digest = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "x-github-event": kind,
        "x-github-delivery": str(uuid.uuid4()),
        "x-hub-signature-256": "sha256=" + (digest if signed else "0" * 64),
    }
    path = "/webhooks/github/sentiment-service"
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/github/{pipeline}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "pathParameters": {"pipeline": "sentiment-service"},
        "requestContext": {
            "http": {"method": "POST", "path": path, "sourceIp": "192.0.2.1"},
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "ReleasePromotion",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "STACK_NAME": STACK,
        "PIPELINE_CONFIG_PREFIX": f"/{STACK}/pipelines/",
        "APPROVALS_TABLE": "unused",
        "APPROVAL_SIGNING_SECRET_ID": "unused",
        "EMAIL_SENDER": "unused@example.com",
        "NOTIFICATIONS_TOPIC_ARN": "unused",
        "IDEMPOTENCY_TABLE": "unused",
        "DELIVERIES_TABLE": f"{STACK}-webhook-deliveries",
    }.items():
        os.environ[name] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)

    import boto3
    from moto import mock_aws

    from tests.support.github import push_payload, workflow_run_payload

    with mock_aws():
        document = json.loads(
            (ROOT / "examples" / "sentiment-service" / "pipeline.local.json")
            .read_text()
            .replace("${ARTIFACT_BUCKET}", "artifacts")
            .replace("${LOCAL_API_URL}", "http://127.0.0.1:9")
        )
        boto3.client("ssm").put_parameter(
            Name=f"/{STACK}/pipelines/sentiment-service", Value=json.dumps(document), Type="String"
        )
        os.environ["GITHUB_WEBHOOK_SECRET_ID"] = boto3.client("secretsmanager").create_secret(
            Name=f"{STACK}/github/webhook/default",
            SecretString=json.dumps({"current": SECRET, "previous": ""}),
        )["ARN"]
        boto3.client("dynamodb").create_table(
            TableName=f"{STACK}-webhook-deliveries",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        os.environ["STATE_MACHINE_ARN"] = boto3.client("stepfunctions").create_state_machine(
            name=f"{STACK}-promotion",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/bench",
        )["stateMachineArn"]

        began = time.perf_counter()
        spec = importlib.util.spec_from_file_location(
            "bench_webhook", ROOT / "functions/github_webhook/app.py"
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        imported = time.perf_counter() - began
        handler = module.lambda_handler

        def timed(request: dict[str, Any], status: int) -> float:
            start = time.perf_counter()
            answer = handler(request, Context())
            elapsed = time.perf_counter() - start
            assert answer["statusCode"] == status, answer
            return elapsed * 1000

        first = timed(event(workflow_run_payload(sha=secrets.token_hex(20)), "workflow_run"), 201)
        started, duplicate, ignored, refused = [], [], [], []
        for _ in range(runs):
            payload = workflow_run_payload(sha=secrets.token_hex(20))
            started.append(timed(event(payload, "workflow_run"), 201))
            duplicate.append(timed(event(payload, "workflow_run"), 200))
            ignored.append(
                timed(event(push_payload(sha=secrets.token_hex(20), ref="refs/tags/v1"), "push"), 202)
            )
            refused.append(timed(event(payload, "workflow_run", signed=False), 401))

    print(f"module import and client set-up: {imported * 1000:.0f} ms")
    print(f"first call (config and secret read): {first:.1f} ms")
    for label, samples in (
        ("started (201)", started),
        ("duplicate (200)", duplicate),
        ("ignored (202)", ignored),
        ("bad signature (401)", refused),
    ):
        ordered = sorted(samples)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        median = statistics.median(samples)
        print(f"{label:22s} median {median:6.1f} ms   p95 {p95:6.1f} ms   ({len(samples)} runs)")


if __name__ == "__main__":
    main()
