"""The local plane's AWS_IAM authorizer: SigV4 verification (botocore signs, it verifies), policy checks."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from promote_cli.local.iam_auth import (
    Forbidden,
    IamAuthorizer,
    KnownKey,
    SignedRequest,
    is_allowed,
    verify_sigv4,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
URL = "http://127.0.0.1:8080/operator/approvals/abc_DEF-123"
BODY = json.dumps({"decision": "approve", "reason": "hotfix"}).encode()
OPERATOR = KnownKey(
    access_key_id="AKIAOPERATOR00000001",
    secret_access_key="s" * 40,
    session_token=None,
    arn=f"arn:aws:iam::{ACCOUNT}:user/local-operator",
    user_id="AIDAOPERATOR",
    account_id=ACCOUNT,
)
ROUTES_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "execute-api:Invoke",
            "Resource": [
                f"arn:aws:execute-api:{REGION}:{ACCOUNT}:local/*/GET/operator/approvals",
                f"arn:aws:execute-api:{REGION}:{ACCOUNT}:local/*/POST/operator/approvals/*",
            ],
        }
    ],
}


def signed(
    key: KnownKey = OPERATOR,
    *,
    url: str = URL,
    body: bytes = BODY,
    method: str = "POST",
    region: str = REGION,
) -> SignedRequest:
    """A request signed exactly as the CLI signs it: botocore's SigV4Auth for execute-api."""
    request = AWSRequest(method=method, url=url, data=body, headers={"content-type": "application/json"})
    SigV4Auth(
        Credentials(key.access_key_id, key.secret_access_key, key.session_token), "execute-api", region
    ).add_auth(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = "127.0.0.1:8080"  # what the HTTP client sends
    return SignedRequest(method=method, url=url, headers=headers, body=body)


def lookup(access_key_id: str) -> KnownKey | None:
    return OPERATOR if access_key_id == OPERATOR.access_key_id else None


def verify(request: SignedRequest, *, now: datetime | None = None) -> KnownKey:
    return verify_sigv4(request, lookup=lookup, region=REGION, now=now or datetime.now(UTC))


def test_a_good_signature_names_its_key() -> None:
    assert verify(signed()) == OPERATOR


def test_a_one_byte_change_in_the_body_fails() -> None:
    request = signed()
    tampered = SignedRequest(request.method, request.url, request.headers, BODY.replace(b"hotfix", b"hotfiX"))
    with pytest.raises(Forbidden, match="does not match"):
        verify(tampered)


def test_a_claimed_body_hash_must_be_the_bodys() -> None:
    # botocore would sign X-Amz-Content-SHA256 in place of the body: a lying header must not pass.
    request = signed()
    other = b'{"decision": "reject", "reason": "x"}'
    headers = {**request.headers, "x-amz-content-sha256": hashlib.sha256(BODY).hexdigest()}
    with pytest.raises(Forbidden, match="SHA-256"):
        verify(SignedRequest(request.method, request.url, headers, other))


def test_another_path_or_method_fails() -> None:
    request = signed()
    with pytest.raises(Forbidden):
        verify(
            SignedRequest(request.method, URL.replace("abc_DEF-123", "abc_DEF-124"), request.headers, BODY)
        )
    with pytest.raises(Forbidden):
        verify(SignedRequest("PUT", request.url, request.headers, BODY))


def test_an_unknown_key_fails() -> None:
    stranger = KnownKey(
        "AKIASTRANGER00000001", "t" * 40, None, f"arn:aws:iam::{ACCOUNT}:user/x", "AIDAX", ACCOUNT
    )
    with pytest.raises(Forbidden, match="unknown access key"):
        verify(signed(stranger))


def test_the_right_key_id_with_the_wrong_secret_fails() -> None:
    forged = KnownKey(OPERATOR.access_key_id, "w" * 40, None, OPERATOR.arn, OPERATOR.user_id, ACCOUNT)
    with pytest.raises(Forbidden, match="does not match"):
        verify(signed(forged))


def test_unsigned_stale_and_other_region_requests_fail() -> None:
    request = signed()
    unsigned = {k: v for k, v in request.headers.items() if k != "authorization"}
    with pytest.raises(Forbidden, match="Authorization"):
        verify(SignedRequest(request.method, request.url, unsigned, BODY))
    with pytest.raises(Forbidden, match="too old"):
        verify(request, now=datetime.now(UTC) + timedelta(minutes=6))
    with pytest.raises(Forbidden, match="scope"):
        verify(signed(region="eu-west-1"))


def test_a_session_key_needs_its_own_token_signed() -> None:
    session = KnownKey(
        "ASIASESSION000000001",
        "u" * 40,
        "token-1",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/R/s",
        "AROA:s",
        ACCOUNT,
    )

    def session_lookup(access_key_id: str) -> KnownKey | None:
        return session if access_key_id == session.access_key_id else None

    good = signed(session)
    assert verify_sigv4(good, lookup=session_lookup, region=REGION, now=datetime.now(UTC)) == session
    wrong_token = dataclasses.replace(session, session_token="token-2")
    with pytest.raises(Forbidden, match="security token"):
        verify_sigv4(signed(wrong_token), lookup=session_lookup, region=REGION, now=datetime.now(UTC))


# ---- the policy evaluator ----------------------------------------------------------------------
ROUTE = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:local/$default/POST/operator/approvals/abc"


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}]}


