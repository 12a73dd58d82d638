"""template.yaml's least privilege for secrets and the HTTP API's per-route throttles, read as written."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.paths import REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yaml"
SECRET_ARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
WEBHOOK_SECRETS = f"Sub:{SECRET_ARN}${{AWS::StackName}}/github/webhook/*"
API_TOKENS = f"Sub:{SECRET_ARN}${{AWS::StackName}}/github/api/*"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    class _Loader(yaml.SafeLoader):
        pass

    # Short-form tags become {"Ref": ...}-like pairs that are easy to compare.
    _Loader.add_multi_constructor(
        "!",
        lambda loader, suffix, node: (
            {suffix: loader.construct_scalar(node)}
            if isinstance(node, yaml.ScalarNode)
            else {suffix: loader.construct_sequence(node)}
            if isinstance(node, yaml.SequenceNode)
            else {suffix: loader.construct_mapping(node)}
        ),
    )
    return dict(yaml.load(TEMPLATE.read_text(), Loader=_Loader))  # noqa: S506 - a SafeLoader subclass


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
        "SlackInteractivityFunction": {"Ref:SlackSigningSecret"},
        "SlackDecisionFunction": {"Ref:SlackBotTokenSecret"},
        "ExpireApprovalFunction": {"Ref:SlackBotTokenSecret"},
        "CleanupExecutionFunction": {"Ref:SlackBotTokenSecret"},
        # Deciders and the verifier take the Slack message's buttons off; their keys are in KMS.
        "OperatorApiFunction": {"Ref:SlackBotTokenSecret"},
        "VerifyApprovalFunction": {"Ref:SlackBotTokenSecret"},
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
