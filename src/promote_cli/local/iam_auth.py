"""API Gateway's AWS_IAM authorizer, for the local plane: SigV4 verification and an IAM policy check.

A route marked ``security: [{AWS_IAM: []}]`` in the HTTP API's OpenAPI body gets what API Gateway does:
the Authorization header's SigV4 signature is recomputed (botocore's own canonicalization) with the secret
of the access key it names, the caller's identity-based policies must allow ``execute-api:Invoke`` on the
route's ARN, and only then does the function run, with ``requestContext.authorizer.iam`` set. Anything
else is 403 ``{"message": "Forbidden"}``.

moto's own IAM enforcement evaluates every resource as ``*`` (see FIELD-NOTES), so the policy evaluation is
the plane's own (``iam_policy``, the one evaluator of the plane). The route's request supplies no condition
keys, so a statement with a ``Condition`` fails closed: it never allows, and a Deny with one always denies.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from promote_cli.local.iam_policy import is_allowed, policy_document

__all__ = ["Forbidden", "IamAuthorizer", "KnownKey", "SignedRequest", "is_allowed", "policy_document"]

SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
# SigV4 requests must reach AWS within 5 minutes of their timestamp, in either direction.
MAX_CLOCK_SKEW_SECONDS = 5 * 60
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


class Forbidden(Exception):
    """Why a request is refused (kept for the local plane's log; the caller only sees "Forbidden")."""


@dataclass(frozen=True)
class KnownKey:
    """An access key the local plane's IAM knows, and whose it is."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None
    arn: str
    user_id: str
    account_id: str


KeyLookup = Callable[[str], KnownKey | None]
PolicyLookup = Callable[[KnownKey], list[dict[str, Any]]]


@dataclass(frozen=True)
class SignedRequest:
    method: str
    url: str  # as the client addressed it: scheme, host[:port], path, query
    headers: dict[str, str]  # lower-case names
    body: bytes


def verify_sigv4(request: SignedRequest, *, lookup: KeyLookup, region: str, now: datetime) -> KnownKey:
    """The key that signed ``request`` for ``execute-api`` in ``region``; raises ``Forbidden`` otherwise."""
    headers = request.headers
    found = _AUTHORIZATION.match(headers.get("authorization", "").strip())
    if found is None:
        raise Forbidden("no SigV4 Authorization header")
    access_key_id, _, scope = found["credential"].partition("/")
    date, scope_region, service, terminal = [*scope.split("/"), "", "", "", ""][:4]
    if (scope_region, service, terminal) != (region, SERVICE, "aws4_request"):
        raise Forbidden(f"credential scope {scope!r} is not {region}/{SERVICE}/aws4_request")
    stamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise Forbidden("no valid X-Amz-Date header") from None
    if stamp[:8] != date:
        raise Forbidden("X-Amz-Date and the credential scope name different days")
    if abs((now - signed_at).total_seconds()) > MAX_CLOCK_SKEW_SECONDS:
        raise Forbidden("the signature is too old or from the future")
    signed_names = found["signed"].split(";")
    if signed_names != sorted(set(signed_names)) or not {"host", "x-amz-date"} <= set(signed_names):
        raise Forbidden("SignedHeaders must be sorted, unique and include host and x-amz-date")
    missing = [name for name in signed_names if name not in headers]
    if missing:
        raise Forbidden(f"signed headers missing from the request: {missing}")
    # botocore would sign whatever this header claims instead of the body: it must be the body's hash.
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != hashlib.sha256(request.body).hexdigest():
        raise Forbidden("X-Amz-Content-SHA256 is not the body's SHA-256")

    key = lookup(access_key_id)
    if key is None:
        raise Forbidden("unknown access key")
    token = headers.get("x-amz-security-token")
    if key.session_token != token:
        raise Forbidden("the security token does not belong to this access key")
    if token is not None and "x-amz-security-token" not in signed_names:
        raise Forbidden("the security token is not signed")

    recomputed = AWSRequest(
        method=request.method,
        url=request.url,
        headers={name: headers[name] for name in signed_names},
        data=request.body,
    )
    recomputed.context["timestamp"] = stamp
    signer = SigV4Auth(
        Credentials(key.access_key_id, key.secret_access_key, key.session_token), SERVICE, region
    )
    expected = signer.signature(
        signer.string_to_sign(recomputed, signer.canonical_request(recomputed)), recomputed
    )
    if not hmac.compare_digest(expected, found["signature"]):
        raise Forbidden("the signature does not match")
    return key


def route_arn(*, region: str, account: str, api_id: str, stage: str, method: str, path: str) -> str:
    """The ``execute-api`` ARN a call to ``method path`` is authorized against (path as requested)."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method.upper()}{unquote(path)}"


@dataclass(frozen=True)
class IamAuthorizer:
    lookup: KeyLookup
    policies: PolicyLookup
    region: str
    account: str
    api_id: str = "local"
    stage: str = "$default"
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def authorize(self, request: SignedRequest, *, path: str) -> dict[str, Any]:
        """``requestContext.authorizer`` for a verified, permitted caller; raises ``Forbidden`` otherwise."""
        key = verify_sigv4(request, lookup=self.lookup, region=self.region, now=self.clock())
        resource = route_arn(
            region=self.region,
            account=self.account,
            api_id=self.api_id,
            stage=self.stage,
            method=request.method,
            path=path,
        )
        if not is_allowed(self.policies(key), "execute-api:Invoke", resource):
            raise Forbidden(f"{key.arn} is not allowed execute-api:Invoke on {resource}")
        return {
            "iam": {
                "accessKey": key.access_key_id,
                "accountId": key.account_id,
                "callerId": key.user_id,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": key.arn,
                "userId": key.user_id,
            }
        }
