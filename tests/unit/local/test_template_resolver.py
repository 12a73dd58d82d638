"""Reading template.yaml as CloudFormation would, and the shape of the one promotion ASL it deploys."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from promote_cli.local.template import (
    Resolver,
    TemplateError,
    TranslatedTemplate,
    parameter_defaults,
    translate,
)
from tests.support.paths import REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yaml"
ASL_FILE = REPO_ROOT / "statemachine" / "promotion.asl.json"
PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
TERMINAL_TYPES = {"Succeed", "Fail"}


# ---- the intrinsic-function resolver ------------------------------------------------------------
@pytest.fixture
def resolver() -> Resolver:
    return Resolver(
        pseudo={"AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333", "AWS::StackName": "rp"},
        parameters={"Stage": "prod", "Prefix": "svc-"},
        refs={"Table": "rp-approvals", "Topic": "arn:aws:sns:eu-west-1:111122223333:rp-notes"},
        attributes={("Fn", "Arn"): "arn:aws:lambda:eu-west-1:111122223333:function:rp-fn"},
        conditions={
            "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
            "IsDev": {"Fn::Equals": ["dev", {"Ref": "Stage"}]},
        },
    )


def test_ref_reads_pseudo_parameters_parameters_and_resources(resolver: Resolver) -> None:
    assert resolver.resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert resolver.resolve({"Ref": "Stage"}) == "prod"
    assert resolver.resolve({"Ref": "Table"}) == "rp-approvals"


def test_get_att_in_both_spellings(resolver: Resolver) -> None:
    arn = "arn:aws:lambda:eu-west-1:111122223333:function:rp-fn"
    assert resolver.resolve({"Fn::GetAtt": ["Fn", "Arn"]}) == arn
    assert resolver.resolve({"Fn::GetAtt": "Fn.Arn"}) == arn


def test_sub_with_refs_attributes_variables_and_escapes(resolver: Resolver) -> None:
    assert resolver.resolve({"Fn::Sub": "/${AWS::StackName}/pipelines/${Stage}"}) == "/rp/pipelines/prod"
    assert resolver.resolve({"Fn::Sub": "${Fn.Arn}:live"}).endswith("function:rp-fn:live")
    assert (
        resolver.resolve({"Fn::Sub": ["${Name}-${Prefix}", {"Name": {"Ref": "Table"}}]})
        == "rp-approvals-svc-"
    )
    # ${!Literal} stays a literal ${Literal}, as CloudFormation leaves it
    assert resolver.resolve({"Fn::Sub": "${!Keep}/${Stage}"}) == "${Keep}/prod"


def test_join_and_select(resolver: Resolver) -> None:
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, "z"]]}) == "a-prod-z"
    assert resolver.resolve({"Fn::Select": [1, ["a", {"Ref": "Stage"}]]}) == "prod"


def test_if_equals_and_conditions(resolver: Resolver) -> None:
    assert resolver.resolve({"Fn::If": ["IsProd", {"Ref": "Table"}, "none"]}) == "rp-approvals"
    assert resolver.resolve({"Fn::If": ["IsDev", "dev-only", {"Ref": "Stage"}]}) == "prod"
    assert resolver.resolve({"Condition": "IsDev"}) is False
    assert resolver.resolve({"Fn::Equals": [{"Ref": "Stage"}, "prod"]}) is True


def test_not_and_or(resolver: Resolver) -> None:
    assert resolver.resolve({"Fn::Not": [{"Condition": "IsDev"}]}) is True
    assert resolver.resolve({"Fn::Not": [{"Fn::Equals": [{"Ref": "Stage"}, "prod"]}]}) is False
    assert resolver.resolve({"Fn::And": [{"Condition": "IsProd"}, {"Condition": "IsDev"}]}) is False
    assert resolver.resolve({"Fn::And": [{"Condition": "IsProd"}, {"Fn::Not": [{"Condition": "IsDev"}]}]})
    assert resolver.resolve({"Fn::Or": [{"Condition": "IsDev"}, {"Condition": "IsProd"}]}) is True
    assert resolver.resolve({"Fn::Or": [{"Condition": "IsDev"}, {"Fn::Equals": ["a", "b"]}]}) is False


def test_nested_structures_are_resolved_throughout(resolver: Resolver) -> None:
    document = {"Variables": {"TABLE": {"Ref": "Table"}, "LIST": [{"Ref": "Stage"}, 3]}, "Plain": True}
    assert resolver.resolve(document) == {
        "Variables": {"TABLE": "rp-approvals", "LIST": ["prod", 3]},
        "Plain": True,
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Fn::ImportValue": "shared-vpc"}, "intrinsic Fn::ImportValue is not supported"),
        ({"Fn::FindInMap": ["M", "k", "v"]}, "intrinsic Fn::FindInMap is not supported"),
        ({"Fn::Base64": "x"}, "intrinsic Fn::Base64 is not supported"),
        ({"Ref": "Nowhere"}, "Ref 'Nowhere': not created yet or unknown"),
        ({"Fn::GetAtt": ["Fn", "Version"]}, "Fn::GetAtt Fn.Version: not created yet or unknown"),
        ({"Fn::Sub": "${Missing.Arn}"}, "Fn::GetAtt Missing.Arn"),
        ({"Fn::If": ["NoSuchCondition", "a", "b"]}, "unknown condition 'NoSuchCondition'"),
        ({"Nested": [{"Fn::GetAZs": ""}]}, "intrinsic Fn::GetAZs is not supported"),
    ],
)
def test_anything_it_cannot_resolve_raises(resolver: Resolver, value: Any, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        resolver.resolve(value)


# ---- the real template, translated ---------------------------------------------------------------
@pytest.fixture(scope="module")
def translated() -> TranslatedTemplate:
    return translate(TEMPLATE, region="us-east-1")


@pytest.fixture(scope="module")
def sam_functions() -> dict[str, dict[str, Any]]:
    # CloudFormation's short-form tags (!Ref, !Sub, ...) only need to load, not resolve, here.
    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    document = yaml.load(TEMPLATE.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    return {
        logical_id: resource
        for logical_id, resource in document["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def state_machine(translated: TranslatedTemplate) -> dict[str, Any]:
    (machine,) = [r for r in translated.resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    return dict(machine["Properties"])


def test_every_function_has_its_code_dir_and_handler(
    translated: TranslatedTemplate, sam_functions: dict[str, dict[str, Any]]
) -> None:
    assert sam_functions, "template.yaml declares functions"
    assert set(translated.function_sources) == set(sam_functions)
    for logical_id, resource in sam_functions.items():
        source = translated.function_sources[logical_id]
        assert source.code_dir == (REPO_ROOT / resource["Properties"]["CodeUri"]).resolve()
        module, _, _ = source.handler.rpartition(".")
        assert (source.code_dir / f"{module}.py").is_file(), f"{logical_id}: {source.handler} has no module"
        # the transform made a Lambda function of it, with the local path swapped for a placeholder
        assert translated.resources[logical_id]["Type"] == "AWS::Lambda::Function"
        assert translated.resources[logical_id]["Properties"]["Code"]["S3Bucket"] == "local-placeholder"


def test_the_state_machine_is_the_asl_file_itself(translated: TranslatedTemplate) -> None:
    properties = state_machine(translated)
    definition = Resolver(pseudo={}, parameters={}).resolve(properties["DefinitionString"])
    assert json.loads(definition) == json.loads(ASL_FILE.read_text())


def test_definition_substitutions_cover_every_placeholder_in_the_asl(translated: TranslatedTemplate) -> None:
    substitutions = state_machine(translated)["DefinitionSubstitutions"]
    placeholders = set(PLACEHOLDER.findall(ASL_FILE.read_text()))
    assert placeholders, "the ASL names its functions through substitutions"
    assert placeholders - set(substitutions) == set(), "placeholders without a substitution"
    assert set(substitutions) - placeholders == set(), "substitutions the ASL no longer uses"
    for name, value in substitutions.items():
        # every ARN comes from a function the same template creates
        logical_id, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", name
        assert translated.resources[logical_id]["Type"] == "AWS::Lambda::Function", name


def test_parameter_defaults(translated: TranslatedTemplate) -> None:
    values = parameter_defaults(translated, {"LogLevel": "DEBUG"})
    assert values["LogLevel"] == "DEBUG"
    assert values["ArtifactEncryption"] == "SSE-S3"
    assert values["DeployerRoleArns"] == ""  # the deployer roles of the stack's own account
    without_default = TranslatedTemplate(
        path=TEMPLATE, resources={}, parameters={"Stage": {"Type": "String"}}, conditions={}, outputs={}
    )
    with pytest.raises(TemplateError, match="parameter Stage has no default"):
        parameter_defaults(without_default, {})
    assert parameter_defaults(without_default, {"Stage": "prod"}) == {"Stage": "prod"}


# ---- the ASL's shape -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return dict(json.loads(ASL_FILE.read_text()))


def successors(state: dict[str, Any]) -> list[str]:
    found = [state.get("Next"), state.get("Default")]
    found += [choice.get("Next") for choice in state.get("Choices", [])]
    found += [catch.get("Next") for catch in state.get("Catch", [])]
    return [name for name in found if name]


def is_notify(name: str) -> bool:
    return name.startswith("Notify ")


def test_every_next_names_a_state(asl: dict[str, Any]) -> None:
    states = asl["States"]
    assert asl["StartAt"] in states
    for name, state in states.items():
        for target in successors(state):
            assert target in states, f"{name!r} goes to unknown state {target!r}"


def test_every_state_is_reachable(asl: dict[str, Any]) -> None:
    states = asl["States"]
    seen, stack = set(), [asl["StartAt"]]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(successors(states[name]))
    assert set(states) - seen == set(), "unreachable states"


def test_every_task_retries_transient_lambda_errors_and_catches_everything(asl: dict[str, Any]) -> None:
    tasks = {name: state for name, state in asl["States"].items() if state["Type"] == "Task"}
    assert tasks
    for name, state in tasks.items():
        retried = {error for retry in state.get("Retry", []) for error in retry["ErrorEquals"]}
        for transient in ("Lambda.ServiceException", "Lambda.TooManyRequestsException"):
            assert {transient, "States.ALL"} & retried, f"{name!r} does not retry {transient}"
        catches = state.get("Catch", [])
        assert catches, f"{name!r} has no Catch"
        assert catches[-1]["ErrorEquals"] == ["States.ALL"], f"{name!r} does not catch every error last"


def test_notify_tasks_catch_to_an_end_state(asl: dict[str, Any]) -> None:
    states = asl["States"]
    notifies = [name for name, state in states.items() if state["Type"] == "Task" and is_notify(name)]
    assert {"Notify success", "Notify failure"} <= set(notifies)

    def ends(target: str) -> bool:
        """An end state, or a Choice between end states only (which end a success is)."""
        state = states[target]
        if state["Type"] == "Choice":
            branches = [choice["Next"] for choice in state["Choices"]] + [state["Default"]]
            return all(states[branch]["Type"] in TERMINAL_TYPES for branch in branches)
        return state["Type"] in TERMINAL_TYPES

    for name in notifies:
        # a notice that cannot be sent must not change how the promotion ends
        assert ends(states[name]["Next"]), name
        for catch in states[name]["Catch"]:
            assert ends(catch["Next"]), name
            assert catch["Next"] == states[name]["Next"], name
            assert catch["ResultPath"] != "$.failure", f"{name!r} would overwrite the promotion's failure"


def test_every_caught_failure_is_notified_before_the_execution_ends(asl: dict[str, Any]) -> None:
    states = asl["States"]
    for name, state in states.items():
        if is_notify(name):
            continue
        for catch in state.get("Catch", []):
            # under a key of its own: a catch must not replace the promotion's data with the error
            assert catch.get("ResultPath", "$").startswith("$."), f"{name!r} catch replaces the data"
            # walk every path from the catch; an end state reached without a Notify is a silent failure
            seen, stack = set(), [catch["Next"]]
            while stack:
                current = stack.pop()
                if current in seen or is_notify(current):
                    continue
                seen.add(current)
                target = states[current]
                assert target["Type"] not in TERMINAL_TYPES, f"{name!r} can fail at {current!r} unannounced"
                stack.extend(successors(target))


def test_the_failed_end_reports_the_domain_error(asl: dict[str, Any]) -> None:
    failed = asl["States"]["Promotion failed"]
    assert failed == {"Type": "Fail", "ErrorPath": "$.failure.Error", "CausePath": "$.failure.Cause"}


def test_the_asl_is_jsonpath_only(asl: dict[str, Any]) -> None:
    # moto's engine cannot run JSONata, and the local plane runs this very file
    text = ASL_FILE.read_text()
    assert "{%" not in text
    assert asl.get("QueryLanguage", "JSONPath") == "JSONPath"
    assert all(state.get("QueryLanguage", "JSONPath") == "JSONPath" for state in asl["States"].values())


def test_the_approval_wait_uses_the_pipelines_timeout(asl: dict[str, Any]) -> None:
    wait = asl["States"]["Wait for approval"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["TimeoutSecondsPath"] == "$.settings.approval_timeout_seconds"
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
