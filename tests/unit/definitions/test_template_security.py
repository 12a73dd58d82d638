"""template.yaml's least privilege for secrets and the HTTP API's per-route throttles, read as written."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.paths import REPO_ROOT
from tests.support.templates import load_template

TEMPLATE = REPO_ROOT / "template.yaml"
SECRET_ARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
WEBHOOK_SECRETS = f"Sub:{SECRET_ARN}${{AWS::StackName}}/github/webhook/*"
API_TOKENS = f"Sub:{SECRET_ARN}${{AWS::StackName}}/github/api/*"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def secret_grants(function: dict[str, Any]) -> set[str]:
    grants = set()
    for policy in function["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "AWSSecretsManagerGetSecretValuePolicy" in policy:
            ((kind, value),) = policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"].items()
            grants.add(f"{kind}:{value}")
    return grants


def test_each_function_reads_only_the_secrets_it_uses(template: dict[str, Any]) -> None:
    functions = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    expected = {
        # Verifies deliveries and attests what it starts: no API token, no approval-link key.
        "GitHubWebhookFunction": {WEBHOOK_SECRETS, "Ref:AttestationSigningSecret"},
        # Signs links (link key), checks attestations (attestation key), posts to Slack.
        "RequestApprovalFunction": {
            "Ref:ApprovalSigningSecret",
            "Ref:AttestationSigningSecret",
            "Ref:SlackBotTokenSecret",
        },
        # The functions that call GitHub's API: tokens only, never a webhook secret.
        "DeployEnvironmentFunction": {API_TOKENS},
        "DecideApprovalPathFunction": {API_TOKENS},
        "NotifyFunction": {API_TOKENS},
        "CheckAndLockFunction": {API_TOKENS},
        "ApprovalApiFunction": {"Ref:ApprovalSigningSecret", "Ref:SlackBotTokenSecret"},
        # Checks Slack's signature; opens the approval input modal as the bot (views.open).
        "SlackInteractivityFunction": {"Ref:SlackSigningSecret", "Ref:SlackBotTokenSecret"},
        "SlackDecisionFunction": {"Ref:SlackBotTokenSecret"},
        "ExpireApprovalFunction": {"Ref:SlackBotTokenSecret"},
        "CleanupExecutionFunction": {"Ref:SlackBotTokenSecret"},
        # Deciders and the verifier take the Slack message's buttons off; their keys are in KMS. The
        # operator function also posts an emergency rollback's GitHub deployment status.
        "OperatorApiFunction": {"Ref:SlackBotTokenSecret", API_TOKENS},
        "VerifyApprovalFunction": {"Ref:SlackBotTokenSecret"},
        # The "waits for the deployment window" notice goes to the approvals' Slack channel too.
        "CheckWindowFunction": {"Ref:SlackBotTokenSecret"},
    }
    actual = {logical_id: secret_grants(f) for logical_id, f in functions.items() if secret_grants(f)}
    assert actual == expected


def test_the_secrets_are_named_by_the_scheme(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    assert resources["GitHubWebhookSecret"]["Properties"]["Name"] == {
        "Sub": "${AWS::StackName}/github/webhook/default"
    }
    attestation = resources["AttestationSigningSecret"]["Properties"]
    assert attestation["Name"] == {"Sub": "${AWS::StackName}/attestation-key"}
    assert attestation["GenerateSecretString"]["PasswordLength"] >= 64
    # The attestation key is named only where it is used
    webhook_env = resources["GitHubWebhookFunction"]["Properties"]["Environment"]["Variables"]
    approval_env = resources["RequestApprovalFunction"]["Properties"]["Environment"]["Variables"]
    globals_env = template["Globals"]["Function"]["Environment"]["Variables"]
    for env in (webhook_env, approval_env):
        assert env["ATTESTATION_SIGNING_SECRET_ID"] == {"Ref": "AttestationSigningSecret"}
    assert "ATTESTATION_SIGNING_SECRET_ID" not in globals_env


def test_each_route_has_its_own_throttle(template: dict[str, Any]) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    routes = api["RouteSettings"]
    expected_routes = {
        "POST /webhooks/github/{pipeline}",
        "GET /approvals/{approval_id}",
        "POST /approvals/{approval_id}",
        "POST /slack/interactions",
    }
    assert expected_routes <= set(routes)
    for route in expected_routes:
        assert 0 < routes[route]["ThrottlingRateLimit"] <= routes[route]["ThrottlingBurstLimit"]
    # The public, unauthenticated webhook cannot starve the people deciding approvals
    default = api["DefaultRouteSettings"]
    assert routes["POST /webhooks/github/{pipeline}"]["ThrottlingRateLimit"] < default["ThrottlingRateLimit"]


# ---- environments: only through their deployer roles ---------------------------------------------------
DEPLOYER_TEMPLATE = REPO_ROOT / "roles" / "deployer.yaml"
# The functions that read or change an environment (and so assume its deployer role), by logical id.
ENVIRONMENT_FUNCTIONS = {
    "CheckAndLockFunction",
    "DeployEnvironmentFunction",
    "RunChecksFunction",
    "DecideApprovalPathFunction",
    "ShiftTrafficFunction",
    "CheckAlarmsFunction",
    "RollbackFunction",
    # The operators' emergency rollback runs there, acting on the environment as its deployer role.
    "OperatorApiFunction",
}


def load(path: Any) -> dict[str, Any]:
    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor(
        "!",
        lambda loader, suffix, node: (
            {suffix: loader.construct_scalar(node)}
            if isinstance(node, yaml.ScalarNode)
            else {suffix: loader.construct_sequence(node, deep=True)}
            if isinstance(node, yaml.SequenceNode)
            else {suffix: loader.construct_mapping(node, deep=True)}
        ),
    )
    return dict(yaml.load(path.read_text(), Loader=_Loader))  # noqa: S506 - a SafeLoader subclass


def statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in function["Properties"].get("Policies", []):
        if isinstance(policy, dict):
            found += policy.get("Statement", [])
            for branch in policy.get("If", [])[1:]:
                if isinstance(branch, dict):
                    found += branch.get("Statement", [])
    return found


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_no_control_plane_function_touches_a_service_function_or_alarm_itself(
    template: dict[str, Any],
) -> None:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for statement in statements(resource):
            granted = actions(statement)
            assert not [a for a in granted if a.startswith("cloudwatch:")], logical_id
            # Lambda rights only on the control plane's own functions (Slack's worker), never by pattern.
            if any(a.startswith("lambda:") for a in granted):
                assert "Ref" in str(statement["Resource"]) or "GetAtt" in str(statement["Resource"]), (
                    logical_id
                )
        for policy in resource["Properties"].get("Policies", []):
            # SAM's Lambda policy template, only for a function of this very stack.
            if isinstance(policy, dict) and "LambdaInvokePolicy" in policy:
                assert policy["LambdaInvokePolicy"]["FunctionName"]["Ref"] in template["Resources"], (
                    logical_id
                )
    assert "TargetFunctionPrefix" not in str(template)


def test_exactly_the_environment_functions_may_assume_the_deployer_roles(template: dict[str, Any]) -> None:
    holders = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        and {"Ref": "EnvironmentAccessPolicy"} in resource["Properties"].get("Policies", [])
    }
    assert holders == ENVIRONMENT_FUNCTIONS
    (statement,) = template["Resources"]["EnvironmentAccessPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    condition, named, same_account = statement["Resource"]["If"]
    assert condition == "DeployersNamed"
    assert named == {"Ref": "DeployerRoleArns"}
    assert same_account == {
        "Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}-deployer-*"
    }
    # The roles the deployer roles trust are exactly those functions' roles (the stack's output).
    output = template["Outputs"]["EnvironmentAccessRoleArns"]["Value"]["Join"][1]
    assert {item["GetAtt"].removesuffix("Role.Arn") for item in output} == ENVIRONMENT_FUNCTIONS
    assert template["Globals"]["Function"]["Environment"]["Variables"]["ENVIRONMENT_ROLES"] == "required"


def test_the_deployer_role_trusts_only_the_named_roles_and_denies_the_other_environment() -> None:
    deployer = load(DEPLOYER_TEMPLATE)
    role = deployer["Resources"]["DeployerRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    assert {s["Action"] for s in trust} == {"sts:AssumeRole", "sts:TagSession"}
    for statement in trust:
        assert statement["Effect"] == "Allow"
        conditions = statement["Condition"]
        branches = conditions["If"][1:] if "If" in conditions else [conditions]
        for branch in branches:
            assert branch["ArnEquals"] == {"aws:PrincipalArn": {"Ref": "ControlPlaneRoleArns"}}
    tagging = next(s for s in trust if s["Action"] == "sts:TagSession")
    assert tagging["Condition"]["StringEquals"] == {"aws:RequestTag/environment": {"Ref": "Environment"}}

    (policy,) = role["Policies"]
    document = policy["PolicyDocument"]["Statement"]
    allows = [s for s in document if isinstance(s, dict) and s.get("Effect") == "Allow"]
    own = {"${FunctionNamePrefix}*", "${AlarmNamePrefix}*", "${ArtifactBucket}/${ArtifactPrefix}*"}
    for statement in allows:
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for resource in resources:
            if resource == "*":
                # Only an action IAM cannot scope to a resource: reading Lambda's metrics (canary analysis).
                assert statement["Action"] == "cloudwatch:GetMetricData", statement
                continue
            assert any(resource["Sub"].endswith(suffix) for suffix in own), resource
            assert "${AWS::AccountId}" in resource["Sub"] or ":s3:::" in resource["Sub"]
    (deny,) = [s for s in document if isinstance(s, dict) and s.get("Effect") == "Deny"]
    assert sorted(deny["Action"]) == ["cloudwatch:*", "lambda:*"]
    assert [r["Sub"] for r in deny["Resource"]] == [
        "arn:${AWS::Partition}:lambda:*:*:function:${OtherEnvironmentFunctionNamePrefix}*",
        "arn:${AWS::Partition}:cloudwatch:*:*:alarm:${OtherEnvironmentAlarmNamePrefix}*",
    ]
    assert "Condition" not in deny  # unconditional: nothing can lift it
