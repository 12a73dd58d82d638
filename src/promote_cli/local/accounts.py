"""The local plane's accounts: the control plane's, preprod's and prod's, each apart, as on AWS.

moto keeps resources per account and answers ``sts:AssumeRole`` into another account's role with
credentials whose calls land in that account. So the sample service lives in an account per environment,
each with its deployer role created from ``roles/deployer.yaml`` (the same template an operator deploys on
AWS), and the control plane reaches an environment only through that role.

Clients "of" an account (an administrator of that account, for set-up, tests and ``promote local ...``)
send moto's ``x-moto-account-id`` header; the local Lambda runtime reads it too, so an invocation through
such a client runs the function of that account.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from promote_cli.local.template import Resolver, TemplateError, list_parameters, parameter_defaults, translate


@dataclass(frozen=True)
class DeployerScope:
    """What one environment's deployer role is given: its own prefixes, the other environment's denied."""

    function_prefix: str
    alarm_prefix: str


CONTROL_PLANE_ACCOUNT = "123456789012"  # moto's default account
ENVIRONMENT_ACCOUNTS = {"preprod": "222222222222", "prod": "333333333333"}
ACCOUNT_HEADER = "x-moto-account-id"
DEPLOYER_TEMPLATE = Path(__file__).resolve().parents[3] / "roles" / "deployer.yaml"
ACCESS_OUTPUT = "EnvironmentAccessRoleArns"
# The sample service's environments by name prefix (its template names everything svc-sentiment-{stage}-...).
SAMPLE_SCOPES = {
    "preprod": DeployerScope("svc-sentiment-preprod-", "svc-sentiment-preprod-"),
    "prod": DeployerScope("svc-sentiment-prod-", "svc-sentiment-prod-"),
}
# With copies of the sample (svc-{service}-{stage}-...), each environment's role covers every copy's.
SAMPLE_COPIES_SCOPES = {
    "preprod": DeployerScope("svc-*-preprod-", "svc-*-preprod-"),
    "prod": DeployerScope("svc-*-prod-", "svc-*-prod-"),
}


def deployer_role_name(stack_name: str, environment: str) -> str:
    """The name roles/deployer.yaml gives its role (and template.yaml's default DeployerRoleArns expects)."""
    return f"{stack_name}-deployer-{environment}"


def deployer_role_arns(stack_name: str) -> dict[str, str]:
    return {
        environment: f"arn:aws:iam::{account}:role/{deployer_role_name(stack_name, environment)}"
        for environment, account in ENVIRONMENT_ACCOUNTS.items()
    }


def account_client(
    service: str, account: str, *, region: str, endpoint_url: str, config: Config | None = None
) -> Any:
    """A client acting in ``account`` as its administrator (the local stand-in for a profile there)."""
    client = boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=config)

    def in_account(params: dict[str, Any], **_: Any) -> None:
        params.setdefault("headers", {})[ACCOUNT_HEADER] = account

    # First, so the local Lambda runtime's own before-call hook (registered earlier) already sees it.
    client.meta.events.register_first("before-call", in_account)
    if service == "lambda":
        client.meta.events.register_first("before-call.lambda.Invoke", in_account)
    return client


def create_deployer_role(
    environment: str,
    *,
    stack_name: str,
    control_plane_role_arns: list[str],
    scopes: dict[str, DeployerScope],
    artifact_bucket: str,
    artifact_prefix: str,
    region: str,
    client_for: Callable[[str], Any],
    template: Path = DEPLOYER_TEMPLATE,
) -> str:
    """Create ``environment``'s deployer role in its account from ``roles/deployer.yaml``; its ARN."""
    account = ENVIRONMENT_ACCOUNTS[environment]
    other = "prod" if environment == "preprod" else "preprod"
    translated = translate(template, region=region)
    values = {
        "Environment": environment,
        "ControlPlaneStackName": stack_name,
        "ControlPlaneRoleArns": ",".join(control_plane_role_arns),
        "FunctionNamePrefix": scopes[environment].function_prefix,
        "AlarmNamePrefix": scopes[environment].alarm_prefix,
        "OtherEnvironmentFunctionNamePrefix": scopes[other].function_prefix,
        "OtherEnvironmentAlarmNamePrefix": scopes[other].alarm_prefix,
        "ArtifactBucket": artifact_bucket,
        "ArtifactPrefix": artifact_prefix,
    }
    resolver = Resolver(
        pseudo={
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": f"{stack_name}-deployer-{environment}",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        },
        parameters=parameter_defaults(translated, values),
        conditions=translated.conditions,
        list_parameters=list_parameters(translated),
    )
    iam = client_for("iam")
    arn = ""
    for logical_id, resource in translated.resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            raise TemplateError(
                f"{template}: {logical_id} is a {resource['Type']}; only roles are created here"
            )
        properties = resolver.resolve(resource["Properties"])
        role = iam.create_role(
            RoleName=properties["RoleName"],
            AssumeRolePolicyDocument=json.dumps(properties["AssumeRolePolicyDocument"]),
            Description=str(properties.get("Description", ""))[:1000],
            MaxSessionDuration=int(properties.get("MaxSessionDuration", 3600)),
            Tags=properties.get("Tags", []),
        )["Role"]
        for policy in properties.get("Policies", []):
            iam.put_role_policy(
                RoleName=properties["RoleName"],
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(policy["PolicyDocument"]),
            )
        arn = str(role["Arn"])
    if not arn:
        raise TemplateError(f"{template} declares no role")
    return arn


def role_policies(iam: Any, role_arn: str) -> list[dict[str, Any]]:
    """The identity-based policy documents of a role (inline and attached), through IAM's API."""
    from promote_cli.local.iam_auth import policy_document

    name = role_arn.rsplit("/", 1)[-1]
    documents = [
        policy_document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
    ]
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        arn = attached["PolicyArn"]
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        documents.append(policy_document(document))
    return documents
