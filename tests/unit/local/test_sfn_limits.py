"""Step Functions' payload and history quotas on moto's interpreter, as AWS enforces them."""

from __future__ import annotations

import io
import itertools
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from moto import mock_aws

from promote_cli.local import sfn_limits
from promote_cli.local.sfn_limits import (
    DATA_LIMIT_EXCEEDED,
    PAYLOAD_LIMIT_BYTES,
    RUNTIME,
    history_admits,
    matches,
    payload_size,
    within_payload_limit,
)

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/unit"
FUNCTION = f"arn:aws:lambda:{REGION}:123456789012:function:answer"
FAILED_STATUSES = {"FAILED", "TIMED_OUT", "ABORTED"}


# ---- the rules --------------------------------------------------------------------------------------
def test_a_payload_is_counted_as_compact_json_in_utf8() -> None:
    assert payload_size({"a": [1, 2], "b": "é"}) == len('{"a":[1,2],"b":"é"}'.encode())
    assert payload_size("é") == 4  # the quotes, and two bytes for é


def test_the_payload_limit_admits_256_kib_exactly_and_not_one_byte_more() -> None:
    exact = "x" * (PAYLOAD_LIMIT_BYTES - 2)  # plus its two quotes
    assert payload_size(exact) == PAYLOAD_LIMIT_BYTES
    assert within_payload_limit(exact)
    assert not within_payload_limit(exact + "x")


@pytest.mark.parametrize("error", [DATA_LIMIT_EXCEEDED, RUNTIME])
def test_states_all_does_not_match_the_terminal_errors_but_naming_them_does(error: str) -> None:
    assert not matches(["States.ALL"], error)
    assert matches([error], error)
    assert matches(["Lambda.ServiceException", error], error)


@pytest.mark.parametrize("error", ["States.Timeout", "States.TaskFailed", "Lambda.Unknown", "InjectedFault"])
def test_states_all_matches_every_other_error(error: str) -> None:
    assert matches(["States.ALL"], error)
    assert not matches(["States.Timeout"], "Lambda.Unknown")


def test_event_25000_may_only_close_the_execution() -> None:
    assert history_admits(24_999, "TaskScheduled")
    assert not history_admits(25_000, "TaskScheduled")
    assert history_admits(25_000, "ExecutionSucceeded")
    assert history_admits(25_000, "ExecutionFailed")
    assert not history_admits(25_001, "ExecutionFailed")