def deny(action: Any, resource: Any) -> dict[str, Any]:
    return {"Statement": {"Effect": "Deny", "Action": action, "Resource": resource}}


@pytest.mark.parametrize(
    ("documents", "expected"),
    [
        ([ROUTES_POLICY], True),
        ([], False),
        ([allow("execute-api:Invoke", ROUTE.replace("/POST/", "/GET/"))], False),
        ([allow("execute-api:*", "*")], True),
        ([allow("EXECUTE-API:invoke", ROUTE)], True),  # actions ignore case
        ([allow("execute-api:Invoke", ROUTE.upper())], False),  # resources do not
        ([allow("execute-api:Invok?", ROUTE)], True),
        ([allow("execute-api:Inv?", ROUTE)], False),
        ([allow("states:SendTaskSuccess", "*")], False),
        ([ROUTES_POLICY, deny("execute-api:Invoke", "*")], False),  # an explicit Deny wins
        ([ROUTES_POLICY, deny("*", ROUTE.replace("abc", "a*"))], False),
        ([ROUTES_POLICY, deny("execute-api:Invoke", ROUTE.replace("abc", "other"))], True),
        (
            [allow("execute-api:Invoke", "*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})],
            False,
        ),
        ([{"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}], True),
        ([{"Statement": [{"Effect": "Allow", "Action": "*", "NotResource": ROUTE}]}], False),
        ([{"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke"}]}], False),  # no Resource
    ],
)
def test_policy_evaluation(documents: list[dict[str, Any]], expected: bool) -> None:
    assert is_allowed(documents, "execute-api:Invoke", ROUTE) is expected


def test_the_authorizer_puts_the_iam_context_in_and_refuses_without_the_permission() -> None:
    authorizer = IamAuthorizer(
        lookup=lookup, policies=lambda key: [ROUTES_POLICY], region=REGION, account=ACCOUNT
    )
    context = authorizer.authorize(signed(), path="/operator/approvals/abc_DEF-123")
    assert context["iam"] == {
        "accessKey": OPERATOR.access_key_id,
        "accountId": ACCOUNT,
        "callerId": OPERATOR.user_id,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": OPERATOR.arn,
        "userId": OPERATOR.user_id,
    }
    powerless = IamAuthorizer(lookup=lookup, policies=lambda key: [], region=REGION, account=ACCOUNT)
    with pytest.raises(Forbidden, match="not allowed execute-api:Invoke"):
        powerless.authorize(signed(), path="/operator/approvals/abc_DEF-123")
