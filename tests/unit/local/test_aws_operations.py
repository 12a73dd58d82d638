"""Requests as botocore sends them, read back as IAM sees them: operation, action, resource."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from promote_cli.local import aws_operations
from promote_cli.local.aws_operations import AwsRequest, Scope, UnmappedOperation

ACCOUNT = "123456789012"
SCOPE = Scope(
    partition="aws",
    region="us-east-1",
    account=ACCOUNT,
    secret_arn=lambda name: f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-AbCdEf",
    key_arn=lambda key: f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234",
)


def sent(service: str, operation: str, **params: Any) -> AwsRequest:
    """What the local endpoint would make of this call."""
    seen: list[AwsRequest | None] = []

    def capture(request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        body = body.read() if hasattr(body, "read") else body
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        seen.append(
            aws_operations.identify(
                method=request.method,
                path=url.path,
                query_string=url.query,
                headers=headers,
                body=body.encode() if isinstance(body, str) else body,
            )
        )
        raise _Sent

    session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
    client = session.client(service, endpoint_url="http://127.0.0.1:5000")
    client.meta.events.register("before-send", capture)
    with pytest.raises(_Sent):
        getattr(client, operation)(**params)
    assert seen[0] is not None
    return seen[0]


class _Sent(Exception):
    pass


def needs(request: AwsRequest) -> list[tuple[str, str]]:
    return [(a.action, a.resource) for a in aws_operations.authorizations(request, SCOPE)]


FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:svc-api"


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        (
            "lambda",
            "update_alias",
            {"FunctionName": "svc-api", "Name": "live"},
            [("lambda:UpdateAlias", FUNCTION)],
        ),
        (
            "lambda",
            "get_function_configuration",
            {"FunctionName": "svc-api", "Qualifier": "3"},
            [("lambda:GetFunctionConfiguration", f"{FUNCTION}:3")],
        ),
        (
            "lambda",
            "invoke",
            {"FunctionName": f"{FUNCTION}:live"},
            [("lambda:InvokeFunction", f"{FUNCTION}:live")],
        ),
        (
            "lambda",
            "update_function_code",
            {"FunctionName": "svc-api", "S3Bucket": "art", "S3Key": "a/b.zip", "S3ObjectVersion": "v1"},
            [("lambda:UpdateFunctionCode", FUNCTION), ("s3:GetObjectVersion", "arn:aws:s3:::art/a/b.zip")],
        ),
        (
            "s3",
            "get_object",
            {"Bucket": "art", "Key": "a/m.json"},
            [("s3:GetObject", "arn:aws:s3:::art/a/m.json")],
        ),
        (
            "s3",
            "head_object",
            {"Bucket": "art", "Key": "a", "VersionId": "v"},
            [("s3:GetObjectVersion", "arn:aws:s3:::art/a")],
        ),
        ("s3", "list_object_versions", {"Bucket": "art"}, [("s3:ListBucketVersions", "arn:aws:s3:::art")]),
        (
            "dynamodb",
            "query",
            {"TableName": "t", "IndexName": "by-pipeline", "KeyConditionExpression": "p = :p"},
            [("dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t/index/by-pipeline")],
        ),
        (
            "ssm",
            "get_parameter",
            {"Name": "/release-promotion/pipelines/x"},
            [
                (
                    "ssm:GetParameter",
                    f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/release-promotion/pipelines/x",
                )
            ],
        ),
        (
            "secretsmanager",
            "get_secret_value",
            {"SecretId": "stack/key"},
            [
                (
                    "secretsmanager:GetSecretValue",
                    f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:stack/key-AbCdEf",
                )
            ],
        ),
        (
            "kms",
            "generate_mac",
            {"KeyId": "alias/k", "Message": b"m", "MacAlgorithm": "HMAC_SHA_256"},
            [("kms:GenerateMac", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234")],
        ),
        (
            "cloudwatch",
            "describe_alarms",
            {"AlarmNames": ["a", "b"]},
            [
                ("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:a"),
                ("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:b"),
            ],
        ),
        (
            "sns",
            "publish",
            {"TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:t", "Message": "m"},
            [("sns:Publish", f"arn:aws:sns:us-east-1:{ACCOUNT}:t")],
        ),
        (
            "sesv2",
            "send_email",
            {
                "FromEmailAddress": "Releases <release@example.com>",
                "Destination": {"ToAddresses": ["a@example.com"]},
                "Content": {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
            },
            [("ses:SendEmail", f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/release@example.com")],
        ),
        (
            "stepfunctions",
            "send_task_success",
            {"taskToken": "t", "output": "{}"},
            [("states:SendTaskSuccess", "*")],
        ),
        (
            "sts",
            "assume_role",
            {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/deployer", "RoleSessionName": "promotion"},
            [("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/deployer")],
        ),
    ],
)
def test_operations_map_to_their_action_and_resource(
    service: str, operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert needs(sent(service, operation, **params)) == expected


def test_every_action_the_table_names_is_in_awss_service_reference() -> None:
    for action in ("lambda:InvokeFunction", "s3:ListBucketVersions", "s3:GetObjectVersion", "ses:SendEmail"):
        assert aws_operations.known_action(action), action
    assert not aws_operations.known_action("lambda:Invoke")


def test_an_operation_without_a_known_resource_is_refused_with_what_is_missing() -> None:
    request = sent("sns", "create_topic", Name="t")
    with pytest.raises(UnmappedOperation, match=r"sns.CreateTopic: .*aws_operations._RESOURCES"):
        aws_operations.authorizations(request, SCOPE)


def test_get_caller_identity_needs_no_permission() -> None:
    assert aws_operations.authorizations(sent("sts", "get_caller_identity"), SCOPE) == []


def test_requests_that_are_not_api_calls_are_not_identified() -> None:
    found = aws_operations.identify(method="GET", path="/moto-api/", query_string="", headers={}, body=b"")
    assert found is None