# ---- on moto's interpreter --------------------------------------------------------------------------
@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto running ASL, with the limits; Lambda invocations reach ``answers`` (see ``answering``)."""
    sfn_limits.apply()
    # The interpreter invokes Lambda through boto3's default session: a fresh one per test keeps this
    # test's hook apart from any other (the local plane registers its own on the session it finds).
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto3.Session())
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name=REGION)


def answering(result: Any) -> list[dict[str, Any]]:
    """Every Lambda invocation answers ``result``; returns the list of payloads the function received."""
    received: list[dict[str, Any]] = []

    def invoke(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = params.get("body") or b"{}"
        received.append(json.loads(body))
        payload = json.dumps(result).encode()
        parsed = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(payload), len(payload))}
        return AWSResponse(params.get("url", ""), 200, {}, None), parsed  # type: ignore[arg-type]

    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.lambda.Invoke", invoke)
    return received


def run(
    sfn: Any, definition: dict[str, Any], execution_input: Any = None
) -> tuple[dict[str, Any], list[Any]]:
    arn = sfn.create_state_machine(
        name=f"m-{secrets.token_hex(4)}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, name=secrets.token_hex(8), input=json.dumps(execution_input or {})
    )["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return dict(described), list(sfn.get_execution_history(executionArn=execution)["events"])
        time.sleep(0.05)
    raise AssertionError("execution still running after 30s")


def entered(events: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]


def passes(count: int) -> dict[str, Any]:
    names = [f"Step {i}" for i in range(count)]
    states: dict[str, Any] = {
        name: {"Type": "Pass", "Next": following} for name, following in itertools.pairwise(names)
    }
    states[names[-1]] = {"Type": "Pass", "End": True}
    return {"StartAt": names[0], "States": states}


def test_an_execution_whose_closing_event_is_the_last_allowed_one_succeeds(
    sfn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ExecutionStarted, two events per Pass state, ExecutionSucceeded: 8 events for three states.
    monkeypatch.setattr(sfn_limits, "HISTORY_LIMIT_EVENTS", 8)
    described, events = run(sfn, passes(3))
    assert described["status"] == "SUCCEEDED"
    assert [e["id"] for e in events] == list(range(1, 9))


def test_an_execution_that_reaches_the_history_limit_fails_with_states_runtime_as_its_last_event(
    sfn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sfn_limits, "HISTORY_LIMIT_EVENTS", 7)
    described, events = run(sfn, passes(3))
    assert described["status"] == "FAILED"
    assert described["error"] == RUNTIME
    assert described["cause"] == "The execution reached the maximum number of history events (7)."
    assert len(events) == 7
    assert events[-1]["type"] == "ExecutionFailed"
    assert events[-1]["previousEventId"] == 6
    assert entered(events) == ["Step 0", "Step 1", "Step 2"]  # Step 2 entered, its exit was event 7


def test_a_state_output_of_256_kib_exactly_passes_and_one_byte_more_fails(sfn: Any) -> None:
    exact = {"pad": "x" * (PAYLOAD_LIMIT_BYTES - len('{"pad":""}'))}
    fill: dict[str, Any] = {
        "StartAt": "Fill",
        "States": {"Fill": {"Type": "Pass", "Result": exact, "End": True}},
    }
    described, _ = run(sfn, fill)
    assert described["status"] == "SUCCEEDED"
    assert payload_size(json.loads(described["output"])) == PAYLOAD_LIMIT_BYTES

    fill["States"]["Fill"]["Result"] = {"pad": exact["pad"] + "x"}
    described, _ = run(sfn, fill)
    assert described["status"] == "FAILED"
    assert described["error"] == DATA_LIMIT_EXCEEDED


def test_start_execution_refuses_an_input_over_256_kib(sfn: Any) -> None:
    arn = sfn.create_state_machine(name="m", definition=json.dumps(passes(1)), roleArn=ROLE)[
        "stateMachineArn"
    ]
    exact = json.dumps({"pad": "x" * (PAYLOAD_LIMIT_BYTES - len('{"pad": ""}'))})
    assert len(exact) == PAYLOAD_LIMIT_BYTES
    sfn.start_execution(stateMachineArn=arn, name="exact", input=exact)
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=arn, name="over", input=exact[:-2] + 'x"}')
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == (
        "1 validation error detected: Value at 'input' failed to satisfy constraint: "
        "Member must have size less than or equal to 262144 bytes in UTF-8 encoding"
    )


def task(catch: list[str], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": FUNCTION,
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}],
        "Catch": [{"ErrorEquals": catch, "ResultPath": "$.failure", "Next": "Caught"}],
        "End": True,
    }
    if parameters is not None:
        state["Parameters"] = parameters
    return {"StartAt": "Ask", "States": {"Ask": state, "Caught": {"Type": "Pass", "End": True}}}


def test_an_oversized_task_result_escapes_retry_and_catch_on_states_all(sfn: Any) -> None:
    received = answering({"pad": "x" * PAYLOAD_LIMIT_BYTES})
    described, events = run(sfn, task(["States.ALL"]))
    assert described["status"] == "FAILED"
    assert described["error"] == DATA_LIMIT_EXCEEDED
    assert FUNCTION in described["cause"]
    assert entered(events) == ["Ask"]
    assert len(received) == 1  # no retry either


def test_a_catch_naming_data_limit_exceeded_catches_it(sfn: Any) -> None:
    answering({"pad": "x" * PAYLOAD_LIMIT_BYTES})
    described, events = run(sfn, task([DATA_LIMIT_EXCEEDED]))
    assert described["status"] == "SUCCEEDED"
    assert entered(events) == ["Ask", "Caught"]
    assert json.loads(described["output"])["failure"]["Error"] == DATA_LIMIT_EXCEEDED


def test_an_input_over_256_kib_after_parameters_fails_the_state_before_the_function_runs(sfn: Any) -> None:
    received = answering({"ok": True})
    half = "x" * (PAYLOAD_LIMIT_BYTES // 2)
    described, events = run(sfn, task(["States.ALL"], {"a.$": "$.half", "b.$": "$.half"}), {"half": half})
    assert described["status"] == "FAILED"
    assert described["error"] == DATA_LIMIT_EXCEEDED
    assert "'Ask'" in described["cause"]
    assert entered(events) == ["Ask"]
    assert received == []


def test_send_task_success_refuses_an_output_over_256_kib(sfn: Any) -> None:
    received = answering({})
    waiting = {
        "StartAt": "Wait",
        "States": {
            "Wait": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": FUNCTION, "Payload": {"token.$": "$$.Task.Token"}},
                "End": True,
            }
        },
    }
    arn = sfn.create_state_machine(name="w", definition=json.dumps(waiting), roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="w", input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while not received and time.monotonic() < deadline:
        assert sfn.describe_execution(executionArn=execution)["status"] not in FAILED_STATUSES
        time.sleep(0.05)
    token = received[0]["token"]
    exact = json.dumps({"pad": "x" * (PAYLOAD_LIMIT_BYTES - len('{"pad": ""}'))})

    with pytest.raises(ClientError) as refused:
        sfn.send_task_success(taskToken=token, output=exact[:-2] + 'x"}')
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Value at 'output' failed to satisfy constraint" in refused.value.response["Error"]["Message"]

    sfn.send_task_success(taskToken=token, output=exact)
    while (
        sfn.describe_execution(executionArn=execution)["status"] == "RUNNING" and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
