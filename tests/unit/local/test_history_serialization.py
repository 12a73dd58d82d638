"""GetExecutionHistory as the local plane writes it reads exactly as moto's own serializer would write it."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
from botocore.parsers import create_parser
from moto import mock_aws
from moto.core.serialize import XFormedAttributePicker, get_serializer_class
from moto.core.utils import get_service_model
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from promote_cli.local import moto_patches

DEFINITION = {
    "StartAt": "Shape",
    "States": {
        "Shape": {
            "Type": "Pass",
            "Parameters": {"n.$": "$.n", "tag": "x"},
            "ResultPath": "$.shaped",
            "Next": "Pick",
        },
        "Pick": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Pause"}],
            "Default": "Nope",
        },
        "Pause": {"Type": "Wait", "Seconds": 0, "Next": "Broken"},
        "Broken": {"Type": "Fail", "Error": "Shaped", "Cause": "on purpose"},
        "Nope": {"Type": "Succeed"},
    },
}


def parse(body: str) -> Any:
    model = get_service_model("stepfunctions")
    operation = model.operation_model("GetExecutionHistory")
    response = {"body": body.encode(), "headers": {}, "status_code": 200}
    return create_parser(model.metadata["protocol"]).parse(response, operation.output_shape)


def moto_serializer_body(history: dict[str, Any]) -> str:
    model = get_service_model("stepfunctions")
    serializer = get_serializer_class("stepfunctions", model.metadata["protocol"])(
        operation_model=model.operation_model("GetExecutionHistory"),
        pretty_print=False,
        value_picker=XFormedAttributePicker(response_transformers=None),
    )
    return str(serializer.serialize(history)["body"])


def test_the_history_reads_as_moto_would_write_it() -> None:
    moto_patches.apply()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="history", definition=json.dumps(DEFINITION), roleArn="arn:aws:iam::123456789012:role/x"
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name="one", input=json.dumps({"n": 2}))[
            "executionArn"
        ]
        deadline = time.monotonic() + 10
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.01)
        answered = sfn.get_execution_history(executionArn=arn)["events"]

        backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
        expected = parse(moto_serializer_body(backend.get_execution_history(arn)))["events"]

    assert [event["type"] for event in answered][-2:] == ["FailStateEntered", "ExecutionFailed"]
    assert answered == expected
