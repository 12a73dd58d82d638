"""The Lambda handlers in ``functions/``: each loads as Lambda would, and a state's bad payload is refused."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml
from aws_lambda_powertools.utilities.parameters import constants as parameters_constants
from moto import mock_aws

from promote_cli.local.runtime import LambdaContext
from promotion import runtime as promotion_runtime
from promotion import settings as promotion_settings
from promotion.adapters import aws as promotion_aws
from promotion.approvals import runtime as approvals_runtime
from promotion.errors import InvalidExecutionInput
from promotion.settings import ControlPlaneSettings
from tests.support.paths import REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yaml"
REGION = "us-east-1"
# Values for the settings whose format is checked; every other variable gets a plain placeholder.
KNOWN_VALUES = {
    "STACK_NAME": "unit",
    "PIPELINE_CONFIG_PREFIX": "/unit/pipelines/",
    "APPROVALS_TABLE": "unit-approvals",
    "IDEMPOTENCY_TABLE": "unit-idempotency",
    "EMAIL_SENDER": "promotions@example.com",
    "NOTIFICATIONS_TOPIC_ARN": f"arn:aws:sns:{REGION}:123456789012:unit-notifications",
    "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:123456789012:stateMachine:unit-promotion",
    "CONFIG_CACHE_SECONDS": "0",
    "ENVIRONMENT_ROLES": "required",
}


def _template() -> dict[str, Any]:
    class _Loader(yaml.SafeLoader):
        pass

    def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        # Keep !GetAtt's target readable; other short-form intrinsics do not matter here.
        if suffix == "GetAtt" and isinstance(node, yaml.ScalarNode):
            return {"Fn::GetAtt": str(node.value).split(".", 1)}
        return None

    _Loader.add_multi_constructor("!", tagged)
    return dict(yaml.load(TEMPLATE.read_text(), Loader=_Loader))  # noqa: S506 - a SafeLoader subclass


TEMPLATE_DOCUMENT = _template()
FUNCTIONS = {
    logical_id: resource["Properties"]
    for logical_id, resource in TEMPLATE_DOCUMENT["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
}


def _state_machine_functions() -> list[str]:
    """The functions the promotion state machine invokes (its DefinitionSubstitutions' GetAtt targets)."""
    found = []
    for resource in TEMPLATE_DOCUMENT["Resources"].values():
        if resource["Type"] == "AWS::Serverless::StateMachine":
            for value in resource["Properties"]["DefinitionSubstitutions"].values():
                found.append(value["Fn::GetAtt"][0])
    return sorted(set(found))


STATE_FUNCTIONS = _state_machine_functions()


def _clear_cached_collaborators() -> None:
    # Settings and clients are cached per warm function; a test's must not leak into the next test.
    for module in (promotion_runtime, approvals_runtime, promotion_settings, promotion_aws):
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
    # powertools keeps one SSM / Secrets Manager client per process, bound to where it was made
    parameters_constants.DEFAULT_PROVIDERS.clear()


def settings_environment() -> dict[str, str]:
    environment = {}
    for name, field in ControlPlaneSettings.model_fields.items():
        alias = field.alias or name.upper()
        if alias in KNOWN_VALUES:
            environment[alias] = KNOWN_VALUES[alias]
        elif "URL" in alias:
            environment[alias] = "https://unit.example.com/"
        else:
            environment[alias] = f"unit-{alias.lower().replace('_', '-')}"
    return environment


@pytest.fixture(scope="module")
def lambda_environment() -> Iterator[None]:
    """What the template's Globals give every function, on moto, with fresh cached collaborators."""
    environment = settings_environment()
    ControlPlaneSettings.model_validate(environment)  # the test's own environment must be a valid one
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        _clear_cached_collaborators()
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            tables = (
                (environment["IDEMPOTENCY_TABLE"], "id"),
                (environment["APPROVALS_TABLE"], "approval_id"),
            )
            for table, key in tables:
                dynamodb.create_table(
                    TableName=table,
                    AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            yield
        _clear_cached_collaborators()


def load_handler(logical_id: str) -> Any:
    properties = FUNCTIONS[logical_id]
    module_name, _, attribute = properties["Handler"].rpartition(".")
    path = REPO_ROOT / properties["CodeUri"] / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"handler_under_test_{logical_id}", path)
    assert spec is not None, path
    assert spec.loader is not None, path
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attribute)


def context(logical_id: str) -> LambdaContext:
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:unit-{logical_id}"
    return LambdaContext(f"unit-{logical_id}", arn, "$LATEST", 512, 60)


def test_the_template_declares_handlers_for_the_state_machine() -> None:
    assert "LoadPipelineFunction" in STATE_FUNCTIONS
    assert "NotifyFunction" in STATE_FUNCTIONS
    assert set(STATE_FUNCTIONS) <= set(FUNCTIONS)


def test_every_handler_directory_is_a_function_of_the_template() -> None:
    # A handler the template does not deploy is dead code, or a function someone forgot to declare.
    declared = {(REPO_ROOT / properties["CodeUri"]).resolve() for properties in FUNCTIONS.values()}
    on_disk = {path.parent.resolve() for path in (REPO_ROOT / "functions").glob("*/app.py")}
    assert on_disk - declared == set()


@pytest.mark.usefixtures("lambda_environment")
@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_handler_loads(logical_id: str) -> None:
    handler = load_handler(logical_id)
    assert callable(handler)


@pytest.mark.usefixtures("lambda_environment")
@pytest.mark.parametrize("logical_id", STATE_FUNCTIONS)
def test_a_bad_state_payload_is_invalid_execution_input(logical_id: str) -> None:
    handler = load_handler(logical_id)
    with pytest.raises(InvalidExecutionInput) as caught:
        handler({"unexpected": True}, context(logical_id))
    message = str(caught.value)
    # one line that names the request model and the offending field
    assert re.match(r"^\w+Request: ", message), message
    assert "unexpected: Extra inputs are not permitted" in message
    assert "\n" not in message


def test_a_missing_setting_is_named_once_at_the_first_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in settings_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("APPROVALS_TABLE")
    _clear_cached_collaborators()
    try:
        with pytest.raises(RuntimeError, match="control-plane environment: APPROVALS_TABLE: Field required"):
            promotion_settings.control_plane_settings()
    finally:
        _clear_cached_collaborators()
