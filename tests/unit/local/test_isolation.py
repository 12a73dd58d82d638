"""``promote check-isolation``: roles/deployer.yaml's policies against the other environment, and IAM's
own simulation on AWS (botocore Stubber)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from promote_cli import isolation
from promote_cli.local import accounts
from promotion.models.config import PipelineConfig, parse_pipeline_config
from tests.support.pipelines import sample_config_dict

CONTROL_PLANE_ROLES = [f"arn:aws:iam::123456789012:role/release-promotion-{name}Role" for name in ("A", "B")]


class RecordingIam:
    """Stands in for IAM's API: keeps the role documents roles/deployer.yaml produces."""

    def __init__(self) -> None:
        self.policies: dict[str, list[dict[str, Any]]] = {}

    def create_role(self, **request: Any) -> dict[str, Any]:
        self.policies[request["RoleName"]] = []
        return {"Role": {"Arn": f"arn:aws:iam::000000000000:role/{request['RoleName']}"}}

    def put_role_policy(self, **request: Any) -> None:
        self.policies[request["RoleName"]].append(json.loads(request["PolicyDocument"]))


def created_policies(scopes: dict[str, accounts.DeployerScope]) -> dict[str, list[dict[str, Any]]]:
    iam = RecordingIam()
    for environment in ("preprod", "prod"):
        accounts.create_deployer_role(
            environment,
            stack_name="release-promotion",
            control_plane_role_arns=CONTROL_PLANE_ROLES,
            scopes=scopes,
            artifact_bucket="release-promotion-artifacts",
            artifact_prefix="builds/",
            region="us-east-1",
            client_for=lambda _service: iam,
        )
    return {
        arn: iam.policies[arn.rsplit("/", 1)[-1]]
        for arn in accounts.deployer_role_arns("release-promotion").values()
    }


@pytest.fixture(scope="module")
def deployer_policies() -> dict[str, list[dict[str, Any]]]:
    return created_policies(accounts.SAMPLE_SCOPES)


def config() -> PipelineConfig:
    return parse_pipeline_config(sample_config_dict(), source="test")


def requests() -> list[isolation.Request]:
    return isolation.cross_environment_requests(config(), region="us-east-1", default_account="123456789012")


def test_every_request_names_the_other_environments_resources_in_its_account() -> None:
    found = requests()
    preprod_role = [r for r in found if r.role_environment == "preprod"]
    assert {r.resource for r in preprod_role} == {
        "arn:aws:lambda:us-east-1:333333333333:function:svc-sentiment-prod-api",
        "arn:aws:lambda:us-east-1:333333333333:function:svc-sentiment-prod-worker",
        "arn:aws:lambda:us-east-1:333333333333:function:svc-sentiment-prod-tests",
        "arn:aws:cloudwatch:us-east-1:333333333333:alarm:svc-sentiment-prod-api-errors",
        "arn:aws:cloudwatch:us-east-1:333333333333:alarm:svc-sentiment-prod-api-p99",
        "arn:aws:cloudwatch:us-east-1:333333333333:alarm:svc-sentiment-prod-worker-errors",
    }
    assert len(found) == 2 * (3 * len(isolation.FUNCTION_ACTIONS) + 3 * len(isolation.ALARM_ACTIONS))


def test_the_deployer_template_isolates_the_environments(deployer_policies: dict[str, Any]) -> None:
    probes = isolation.evaluate_locally(requests(), deployer_policies.__getitem__)
    assert isolation.isolated(probes)
    assert isolation.render(probes).splitlines()[-1] == (
        f"isolated: every one of {len(probes)} cross-environment requests is denied"
    )
    # ... and the same role may act on its own environment (the check is not vacuous)
    own = isolation.Request(
        "prod",
        accounts.deployer_role_arns("release-promotion")["prod"],
        "lambda:UpdateAlias",
        "arn:aws:lambda:us-east-1:333333333333:function:svc-sentiment-prod-api",
    )
    assert isolation.evaluate_locally([own], deployer_policies.__getitem__)[0].decision == "allowed"


def test_with_copies_of_the_sample_each_role_reaches_every_copy_of_its_environment_only() -> None:
    policies = created_policies(accounts.SAMPLE_COPIES_SCOPES)
    roles = accounts.deployer_role_arns("release-promotion")
    function = "arn:aws:lambda:us-east-1:{account}:function:svc-{service}-{stage}-api"
    probes = [
        isolation.Request(
            environment,
            roles[environment],
            "lambda:UpdateAlias",
            function.format(account=accounts.ENVIRONMENT_ACCOUNTS[stage], service=service, stage=stage),
        )
        for environment in ("preprod", "prod")
        for stage in ("preprod", "prod")
        for service in ("sentiment", "alpha")
    ]
    decisions = {
        (probe.role_environment, probe.resource.split(":")[-1]): probe.decision
        for probe in isolation.evaluate_locally(probes, policies.__getitem__)
    }
    for (environment, name), decision in decisions.items():
        own = name.endswith(f"-{environment}-api")
        assert (decision == "allowed") is own, (environment, name, decision)
    assert isolation.isolated(isolation.evaluate_locally(requests(), policies.__getitem__))


def test_without_the_explicit_deny_a_broad_grant_breaks_isolation(deployer_policies: dict[str, Any]) -> None:
    def weakened(role_arn: str) -> list[dict[str, Any]]:
        documents = [
            {**document, "Statement": [s for s in document["Statement"] if s["Effect"] != "Deny"]}
            for document in deployer_policies[role_arn]
        ]
        return [*documents, {"Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]}]

    probes = isolation.evaluate_locally(requests(), weakened)
    assert not isolation.isolated(probes)
    verdict = isolation.render(probes).splitlines()[-1]
    # every Lambda request on the other environment is allowed, the alarms stay denied
    lambda_requests = sum(1 for r in requests() if r.action.startswith("lambda:"))
    assert (
        verdict
        == f"NOT isolated: {lambda_requests} of {len(probes)} cross-environment requests are not denied"
    )


def test_a_role_missing_from_the_config_is_a_clear_error() -> None:
    document = sample_config_dict()
    del document["environments"]["prod"]["role_arn"]
    with pytest.raises(ValueError, match=r"environments\.prod\.role_arn is not set"):
        isolation.cross_environment_requests(
            parse_pipeline_config(document, source="test"), region="us-east-1", default_account="123456789012"
        )


def simulated(decisions: dict[str, str]) -> list[isolation.Probe]:
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    found = requests()
    with Stubber(iam) as stubber:
        grouped: dict[tuple[str, str], list[str]] = {}
        for request in found:
            grouped.setdefault((request.role_arn, request.resource), []).append(request.action)
        for (role, resource), actions in grouped.items():
            stubber.add_response(
                "simulate_principal_policy",
                {
                    "EvaluationResults": [
                        {"EvalActionName": action, "EvalDecision": decisions.get(action, "explicitDeny")}
                        for action in actions
                    ],
                    "IsTruncated": False,
                },
                {"PolicySourceArn": role, "ActionNames": actions, "ResourceArns": [resource]},
            )
        probes = isolation.simulate_on_aws(found, lambda _role: iam)
        stubber.assert_no_pending_responses()
    return probes


def test_on_aws_iams_simulation_decides() -> None:
    assert isolation.isolated(simulated({"lambda:GetAlias": "implicitDeny"}))
    probes = simulated({"lambda:InvokeFunction": "allowed"})
    assert not isolation.isolated(probes)
    assert {p.action for p in probes if p.decision == "allowed"} == {"lambda:InvokeFunction"}
