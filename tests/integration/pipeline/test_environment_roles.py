"""Preprod and prod in accounts of their own, reached only through their deployer roles (local plane).

The local plane creates each environment's role from roles/deployer.yaml in that environment's account;
moto answers AssumeRole with credentials whose calls land in the role's account, and records each session.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Any

import pytest
from botocore.exceptions import ClientError

from promote_cli import cli
from promote_cli.local import accounts
from promote_cli.local.plane import LocalControlPlane
from promotion.pipeline.artifacts import lambda_code_sha256
from tests.support.promotion import (
    Promotion,
    decide_via_link,
    point_cli_at,
    publish_and_start,
    wait_for_approval_links,
    wait_for_end,
)

PROD_ALARMS = [
    "svc-sentiment-prod-api-errors",
    "svc-sentiment-prod-api-p99",
    "svc-sentiment-prod-worker-errors",
]


@pytest.fixture
def healthy_prod_alarms(plane: LocalControlPlane) -> None:
    cloudwatch = plane.environment_client("prod", "cloudwatch")
    for name in PROD_ALARMS:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="environment roles")


def sessions(environment: str, execution_arn: str) -> list[Any]:
    """The STS sessions of ``environment``'s deployer role opened for this execution (moto's records)."""
    from moto.sts.models import sts_backends

    account = accounts.ENVIRONMENT_ACCOUNTS[environment]
    name = execution_arn.rsplit(":", 1)[-1]
    return [
        role
        for role in sts_backends[account]["aws"].assumed_roles
        if role.role_arn == accounts.deployer_role_arns("release-promotion")[environment]
        and role.session_name == name
    ]


def approve(plane: LocalControlPlane, promotion: Promotion) -> None:
    links = wait_for_approval_links(plane, promotion)
    assert decide_via_link(links[0], "approve").status_code == 200


def test_the_ready_line_names_the_accounts_and_deployer_roles(plane: LocalControlPlane) -> None:
    ready = plane.ready_info()
    assert ready["accounts"] == {
        "control_plane": "123456789012",
        "preprod": "222222222222",
        "prod": "333333333333",
    }
    assert ready["deployer_roles"] == {
        "preprod": "arn:aws:iam::222222222222:role/release-promotion-deployer-preprod",
        "prod": "arn:aws:iam::333333333333:role/release-promotion-deployer-prod",
    }
    # Each role was made from roles/deployer.yaml in its environment's account, trusting the control plane's
    # named function roles only.
    iam = plane.environment_client("prod", "iam")
    role = iam.get_role(RoleName="release-promotion-deployer-prod")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    trusted = trust["Statement"][0]["Condition"]["ArnEquals"]["aws:PrincipalArn"]
    assert len(trusted) == 8  # the seven environment steps and the operator function (emergency rollback)
    assert all(arn.startswith("arn:aws:iam::123456789012:role/release-promotion-") for arn in trusted)


@pytest.mark.usefixtures("healthy_prod_alarms")
def test_a_promotion_changes_prod_in_prods_account_as_prods_deployer_role(plane: LocalControlPlane) -> None:
    # Given a good build, promoted and approved
    promotion = publish_and_start(plane, variant="good")
    approve(plane, promotion)

    # Then it is Promoted, and prod's functions in prod's account serve the build
    described = wait_for_end(plane, promotion.execution_arn, timeout=90)
    assert described["status"] == "SUCCEEDED", promotion.states()
    assert promotion.states()[-1] == "Promoted"
    expected = lambda_code_sha256(promotion.build.sha256)
    assert {f["code_sha256"] for f in promotion.after()["prod"].values()} == {expected}
    # And the service is nowhere in the control plane's own account
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        plane.client("lambda").get_function(FunctionName="svc-sentiment-prod-api")
    # And every step on each environment ran as that environment's role, in a session named by the execution
    assert sessions("preprod", promotion.execution_arn)
    assert sessions("prod", promotion.execution_arn)
    prod_session = sessions("prod", promotion.execution_arn)[0]
    assert prod_session.arn == (
        "arn:aws:sts::333333333333:assumed-role/release-promotion-deployer-prod/"
        + promotion.execution_arn.rsplit(":", 1)[-1]
    )


@pytest.mark.usefixtures("healthy_prod_alarms")
def test_a_failing_canary_is_rolled_back_in_prods_account_as_prods_role(plane: LocalControlPlane) -> None:
    # Given a build that passes preprod and fails in prod, approved
    promotion = publish_and_start(plane, variant="fails-in-prod")
    approve(plane, promotion)

    # Then the canary fails and prod, in its own account, is back on the versions it served before
    described = wait_for_end(plane, promotion.execution_arn, timeout=90)
    assert described["status"] == "FAILED"
    assert described["error"] == "CanaryFailed"
    assert "Roll back prod" in promotion.states()
    assert promotion.after()["prod"] == promotion.before["prod"]
    assert sessions("prod", promotion.execution_arn)


@pytest.mark.usefixtures("plane")
def test_check_isolation_passes_even_with_a_broad_allow_added(
    plane: LocalControlPlane, local_state: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The explicit Deny of roles/deployer.yaml holds whatever else the role is given.
    iam = plane.environment_client("preprod", "iam")
    broad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_role_policy(
        RoleName="release-promotion-deployer-preprod",
        PolicyName="too-broad",
        PolicyDocument=json.dumps(broad),
    )
    try:
        code = cli.main(["--local", "check-isolation", "--pipeline", "sentiment-service"])
    finally:
        iam.delete_role_policy(RoleName="release-promotion-deployer-preprod", PolicyName="too-broad")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "lambda:UpdateFunctionCode" in out
    assert "arn:aws:lambda:us-east-1:333333333333:function:svc-sentiment-prod-api" in out
    assert out.strip().splitlines()[-1].startswith("isolated: every one of")


@pytest.fixture
def local_state(plane: LocalControlPlane, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The state file ``promote local up`` writes, pointing at the test session's plane."""
    return point_cli_at(plane, tmp_path, monkeypatch)


