"""What the bench scripts share: a local plane in its own process, state transitions counted from a history,
the Lambda invocations a history records, the AWS requests the plane's handlers made (moto's recorder), and
the published prices the costs are computed with.

Not a test helper: nothing here asserts; the scripts print what they measured and say which check failed.
"""

from __future__ import annotations

import base64
import json
import math
import os
import sys
import tempfile
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# us-east-1 list prices (USD), as published on each service's pricing page.
PRICE_PER_TRANSITION = 0.025 / 1000  # Step Functions Standard, per state transition
PRICE_PER_LAMBDA_GB_SECOND = 0.0000133334  # Lambda arm64, per GB-second (INIT included, since 1 Aug 2025)
PRICE_PER_LAMBDA_REQUEST = 0.20 / 1_000_000
PRICE_PER_WRITE_REQUEST_UNIT = 0.625 / 1_000_000  # DynamoDB on-demand
PRICE_PER_READ_REQUEST_UNIT = 0.125 / 1_000_000
PRICE_PER_HTTP_API_REQUEST = 1.00 / 1_000_000  # API Gateway HTTP API, first 300 million a month
PRICE_PER_SECRETS_MANAGER_CALL = 0.05 / 10_000
PRICE_PER_KMS_REQUEST = 0.03 / 10_000
# What a user would otherwise pay to watch alarms for a few minutes after a deploy.
PRICE_PER_CI_RUNNER_MINUTE = 0.006  # a hosted 2-core Linux runner held for the watch
PRICE_PER_CODEPIPELINE_ACTION_MINUTE = 0.002  # CodePipeline V2, per action execution minute

# The bench's own AWS calls carry this in their User-Agent, so the recorder can tell them from the plane's.
BENCH_APP_ID = "promote-bench"


def transitions(history: list[dict[str, Any]]) -> int:
    """State transitions as Step Functions bills them: states entered plus retry attempts."""
    entered = sum(1 for event in history if event["type"].endswith("StateEntered"))
    # A retried task is billed once more per attempt: count extra schedules inside one state.
    scheduled_per_state: dict[int, int] = {}
    state_index = -1
    for event in history:
        if event["type"].endswith("StateEntered"):
            state_index += 1
        elif event["type"] in ("LambdaFunctionScheduled", "TaskScheduled"):
            scheduled_per_state[state_index] = scheduled_per_state.get(state_index, 0) + 1
    retries = sum(count - 1 for count in scheduled_per_state.values() if count > 1)
    return entered + retries


@dataclass(frozen=True)
class Invocation:
    """One Lambda invocation a history records: the function, the state, how long the function ran."""

    function: str
    state: str
    seconds: float


def invocations(history: list[dict[str, Any]]) -> list[Invocation]:
    """Every Lambda invocation of an execution, timed from its Started event to its end; a
    ``.waitForTaskToken`` task's function ends when it returned (``TaskSubmitted``), not at the callback."""
    found: list[Invocation] = []
    state, function, started = "", "", None
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            state = event["stateEnteredEventDetails"]["name"]
        elif kind == "LambdaFunctionScheduled":
            function = event["lambdaFunctionScheduledEventDetails"]["resource"].rsplit(":", 1)[1]
        elif kind == "TaskScheduled" and event["taskScheduledEventDetails"]["resourceType"] == "lambda":
            parameters = json.loads(event["taskScheduledEventDetails"]["parameters"])
            function = str(parameters["FunctionName"]).rsplit(":", 1)[1]
        elif kind in ("LambdaFunctionStarted", "TaskStarted") and function:
            started = event["timestamp"]
        elif started is not None and kind in (
            "LambdaFunctionSucceeded",
            "LambdaFunctionFailed",
            "LambdaFunctionTimedOut",
            "TaskSubmitted",
            "TaskSucceeded",
            "TaskFailed",
            "TaskTimedOut",
        ):
            found.append(Invocation(function, state, _seconds(started, event["timestamp"])))
            function, started = "", None
    return found


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


class RemotePlane:
    """A local plane running in its own process (``promote local up``), seen through its ready line, so
    its handlers' logs stay out of this script's output. Its AWS clients identify themselves as the bench."""

    def __init__(self, ready: dict[str, Any], recording: Path | None = None) -> None:
        import boto3
        from botocore.config import Config

        self._boto3 = boto3
        self._config = Config(user_agent_appid=BENCH_APP_ID)
        self._ready = ready
        self.ready = ready
        self.api_url = ready["api_url"]
        self.aws_endpoint_url = ready["aws_endpoint_url"]
        self.options = types.SimpleNamespace(stack_name=ready["stack_name"], region=ready["region"])
        self.recording = recording

    def client(self, service: str) -> Any:
        return self._boto3.client(
            service,
            region_name=self._ready["region"],
            endpoint_url=self._ready["aws_endpoint_url"],
            config=self._config,
        )

    def environment_client(self, environment: str, service: str) -> Any:
        """A client in the environment's own account (the ready line's ``accounts``), as
        ``LocalControlPlane.environment_client``: the service's functions and alarms live there."""
        from promote_cli.local.accounts import account_client

        return account_client(
            service,
            self._ready["accounts"][environment],
            region=self._ready["region"],
            endpoint_url=self._ready["aws_endpoint_url"],
            config=self._config,
        )

    def webhook_url(self, pipeline: str) -> str:
        return f"{self.api_url}/webhooks/github/{pipeline}"


