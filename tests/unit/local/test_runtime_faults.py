"""Lambda-level fault injection of the local runtime: what each kind of fault answers, and when."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promote_cli.local.runtime import ControlFunction, LocalLambdaRuntime
from promote_cli.local.template import FunctionSource

NAME = "release-promotion-DeployEnvironmentFunction"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{NAME}"

# The handler leaves a mark for every call it really runs, so a test can tell "ran" from "never ran".
HANDLER = """
import json, os


def lambda_handler(event, context):
    with open(os.environ["FAULT_TEST_MARKS"], "a") as marks:
        marks.write(json.dumps(event) + "\\n")
    return {"deployed": event["environment"]}
"""


@pytest.fixture
def marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "marks.jsonl"
    path.touch()
    monkeypatch.setenv("FAULT_TEST_MARKS", str(path))
    return path


@pytest.fixture
def runtime(tmp_path: Path, marks: Path) -> LocalLambdaRuntime:
    code_dir = tmp_path / "function"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(HANDLER)
    local = LocalLambdaRuntime(account="123456789012", region="us-east-1", workdir=tmp_path / "work")
    local.register_control(
        ControlFunction(
            NAME, ARN, FunctionSource("DeployEnvironmentFunction", code_dir, "app.lambda_handler"), 128, 600
        )
    )
    return local


def call(runtime: LocalLambdaRuntime, environment: str) -> tuple[str | None, dict[str, Any]]:
    result = runtime.invoke(ARN, json.dumps({"pipeline": "p", "environment": environment}).encode())
    return result.function_error, json.loads(result.payload)


def runs(marks: Path) -> list[str]:
    return [json.loads(line)["environment"] for line in marks.read_text().splitlines()]


def test_transient_fault_answers_a_lambda_service_error_once_then_the_handler_runs(
    runtime: LocalLambdaRuntime, marks: Path
) -> None:
    fault = runtime.inject_fault(NAME, kind="transient", times=1)

    error, payload = call(runtime, "prod")
    assert error == "Unhandled"
    # The name the ASL's Retry lists for Lambda's own service errors.
    assert payload["errorType"] == "Lambda.ServiceException"
    assert runs(marks) == []

    assert call(runtime, "prod") == (None, {"deployed": "prod"})
    assert runs(marks) == ["prod"]
    assert fault.hits == 1


def test_permanent_fault_fails_every_call_without_running_the_handler(
    runtime: LocalLambdaRuntime, marks: Path
) -> None:
    fault = runtime.inject_fault(NAME, kind="permanent")
    answers = [call(runtime, "prod") for _ in range(3)]
    assert all(error == "Unhandled" and payload["errorType"] == "InjectedFault" for error, payload in answers)
    assert runs(marks) == []
    assert fault.hits == 3


def test_timeout_runs_the_handler_and_loses_its_answer(runtime: LocalLambdaRuntime, marks: Path) -> None:
    runtime.inject_fault(NAME, kind="timeout")
    error, payload = call(runtime, "prod")
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 600.00 seconds" in payload["errorMessage"]
    # The side effects happened; only the answer is lost.
    assert runs(marks) == ["prod"]


def test_when_filters_on_the_payload(runtime: LocalLambdaRuntime, marks: Path) -> None:
    # One function serves several states: only the prod deploy fails.
    fault = runtime.inject_fault(NAME, kind="permanent", when=lambda event: event["environment"] == "prod")
    assert call(runtime, "preprod") == (None, {"deployed": "preprod"})
    assert call(runtime, "prod")[1]["errorType"] == "InjectedFault"
    assert fault.hits == 1
    assert runs(marks) == ["preprod"]


def test_other_functions_and_cleared_faults_are_untouched(runtime: LocalLambdaRuntime, marks: Path) -> None:
    other = runtime.inject_fault("release-promotion-NotifyFunction", kind="permanent")
    assert call(runtime, "prod") == (None, {"deployed": "prod"})
    assert other.hits == 0

    runtime.inject_fault(NAME, kind="permanent")
    runtime.clear_faults()
    assert call(runtime, "prod") == (None, {"deployed": "prod"})
    assert runs(marks) == ["prod", "prod"]


def test_an_unknown_kind_is_refused(runtime: LocalLambdaRuntime) -> None:
    with pytest.raises(ValueError, match="unknown fault kind 'slow'"):
        runtime.inject_fault(NAME, kind="slow")  # type: ignore[arg-type]
