"""The local IAM enforcement across accounts: a role session of an environment's account reading the
control plane's artifact bucket needs its own policy AND the bucket's, as IAM decides cross-account access."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from promote_cli.local.accounts import account_client
from promote_cli.local.aws_operations import AwsRequest
from promote_cli.local.iam_enforcement import AccessDenied, Caller, IamEnforcer
from promote_cli.local.iam_policy import Principal

REGION = "us-east-1"
CONTROL_PLANE = "123456789012"
ENVIRONMENT = "222222222222"
BUCKET = "release-promotion-artifacts"
ROLE = "release-promotion-deployer-preprod"
ROLE_ARN = f"arn:aws:iam::{ENVIRONMENT}:role/{ROLE}"
READ_BUILDS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/builds/*"}
    ],
}
GET_BUILD = AwsRequest("s3", "s3", "rest-xml", "GetObject", {"Bucket": BUCKET, "Key": "builds/app.zip"})


@pytest.fixture
def deployer_session() -> Iterator[Caller]:
    """A session of a role in the environment's account whose own policy reads the builds."""
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        iam = account_client("iam", ENVIRONMENT, region=REGION, endpoint_url="https://iam.amazonaws.com")
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({"Statement": []}))
        iam.put_role_policy(RoleName=ROLE, PolicyName="builds", PolicyDocument=json.dumps(READ_BUILDS))
        principal = Principal(arn=f"arn:aws:sts::{ENVIRONMENT}:assumed-role/{ROLE}/deploy")
        yield Caller(principal, ENVIRONMENT, ROLE, None)


def test_across_accounts_the_callers_policy_alone_does_not_read_the_bucket(deployer_session: Caller) -> None:
    with pytest.raises(AccessDenied, match="s3:GetObject"):
        IamEnforcer(region=REGION).check(deployer_session, GET_BUILD)


def test_across_accounts_the_bucket_policy_naming_the_role_lets_it_read(deployer_session: Caller) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROLE_ARN},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            }
        ],
    }
    boto3.client("s3", region_name=REGION).put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    IamEnforcer(region=REGION).check(deployer_session, GET_BUILD)


def test_across_accounts_the_bucket_policy_alone_does_not_read_either(deployer_session: Caller) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROLE_ARN},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            }
        ],
    }
    boto3.client("s3", region_name=REGION).put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    iam = account_client("iam", ENVIRONMENT, region=REGION, endpoint_url="https://iam.amazonaws.com")
    iam.delete_role_policy(RoleName=ROLE, PolicyName="builds")
    with pytest.raises(AccessDenied, match="s3:GetObject"):
        IamEnforcer(region=REGION).check(deployer_session, GET_BUILD)


OTHER_ACCOUNT = "333333333333"
OTHER_FUNCTION = f"arn:aws:lambda:{REGION}:{OTHER_ACCOUNT}:function:svc-sentiment-prod-api"
UPDATE_OTHER_ALIAS = AwsRequest(
    "lambda",
    "lambda",
    "rest-json",
    "UpdateAlias",
    {"FunctionName": OTHER_FUNCTION, "Name": "live", "FunctionVersion": "1"},
)


def test_a_function_of_another_account_needs_its_resource_policy_whatever_the_caller_may_do(
    deployer_session: Caller,
) -> None:
    # Given a caller whose own policy allows everything
    iam = account_client("iam", ENVIRONMENT, region=REGION, endpoint_url="https://iam.amazonaws.com")
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=ROLE, PolicyName="everything", PolicyDocument=json.dumps(everything))

    # When it moves an alias of a function in another account, which grants it nothing
    # Then IAM refuses, as Lambda does without a resource-based policy naming the caller
    with pytest.raises(AccessDenied, match="lambda:UpdateAlias"):
        IamEnforcer(region=REGION).check(deployer_session, UPDATE_OTHER_ALIAS)
