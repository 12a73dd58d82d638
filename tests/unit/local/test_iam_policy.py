"""The local plane's IAM policy evaluator: AWS's evaluation rules within one account."""

from __future__ import annotations

from typing import Any

import pytest

from promote_cli.local.iam_policy import Decision, Principal, RequestContext, evaluate, trust_allows

ACCOUNT = "123456789012"
ROLE_SESSION = Principal(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/release-promotion-DeployRole/deploy")
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:svc-sentiment-prod-api"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def request(action: str, resource: str, principal: Principal = ROLE_SESSION, **keys: str) -> RequestContext:
    return RequestContext(principal, action, resource, {k.lower(): [v] for k, v in keys.items()})


def test_an_explicit_deny_wins_over_any_allow() -> None:
    documents = [
        policy({"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}),
        policy({"Effect": "Deny", "Action": "lambda:UpdateAlias", "Resource": FUNCTION}),
    ]
    assert evaluate(request("lambda:UpdateAlias", FUNCTION), documents).decision is Decision.EXPLICIT_DENY
    assert evaluate(request("lambda:GetAlias", FUNCTION), documents).allowed


def test_nothing_allowed_is_an_implicit_deny() -> None:
    documents = [policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"})]
    assert evaluate(request("dynamodb:PutItem", "x"), documents).decision is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:svc-*", FUNCTION, True),
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:svc-*", f"{FUNCTION}:live", True),
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:release-*", FUNCTION, False),
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:svc-sentiment-prod-ap?", FUNCTION, True),
        # Resource ARNs are case sensitive.
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:SVC-*", FUNCTION, False),
    ],
)
def test_resource_wildcards(pattern: str, resource: str, expected: bool) -> None:
    documents = [policy({"Effect": "Allow", "Action": "lambda:GetAlias", "Resource": pattern})]
    assert evaluate(request("lambda:GetAlias", resource), documents).allowed is expected


def test_actions_match_case_insensitively_and_not_action_excludes() -> None:
    documents = [policy({"Effect": "Allow", "NotAction": "lambda:UpdateAlias", "Resource": "*"})]
    assert evaluate(request("LAMBDA:getalias", FUNCTION), documents).allowed
    assert not evaluate(request("lambda:UpdateAlias", FUNCTION), documents).allowed


def test_not_resource() -> None:
    documents = [policy({"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::artifacts/*"})]
    own = [policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}), *documents]
    assert evaluate(request("s3:GetObject", "arn:aws:s3:::artifacts/a/b"), own).allowed
    denied = evaluate(request("s3:GetObject", "arn:aws:s3:::other/a"), own)
    assert denied.decision is Decision.EXPLICIT_DENY


def test_conditions_on_principal_arn() -> None:
    key_policy = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:GenerateMac",
            "Resource": "*",
            "Condition": {
                "ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/release-promotion-*"}
            },
        },
    )
    grants = [policy({"Effect": "Allow", "Action": "kms:GenerateMac", "Resource": "*"})]
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
    assert evaluate(
        request("kms:GenerateMac", key), grants, key_policy, resource_policy_required=True
    ).allowed
    outsider = Principal(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/mallory")
    refused = evaluate(
        request("kms:GenerateMac", key, outsider), grants, key_policy, resource_policy_required=True
    )
    assert refused.decision is Decision.EXPLICIT_DENY
    # The key policy delegates to IAM: without an identity policy nothing is allowed.
    assert not evaluate(
        request("kms:GenerateMac", key), [], key_policy, resource_policy_required=True
    ).allowed


def test_a_key_policy_that_does_not_name_the_account_makes_iam_useless() -> None:
    grants = [policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})]
    other = policy(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "kms:*"}
    )
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
    assert not evaluate(request("kms:Decrypt", key), grants, other, resource_policy_required=True).allowed


@pytest.mark.parametrize(
    ("condition", "keys", "expected"),
    [
        ({"StringEquals": {"sts:ExternalId": "abc"}}, {"sts:ExternalId": ["abc"]}, True),
        ({"StringEquals": {"sts:ExternalId": "abc"}}, {"sts:ExternalId": ["abd"]}, False),
        ({"StringLike": {"s3:prefix": "builds/*"}}, {"s3:prefix": ["builds/x"]}, True),
        ({"StringNotLike": {"s3:prefix": "builds/*"}}, {"s3:prefix": ["builds/x"]}, False),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": ["true"]}, True),
        # A key the request knows but does not carry (a tag it was not given): absent.
        ({"StringEqualsIfExists": {"aws:RequestTag/team": "x"}}, {"aws:RequestTag/team": []}, True),
        ({"StringEquals": {"aws:RequestTag/team": "x"}}, {"aws:RequestTag/team": []}, False),
        ({"Null": {"aws:RequestTag/team": "true"}}, {"aws:RequestTag/team": []}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["c", "b"]}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["c", "b"]}, False),
        # A key the request does not supply at all is unknown here: the Allow fails closed.
        ({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {}, False),
        # An operator the evaluator does not implement fails closed too.
        ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ["5"]}, False),
    ],
)
def test_conditions(condition: dict[str, Any], keys: dict[str, list[str]], expected: bool) -> None:
    documents = [
        policy({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*", "Condition": condition})
    ]
    context = RequestContext(
        ROLE_SESSION, "s3:ListBucket", "arn:aws:s3:::b", {k.lower(): v for k, v in keys.items()}
    )
    assert evaluate(context, documents).allowed is expected


def test_a_deny_whose_condition_cannot_be_evaluated_denies() -> None:
    documents = [
        policy({"Effect": "Allow", "Action": "*", "Resource": "*"}),
        policy(
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:ViaAWSService": "false"}},
            }
        ),
    ]
    assert evaluate(request("sqs:SendMessage", "*"), documents).decision is Decision.EXPLICIT_DENY


def test_trust_policies() -> None:
    lambda_trust = policy(
        {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}
    )
    role = f"arn:aws:iam::{ACCOUNT}:role/r"
    assert trust_allows(
        lambda_trust, request("sts:AssumeRole", role, Principal(service="lambda.amazonaws.com"))
    )
    assert not trust_allows(
        lambda_trust, request("sts:AssumeRole", role, Principal(service="states.amazonaws.com"))
    ).allowed
    assert not trust_allows(lambda_trust, request("sts:AssumeRole", role)).allowed
    external = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROLE_SESSION.principal_arn},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "pipeline-7"}},
        }
    )
    assert trust_allows(external, request("sts:AssumeRole", role, **{"sts:ExternalId": "pipeline-7"})).allowed
    assert not trust_allows(external, request("sts:AssumeRole", role, **{"sts:ExternalId": "other"})).allowed
    # sts:TagSession is an action of its own: a trust policy granting only AssumeRole does not allow it.
    assert not trust_allows(
        external, request("sts:TagSession", role, **{"sts:ExternalId": "pipeline-7"})
    ).allowed
