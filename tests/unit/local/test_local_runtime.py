"""The local plane's Lambda runtime: naming the invoked function, and answering Invoke calls in process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from promote_cli.local.runtime import ControlFunction, LocalLambdaRuntime, split_function
from promote_cli.local.template import FunctionSource

ARN = "arn:aws:lambda:us-east-1:123456789012:function:release-promotion-NotifyFunction"


@pytest.mark.parametrize(
    ("name_or_arn", "qualifier", "expected"),
    [
        ("svc-sentiment-prod-api", None, ("svc-sentiment-prod-api", None)),
        ("svc-sentiment-prod-api", "7", ("svc-sentiment-prod-api", "7")),
        ("svc-sentiment-prod-api:live", None, ("svc-sentiment-prod-api", "live")),
        # an explicit Qualifier parameter wins over the one in the name, as Lambda's API reads them
        ("svc-sentiment-prod-api:live", "7", ("svc-sentiment-prod-api", "7")),
        (ARN, None, ("release-promotion-NotifyFunction", None)),
        (f"{ARN}:$LATEST", None, ("release-promotion-NotifyFunction", "$LATEST")),
        (f"{ARN}:3", None, ("release-promotion-NotifyFunction", "3")),
        (f"{ARN}:3", "live", ("release-promotion-NotifyFunction", "live")),
        ("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:fn", None, ("fn", None)),
    ],
)
def test_split_function(name_or_arn: str, qualifier: str | None, expected: tuple[str, str | None]) -> None:
    assert split_function(name_or_arn, qualifier) == expected


HANDLERS = """
class UnknownPipeline(Exception):
    pass


def lambda_handler(event, context):
    if event.get("pipeline") == "missing":
        raise UnknownPipeline("no pipeline 'missing'")
    return {"echo": event, "function": context.function_name, "arn": context.invoked_function_arn}
"""


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalLambdaRuntime:
    code_dir = tmp_path / "function"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(HANDLERS)
    local = LocalLambdaRuntime(account="123456789012", region="us-east-1", workdir=tmp_path / "work")
    local.register_control(
        ControlFunction(
            function_name="release-promotion-NotifyFunction",
            arn=ARN,
            source=FunctionSource("NotifyFunction", code_dir, "app.lambda_handler"),
            memory=128,
            timeout=3,
        )
    )
    # The hook goes on boto3's default session; give this test a session of its own.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    local.install_hook()
    return local


def invoke(function: str, payload: dict[str, Any]) -> dict[str, Any]:
    # An endpoint nothing listens on: the hook must answer before any request is sent.
    client = boto3.client("lambda", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    response = client.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
    return {**response, "Payload": json.loads(response["Payload"].read())}


def test_an_invoke_by_arn_runs_the_control_handler_in_process(runtime: LocalLambdaRuntime) -> None:
    response = invoke(ARN, {"pipeline": "sentiment-service"})
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["Payload"] == {
        "echo": {"pipeline": "sentiment-service"},
        "function": "release-promotion-NotifyFunction",
        "arn": ARN,
    }
    assert runtime.invocations == [("release-promotion-NotifyFunction", "$LATEST")]


def test_a_raising_handler_is_a_function_error_named_by_its_class(runtime: LocalLambdaRuntime) -> None:
    # The state machine matches ErrorEquals against errorType, so the class name must come through.
    response = invoke("release-promotion-NotifyFunction", {"pipeline": "missing"})
    assert response["FunctionError"] == "Unhandled"
    assert response["Payload"]["errorType"] == "UnknownPipeline"
    assert response["Payload"]["errorMessage"] == "no pipeline 'missing'"
    assert any("UnknownPipeline" in line for line in response["Payload"]["stackTrace"])


def test_an_unknown_function_is_a_function_error(runtime: LocalLambdaRuntime) -> None:
    with mock_aws():
        result = runtime.invoke("svc-does-not-exist", b"{}", "live")
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "UnknownFunctionException"
    assert runtime.invocations == [("svc-does-not-exist", "live")]


def test_service_functions_have_warm_environments_without_iam_enforcement(tmp_path: Path) -> None:
    # `promote local up --no-iam-enforcement` never calls enforce_iam: the runtime must still run and stop.
    local = LocalLambdaRuntime(account="123456789012", region="us-east-1", workdir=tmp_path / "work")
    local.close()
