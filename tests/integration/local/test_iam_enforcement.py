"""The template's IAM on the local plane: each control-plane role reaches what it is granted and nothing
else, with the errors AWS sends."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from promote_cli.control import ControlPlane
from promote_cli.local import sample
from promote_cli.local.accounts import ENVIRONMENT_ACCOUNTS
from promote_cli.local.demo import LocalPlaneProcess
from promote_cli.local.iam_enforcement import INTERPRETER_ACCESS_KEY
from promote_cli.local.plane import ACCOUNT, REPO_ROOT, LocalControlPlane
from tests.integration.conftest import TIME_SCALE

STACK = "release-promotion"
PREPROD_ACCOUNT = ENVIRONMENT_ACCOUNTS["preprod"]


@contextmanager
def as_function(plane: LocalControlPlane, logical_id: str) -> Iterator[None]:
    """Sign the plane's clients as this control-plane function's role, as its handler does."""
    assert plane.iam is not None, "the integration plane runs with IAM enforcement on"
    with plane.iam.identity(f"{STACK}-{logical_id}"):
        yield


def refused(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return dict(caught.value.response)


def test_rollback_role_has_no_lambda_rights_of_its_own(plane: LocalControlPlane) -> None:
    """It acts on prod only as prod's deployer role (tests/integration/pipeline/test_environment_roles.py)."""
    with as_function(plane, "RollbackFunction"):
        lam = plane.client("lambda")
        error = refused(lam.get_alias, FunctionName=f"{STACK}-RollbackFunction", Name="live")
        assert error["Error"]["Code"] == "AccessDeniedException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert (
            f"assumed-role/{STACK}-RollbackFunctionRole/{STACK}-RollbackFunction is not authorized to "
            "perform: lambda:GetAlias" in error["Error"]["Message"]
        )
        # The approvals table is not the rollback's.
        error = refused(
            plane.client("dynamodb").get_item, TableName=f"{STACK}-approvals", Key={"approval_id": {"S": "x"}}
        )
        assert error["Error"]["Code"] == "AccessDeniedException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_functions_reach_only_their_own_secrets_bucket_and_topic(plane: LocalControlPlane) -> None:
    assert plane.stack is not None
    with as_function(plane, "GitHubWebhookFunction"):
        # The approval-link key signs approvals: the webhook never reads it.
        error = refused(
            plane.client("secretsmanager").get_secret_value, SecretId=f"{STACK}/approval-link-key"
        )
        assert error["Error"]["Code"] == "AccessDeniedException"
        error = refused(plane.client("s3").list_object_versions, Bucket=plane.stack.artifact_bucket)
        assert error["Error"]["Code"] == "AccessDenied"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    with as_function(plane, "RunChecksFunction"):
        topic = f"arn:aws:sns:{plane.options.region}:{ACCOUNT}:{STACK}-notifications"
        error = refused(plane.client("sns").publish, TopicArn=topic, Message="not mine to send")
        assert error["Error"]["Code"] == "AuthorizationError"
        error = refused(plane.client("cloudwatch").describe_alarms)
        assert error["Error"]["Code"] == "AccessDenied"