@contextmanager
def local_plane(options: Sequence[str] = (), *, ready_timeout: float = 300) -> Iterator[RemotePlane]:
    """``promote local up`` with ``options`` in a child process, until the block ends. moto's request
    recorder is armed (off until ``AwsRequestLog.start``)."""
    sys.path[:0] = [str(ROOT)]
    from promote_cli.local.demo import LocalPlaneProcess

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    state = Path(tempfile.mkdtemp(prefix="promote-bench-"))
    recording = state / "aws-requests.jsonl"
    os.environ["MOTO_RECORDER_FILEPATH"] = str(recording)
    process = LocalPlaneProcess(state, options)
    try:
        yield RemotePlane(process.wait_ready(timeout=ready_timeout), recording)
    finally:
        process.stop()


@dataclass(frozen=True)
class AwsRequest:
    service: str
    action: str
    body: bytes

    def dynamodb_units(self) -> tuple[float, float]:
        """(read, write) request units this DynamoDB request is billed: a write per started KB of the
        request (the item written is at most that), a strongly consistent read per 4 KB item (half if
        eventually consistent), transactions twice."""
        document = json.loads(self.body or b"{}")
        if self.action in ("PutItem", "UpdateItem", "DeleteItem"):
            return 0.0, float(max(1, math.ceil(len(self.body) / 1024)))
        if self.action == "TransactWriteItems":
            return 0.0, 2.0 * len(document.get("TransactItems", []))
        if self.action == "BatchWriteItem":
            return 0.0, float(sum(len(items) for items in document.get("RequestItems", {}).values()))
        if self.action == "GetItem":
            return (1.0 if document.get("ConsistentRead") else 0.5), 0.0
        if self.action == "TransactGetItems":
            return 2.0 * len(document.get("TransactItems", [])), 0.0
        if self.action == "BatchGetItem":
            return float(sum(len(t.get("Keys", [])) for t in document.get("RequestItems", {}).values())), 0.0
        if self.action in ("Query", "Scan"):
            return (1.0 if document.get("ConsistentRead") else 0.5), 0.0
        return 0.0, 0.0


class AwsRequestLog:
    """The AWS requests the plane's handlers make while recording (moto's recorder), the bench's own
    left out."""

    def __init__(self, plane: RemotePlane) -> None:
        if plane.recording is None:
            raise ValueError("the plane was not started with a recording file")
        self._plane = plane
        self._path = plane.recording

    def _call(self, action: str) -> None:
        import requests

        requests.post(f"{self._plane.aws_endpoint_url}/moto-api/recorder/{action}", timeout=10)

    def start(self) -> None:
        self._call("reset-recording")
        self._call("start-recording")

    def stop(self) -> list[AwsRequest]:
        self._call("stop-recording")
        found = []
        for line in self._path.read_text().splitlines():
            entry = json.loads(line)
            headers = {str(k).lower(): str(v) for k, v in entry["headers"].items()}
            if f"app/{BENCH_APP_ID}" in headers.get("user-agent", ""):
                continue
            body = entry.get("body") or ""
            raw = base64.b64decode(body) if entry.get("body_encoded") else str(body).encode()
            found.append(AwsRequest(*_service_and_action(headers, entry["method"], entry["url"], raw), raw))
        return found


_TARGET_PREFIXES = {
    "DynamoDB_20120810": "dynamodb",
    "AmazonSSM": "ssm",
    "secretsmanager": "secretsmanager",
    "TrentService": "kms",
    "AWSStepFunctions": "states",
    "AWSEvents": "events",
}


def _service_and_action(headers: dict[str, str], method: str, url: str, body: bytes) -> tuple[str, str]:
    target = headers.get("x-amz-target", "")
    if "." in target:
        prefix, _, action = target.partition(".")
        return _TARGET_PREFIXES.get(prefix, prefix), action
    # Otherwise the signing scope names the service: Credential=KEY/DATE/REGION/SERVICE/aws4_request.
    credential = headers.get("authorization", "").split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    service = credential[3] if len(credential) > 3 else "unknown"
    if body.startswith(b"Action="):
        return service, body.split(b"&", 1)[0].removeprefix(b"Action=").decode()
    return service, f"{method} {url.split('?', 1)[0].split('/', 3)[-1]}"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` 0.5 is the median, 0.99 the p99)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
