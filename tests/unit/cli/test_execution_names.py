"""An execution named by its name is found on the stack's state machine, whose ARN the stack says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from promote_cli.control import ControlError, ControlPlane
from promote_cli.executions import StateMachineLocator, execution_arn_for, resolve

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/promotion"
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
MACHINE = f"arn:aws:states:{REGION}:123456789012:stateMachine:release-promotion-promotion"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            "sfn": boto3.client("stepfunctions", region_name=REGION),
            "cloudformation": boto3.client("cloudformation", region_name=REGION),
            "ssm": boto3.client("ssm", region_name=REGION),
        }


def locator(aws: dict[str, Any], stack: str = "release-promotion") -> StateMachineLocator:
    return StateMachineLocator(
        ControlPlane(stack, aws["sfn"], aws["ssm"]), cloudformation=aws["cloudformation"]
    )


def test_the_stack_output_names_the_state_machine(aws: dict[str, Any]) -> None:
    # Given a stack whose state machine is not named as the template names it today
    template = {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": "renamed",
                    "DefinitionString": DEFINITION,
                    "RoleArn": ROLE,
                },
            }
        },
        "Outputs": {"StateMachineArn": {"Value": {"Ref": "Machine"}}},
    }
    aws["cloudformation"].create_stack(StackName="release-promotion", TemplateBody=json.dumps(template))

    # Then the output is what names it
    assert locator(aws).arn().endswith(":stateMachine:renamed")


def test_without_a_stack_the_state_machine_the_template_names_is_used(aws: dict[str, Any]) -> None:
    created = aws["sfn"].create_state_machine(
        name="release-promotion-promotion", definition=DEFINITION, roleArn=ROLE
    )
    assert locator(aws).arn() == created["stateMachineArn"]


def test_neither_is_one_line(aws: dict[str, Any]) -> None:
    with pytest.raises(ControlError, match="no state machine named elsewhere-promotion"):
        locator(aws, "elsewhere").arn()


def test_a_name_resolves_to_its_execution_and_an_unknown_one_says_so(aws: dict[str, Any]) -> None:
    machine = aws["sfn"].create_state_machine(
        name="release-promotion-promotion", definition=DEFINITION, roleArn=ROLE
    )["stateMachineArn"]
    started = aws["sfn"].start_execution(stateMachineArn=machine, name="svc-0123456789ab-a1")
    assert resolve(aws["sfn"], locator(aws), "svc-0123456789ab-a1")["executionArn"] == started["executionArn"]
    assert resolve(aws["sfn"], locator(aws), started["executionArn"])["name"] == "svc-0123456789ab-a1"
    with pytest.raises(ControlError, match=f"^no execution named 'svc-0123456789ab-a2' on {machine}$"):
        resolve(aws["sfn"], locator(aws), "svc-0123456789ab-a2")


@pytest.mark.parametrize(
    "name", ["svc-0123456789ab-a1", "a", "x" * 80, "with.dots_and-dashes", "UPPER-case-ok"]
)
def test_a_valid_name_becomes_an_execution_arn_of_the_machine(name: str) -> None:
    assert execution_arn_for(MACHINE, name) == (
        f"arn:aws:states:{REGION}:123456789012:execution:release-promotion-promotion:{name}"
    )


@pytest.mark.parametrize("name", ["", "x" * 81, "has space", "a:b", "a/b", "a*", "tab\there", "q?"])
def test_what_cannot_be_a_name_is_refused(name: str) -> None:
    with pytest.raises(ControlError, match="is neither an execution name nor an execution ARN"):
        execution_arn_for(MACHINE, name)


def test_an_arn_is_taken_as_it_is() -> None:
    arn = "arn:aws:states:eu-west-1:222222222222:execution:other:run"
    assert execution_arn_for(MACHINE, arn) == arn