def test_a_handler_never_gets_a_secret_another_function_fetched(plane: LocalControlPlane) -> None:
    """On Lambda each function has its own Powertools cache; the handlers here share one process, so each
    invocation starts with no cached value, but keeps the providers (a new one builds a boto3 session)."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    secret_id = f"{STACK}/approval-link-key"
    with as_function(plane, "ApprovalApiFunction"):
        assert parameters.get_secret(secret_id, max_age=300)
        provider = DEFAULT_PROVIDERS["secrets"]
    with as_function(plane, "GitHubWebhookFunction"):
        with pytest.raises(GetParameterError, match="AccessDeniedException"):
            parameters.get_secret(secret_id, max_age=300)
        assert DEFAULT_PROVIDERS["secrets"] is provider


def test_only_the_stacks_roles_make_decision_macs_whatever_iam_grants(plane: LocalControlPlane) -> None:
    """The key policy's Deny beats an identity policy that allows kms:* to a role outside the stack."""
    iam = plane.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName="kms-admin-outside-stack", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName="kms-admin-outside-stack",
        PolicyName="all-of-kms",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
        ),
    )
    issued = plane.client("sts").assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="mallory")
    credentials = issued["Credentials"]
    kms = boto3.client(
        "kms",
        endpoint_url=plane.aws_endpoint_url,
        region_name=plane.options.region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    alias = f"alias/{STACK}-approval-decisions"
    error = refused(kms.generate_mac, KeyId=alias, Message=b"approved", MacAlgorithm="HMAC_SHA_256")
    assert error["Error"]["Code"] == "AccessDeniedException"
    assert "explicit deny in a resource-based policy" in error["Error"]["Message"]
    with as_function(plane, "ApprovalApiFunction"):
        mac = plane.client("kms").generate_mac(KeyId=alias, Message=b"approved", MacAlgorithm="HMAC_SHA_256")
        assert mac["Mac"]
    with as_function(plane, "VerifyApprovalFunction"):
        # Verify approval checks MACs; making one is the deciding functions' alone.
        error = refused(
            plane.client("kms").generate_mac, KeyId=alias, Message=b"approved", MacAlgorithm="HMAC_SHA_256"
        )
        assert "no identity-based policy allows the kms:GenerateMac action" in error["Error"]["Message"]


def test_the_state_machine_invokes_only_the_functions_its_role_names(plane: LocalControlPlane) -> None:
    assert plane.iam is not None
    guard = plane.iam.enforcer.authorize_invoke
    function = f"arn:aws:lambda:{plane.options.region}:{ACCOUNT}:function:{STACK}"
    assert guard(INTERPRETER_ACCESS_KEY, f"{function}-RollbackFunction") is None
    # The cleanup runs from EventBridge, never from the state machine, whose role does not name it.
    refusal = guard(INTERPRETER_ACCESS_KEY, f"{function}-CleanupExecutionFunction")
    assert refusal is not None
    assert refusal[0] == "AccessDeniedException"
    assert f"{STACK}-PromotionStateMachineRole" in refusal[1]


def test_a_handler_cannot_invoke_a_function_it_is_not_granted(plane: LocalControlPlane) -> None:
    with as_function(plane, "SlackInteractivityFunction"):
        lam = plane.client("lambda")
        error = refused(lam.invoke, FunctionName=f"{STACK}-RollbackFunction", Payload=b"{}")
        assert error["Error"]["Code"] == "AccessDeniedException"
        assert "lambda:InvokeFunction" in error["Error"]["Message"]


def test_a_template_missing_one_permission_fails_its_promotion_with_access_denied(tmp_path: Path) -> None:
    """The enforcement can fail: a deployer role without lambda:PublishVersion has the deploy to preprod
    refused locally, in preprod's account, as the first deploy to AWS would be."""
    granted = "                  - lambda:PublishVersion\n"
    original = (REPO_ROOT / "roles" / "deployer.yaml").read_text()
    assert original.count(granted) == 1, "the deployer role's statement grants lambda:PublishVersion"
    stack_dir = tmp_path / "stack"
    (stack_dir / "roles").mkdir(parents=True)
    (stack_dir / "roles" / "deployer.yaml").write_text(original.replace(granted, ""))
    (stack_dir / "template.yaml").write_text((REPO_ROOT / "template.yaml").read_text())
    for source in ("functions", "layers", "statemachine"):
        (stack_dir / source).symlink_to(REPO_ROOT / source)
    process = LocalPlaneProcess(
        tmp_path, ["--template", str(stack_dir / "template.yaml"), "--time-scale", str(TIME_SCALE)]
    )
    try:
        ready = process.wait_ready()
        endpoint = {"endpoint_url": ready["aws_endpoint_url"], "region_name": ready["region"]}
        sfn = boto3.client("stepfunctions", **endpoint)
        control = ControlPlane(ready["stack_name"], sfn, boto3.client("ssm", **endpoint))
        config = control.pipeline(ready["pipeline"])
        sha = secrets.token_hex(20)
        sample.publish_build(
            boto3.client("s3", **endpoint),
            bucket=config.artifacts.bucket,
            prefix=config.artifacts.prefix,
            repo=config.repo,
            sha=sha,
            variant="good",
        )
        execution_arn = control.start(config.name, sha, requested_by="iam-test")["execution_arn"]
        deadline = time.monotonic() + 120
        while (status := sfn.describe_execution(executionArn=execution_arn)["status"]) == "RUNNING":
            assert time.monotonic() < deadline, "the promotion did not end"
            time.sleep(0.5)
        assert status == "FAILED"
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        # A Lambda task's failure: LambdaFunctionFailed (direct ARN) or TaskFailed (lambda:invoke).
        causes = [
            str(details.get("cause", ""))
            for event in events
            for key, details in event.items()
            if key.endswith("FailedEventDetails") and isinstance(details, dict)
        ]
        failures = [cause for cause in causes if "AccessDeniedException" in cause]
        assert failures, causes
        assert "lambda:PublishVersion" in failures[0]
        assert f"arn:aws:sts::{PREPROD_ACCOUNT}:assumed-role/{STACK}-deployer-preprod/" in failures[0]
        entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
        assert "Wait for approval" not in entered
    finally:
        process.stop()


@pytest.mark.parametrize(
    "logical_id",
    [
        "CheckAndLockFunction",
        "DeployEnvironmentFunction",
        "RunChecksFunction",
        "ShiftTrafficFunction",
        "CheckAlarmsFunction",
        "RollbackFunction",
    ],
)
def test_control_plane_roles_reach_targets_only_through_the_deployer_roles(
    plane: LocalControlPlane, logical_id: str
) -> None:
    # Given the control plane's role of a step that acts on environments
    with as_function(plane, logical_id):
        lam, cloudwatch = plane.client("lambda"), plane.client("cloudwatch")
        for environment, account in ENVIRONMENT_ACCOUNTS.items():
            target = f"arn:aws:lambda:us-east-1:{account}:function:svc-sentiment-{environment}-api"
            # When it calls a service function or alarm directly, with its own credentials
            calls = [
                ("lambda:UpdateAlias", lam.update_alias, {"FunctionVersion": "1", "Name": "live"}),
                ("lambda:GetAlias", lam.get_alias, {"Name": "live"}),
                ("lambda:InvokeFunction", lam.invoke, {"Payload": b"{}"}),
            ]
            alarm = f"svc-sentiment-{environment}-api-errors"
            # Then IAM refuses it: its only way to a target is sts:AssumeRole on that environment's role
            for action, call, arguments in calls:
                error = refused(call, FunctionName=target, **arguments)["Error"]
                assert error["Code"] == "AccessDeniedException", (action, error)
                assert f"not authorized to perform: {action}" in error["Message"], (action, error)
            error = refused(cloudwatch.describe_alarms, AlarmNames=[alarm])["Error"]
            assert error["Code"] == "AccessDenied", error
            assert "not authorized to perform: cloudwatch:DescribeAlarms" in error["Message"], error