def deployer_lambda(plane: LocalControlPlane, environment: str) -> Any:
    """A Lambda client signed with a session of ``environment``'s deployer role, opened as the deploy
    function's role opens it; raw boto3, so no scope guard of the project's stands in front of IAM."""
    import boto3

    with plane.iam.identity("release-promotion-DeployEnvironmentFunction") if plane.iam else nullcontext():
        credentials = plane.client("sts").assume_role(
            RoleArn=accounts.deployer_role_arns("release-promotion")[environment],
            RoleSessionName="isolation-test",
            Tags=[
                {"Key": "pipeline", "Value": "sentiment-service"},
                {"Key": "environment", "Value": environment},
            ],
        )["Credentials"]
    return boto3.client(
        "lambda",
        region_name=plane.options.region,
        endpoint_url=plane.aws_endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


@pytest.mark.parametrize(("acting", "target"), [("preprod", "prod"), ("prod", "preprod")])
def test_an_environments_role_cannot_change_or_invoke_the_other_environments_functions(
    plane: LocalControlPlane, acting: str, target: str
) -> None:
    # Given a session of one environment's deployer role
    lam = deployer_lambda(plane, acting)
    own, other = (
        f"arn:aws:lambda:us-east-1:{accounts.ENVIRONMENT_ACCOUNTS[environment]}:function:"
        f"svc-sentiment-{environment}-api"
        for environment in (acting, target)
    )
    assert lam.get_alias(FunctionName=own, Name="live")["Name"] == "live"  # its own environment answers

    # When it updates, publishes, moves an alias of or invokes the other environment's function
    attempts = {
        "lambda:UpdateFunctionCode": lambda: lam.update_function_code(
            FunctionName=other, ZipFile=b"PK\x05\x06"
        ),
        "lambda:PublishVersion": lambda: lam.publish_version(FunctionName=other),
        "lambda:UpdateAlias": lambda: lam.update_alias(FunctionName=other, Name="live", FunctionVersion="1"),
        "lambda:InvokeFunction": lambda: lam.invoke(FunctionName=other, Payload=b"{}"),
    }

    # Then IAM refuses each with AWS's AccessDenied, naming the action and the role's session
    for action, attempt in attempts.items():
        with pytest.raises(ClientError) as refused:
            attempt()
        error = refused.value.response["Error"]
        assert error["Code"] == "AccessDeniedException", (action, error)
        assert (
            f"release-promotion-deployer-{acting}/isolation-test is not authorized to perform: {action}"
            in (error["Message"])
        )
