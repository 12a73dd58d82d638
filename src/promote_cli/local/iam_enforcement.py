"""The template's IAM, enforced on every AWS request the local plane serves.

Who calls: each control-plane handler runs (in process) as its function's execution role. The plane assumes
every such role through moto's STS, and ``acting_as`` puts the role's session in a context variable around
the handler; every botocore client of the process (boto3's default session, and the fresh sessions
Powertools makes) signs with ``ContextCredentials``, which read it. Outside a handler they sign with the
process's own credentials: the plane and the tests play the account's administrator.

What is enforced: ``EnforcingMiddleware`` wraps moto's server. A request signed with the key of an IAM user
or a role session of the account (moto's IAM and STS) is matched to its operation (``aws_operations``),
and each (action, resource) it needs is evaluated (``iam_policy``) against the principal's identity
policies, the KMS key policy or S3 bucket policy where the resource has one, and the role's trust policy
for ``sts:AssumeRole``. A refusal gets the error AWS sends for that protocol. Requests signed with a key
IAM does not know (the administrator's) go on unchecked.

Lambda invocations made in this process never reach the server (the runtime answers them in process), so
the runtime asks ``authorize_invoke`` first: the calling handler's role, or the state machine's role for the
ASL interpreter's calls. A service function's own Invoke (from its environment's process, signed as its
role) reaches the server and is checked here like any other request.
"""

from __future__ import annotations

import contextvars
import io
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote
from xml.sax.saxutils import escape

import botocore.credentials
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import NoCredentialsError

from promote_cli.local import aws_operations
from promote_cli.local.aws_operations import Authorization, AwsRequest, Scope, UnmappedOperation
from promote_cli.local.iam_policy import (
    Decision,
    Evaluation,
    Principal,
    RequestContext,
    evaluate,
    policy_document,
    trust_allows,
)

# The access key moto's ASL interpreter signs its Lambda calls with (moto's boto_client_for).
INTERPRETER_ACCESS_KEY = "ak"
SESSION_SECONDS = 12 * 3600
REFRESH_MARGIN = timedelta(minutes=5)


class AccessDenied(Exception):
    def __init__(self, message: str, request: AwsRequest | None = None) -> None:
        super().__init__(message)
        self.request = request


# ---- who is calling -------------------------------------------------------------------------------
@dataclass
class RoleSession:
    """Credentials of one role's session, renewed through STS before they expire."""

    role_arn: str
    session_name: str
    assume: Callable[[str, str], dict[str, Any]]  # (role ARN, session name) -> STS Credentials
    _frozen: ReadOnlyCredentials | None = None
    _expires: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def frozen(self) -> ReadOnlyCredentials:
        with self._lock:
            if self._frozen is None or datetime.now(UTC) + REFRESH_MARGIN >= self._expires:
                with acting_as(None):  # STS is asked by the plane itself, never by the session
                    issued = self.assume(self.role_arn, self.session_name)
                self._frozen = ReadOnlyCredentials(
                    issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]
                )
                expiration = issued["Expiration"]
                self._expires = (
                    expiration
                    if isinstance(expiration, datetime)
                    else datetime.fromisoformat(str(expiration))
                ).astimezone(UTC)
            return self._frozen


_CURRENT: contextvars.ContextVar[RoleSession | None] = contextvars.ContextVar("local_iam_role", default=None)


@contextmanager
def acting_as(session: RoleSession | None) -> Iterator[None]:
    """Sign the AWS requests made inside with ``session``'s credentials (None: the process's own)."""
    token = _CURRENT.set(session)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_session() -> RoleSession | None:
    return _CURRENT.get()


class ContextCredentials(Credentials):  # type: ignore[misc]
    """Credentials that are the current handler's role session, else the process's own."""

    def __init__(self, fallback: Credentials | None) -> None:
        self._fallback = fallback
        self.method = "local-plane-role-context"

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        session = _CURRENT.get()
        if session is not None:
            return session.frozen()
        if self._fallback is None:
            raise NoCredentialsError()
        return self._fallback.get_frozen_credentials()

    # botocore reads these on some paths (presigning, S3 express): the same answer as above.
    @property  # type: ignore[override]
    def access_key(self) -> str:
        return str(self.get_frozen_credentials().access_key)

    @access_key.setter
    def access_key(self, value: str) -> None:
        pass

    @property  # type: ignore[override]
    def secret_key(self) -> str:
        return str(self.get_frozen_credentials().secret_key)

    @secret_key.setter
    def secret_key(self, value: str) -> None:
        pass

    @property  # type: ignore[override]
    def token(self) -> str | None:
        token = self.get_frozen_credentials().token
        return str(token) if token is not None else None

    @token.setter
    def token(self, value: str | None) -> None:
        pass


class _ContextProvider(botocore.credentials.CredentialProvider):  # type: ignore[misc]
    METHOD = "local-plane-role-context"
    CANONICAL_NAME = "LocalPlaneRoleContext"

    def __init__(self, rest: botocore.credentials.CredentialResolver) -> None:
        super().__init__()
        self._rest = rest

    def load(self) -> Credentials:
        return ContextCredentials(self._rest.load_credentials())


_ORIGINAL_RESOLVER = botocore.credentials.create_credential_resolver


def _context_resolver(session: Any, *args: Any, **kwargs: Any) -> botocore.credentials.CredentialResolver:
    rest = _ORIGINAL_RESOLVER(session, *args, **kwargs)
    return botocore.credentials.CredentialResolver(providers=[_ContextProvider(rest)])


def install_context_credentials() -> None:
    """Every botocore session made from now on (and boto3's default one) signs with ``ContextCredentials``."""
    import boto3

    botocore.credentials.create_credential_resolver = _context_resolver
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    core = boto3.DEFAULT_SESSION._session
    current = core.get_credentials()
    if not isinstance(current, ContextCredentials):
        core._credentials = ContextCredentials(current)


# ---- the principal behind an access key -------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    principal: Principal
    account: str
    role_name: str | None  # a role session's role
    user_name: str | None


def caller_of(access_key_id: str, *, partition: str = "aws") -> Caller | None:
    """The IAM user or role session an access key belongs to, in any account; None for keys IAM does not
    know (the plane's administrator)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for sessions in list(sts_backends.values()):
        for assumed in list(getattr(sessions.get(partition), "assumed_roles", []) or []):
            if assumed.access_key_id == access_key_id:
                principal = Principal(arn=assumed.arn)
                return Caller(principal, principal.account, assumed.role_arn.rsplit("/", 1)[-1], None)
    for account, identities in list(iam_backends.items()):
        for user in list(getattr(identities.get(partition), "users", {}).values()):
            for key in user.access_keys:
                if key.access_key_id == access_key_id and key.status == "Active":
                    return Caller(Principal(arn=user.arn), account, None, user.name)
    return None


def _iam_backend(account: str, partition: str = "aws") -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account][partition]


def _managed_documents(policies: Iterable[Any]) -> list[dict[str, Any]]:
    documents = []
    for policy in policies:
        version = next((v for v in policy.versions if v.is_default), None)
        if version is not None and version.document:
            documents.append(policy_document(version.document))
    return documents


def identity_policies(caller: Caller) -> list[dict[str, Any]]:
    """The caller's identity-based policies, as moto's IAM holds them now."""
    backend = _iam_backend(caller.account)
    if caller.role_name is not None:
        role = backend.get_role(caller.role_name)
        documents = [policy_document(text) for text in role.policies.values()]
        return documents + _managed_documents(role.managed_policies.values())
    if caller.user_name is not None:
        user = backend.get_user(caller.user_name)
        documents = [policy_document(text) for text in user.policies.values()]
        documents += _managed_documents(user.managed_policies.values())
        for group in backend.get_groups_for_user(caller.user_name):
            documents += [policy_document(text) for text in group.policies.values()]
            documents += _managed_documents(group.managed_policies.values())
        return documents
    return []


def permissions_boundary(caller: Caller) -> dict[str, Any] | None:
    backend = _iam_backend(caller.account)
    entity = backend.get_role(caller.role_name) if caller.role_name else backend.get_user(caller.user_name)
    arn = getattr(entity, "permissions_boundary_arn", None) or None
    if not arn:
        return None
    documents = _managed_documents([backend.get_policy(arn)])
    return documents[0] if documents else {"Statement": []}


# ---- the decision ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Allowed:
    """One (principal, action, resource) the enforcement allowed: the least-privilege report's input."""

    principal_arn: str  # the role (not its session) or the user
    action: str
    resource: str


@dataclass
class IamEnforcer:
    region: str
    partition: str = "aws"
    # Who the ASL interpreter's Lambda calls are made as (the state machine's execution role).
    interpreter_session: RoleSession | None = None
    record_to: Path | None = None
    allowed: set[Allowed] = field(default_factory=set)
    denied: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scope(self, account: str) -> Scope:
        return Scope(
            partition=self.partition,
            region=self.region,
            account=account,
            secret_arn=lambda secret_id: _secret_arn(account, self.region, secret_id),
            key_arn=lambda key_id: _key_arn(account, self.region, key_id),
        )

    def check(self, caller: Caller, request: AwsRequest) -> None:
        """Raise ``AccessDenied`` unless IAM allows every (action, resource) the request needs."""
        try:
            needed = aws_operations.authorizations(request, self.scope(caller.account))
        except UnmappedOperation as error:
            self._deny(f"{caller.principal.arn}: {error}")
            raise AccessDenied(f"User: {caller.principal.arn} is not authorized: {error}", request) from None
        identity = identity_policies(caller)
        boundary = permissions_boundary(caller)
        for authorization in needed:
            evaluation = self._evaluate(caller, request, authorization, identity, boundary)
            if not evaluation.allowed:
                message = denial_message(caller.principal.arn, authorization, evaluation)
                self._deny(message)
                raise AccessDenied(message, request)
            self._allow(caller.principal.principal_arn, authorization)

    def _evaluate(
        self,
        caller: Caller,
        request: AwsRequest,
        authorization: Authorization,
        identity: list[dict[str, Any]],
        boundary: dict[str, Any] | None,
    ) -> Evaluation:
        context = RequestContext(
            principal=caller.principal,
            action=authorization.action,
            resource=authorization.resource,
            keys=condition_keys(request, self.region),
        )
        if request.service == "sts" and request.operation == "AssumeRole":
            return self._assume_role(caller, request, context, identity)
        owner, resource_policy, required = self._resource_policy(caller.account, authorization)
        if owner != caller.account:
            return self._cross_account(context, identity, boundary, resource_policy)
        evaluation = evaluate(context, identity, resource_policy, resource_policy_required=required)
        if evaluation.allowed and boundary is not None and evaluation.reason == "identity-based policy":
            bounded = evaluate(context, [boundary])
            if not bounded.allowed:
                return Evaluation(Decision.IMPLICIT_DENY, "permissions boundary")
        return evaluation

    def _cross_account(
        self,
        context: RequestContext,
        identity: list[dict[str, Any]],
        boundary: dict[str, Any] | None,
        resource_policy: dict[str, Any] | None,
    ) -> Evaluation:
        """A resource of another account: the caller's own policies (and boundary) must allow, and so must
        the resource's policy, naming the caller or its account."""
        own = evaluate(context, identity)
        if not own.allowed:
            return own
        if boundary is not None and not evaluate(context, [boundary]).allowed:
            return Evaluation(Decision.IMPLICIT_DENY, "permissions boundary")
        return evaluate(context, identity, resource_policy, resource_policy_required=True)

    def _assume_role(
        self, caller: Caller, request: AwsRequest, context: RequestContext, identity: list[dict[str, Any]]
    ) -> Evaluation:
        role_arn = str(request.params.get("RoleArn", ""))
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
        try:
            role = _iam_backend(account).get_role_by_arn(role_arn)
        except Exception:
            return Evaluation(Decision.IMPLICIT_DENY, "trust policy (no such role)")
        trust = policy_document(role.assume_role_policy_document)
        actions = ["sts:AssumeRole"] + (["sts:TagSession"] if request.params.get("Tags.member.1.Key") else [])
        for action in actions:
            scoped = RequestContext(context.principal, action, role_arn, context.keys)
            trusted = trust_allows(trust, scoped)
            if not trusted.allowed:
                return trusted
            own = evaluate(scoped, identity)
            if own.decision is Decision.EXPLICIT_DENY:
                return own
            names_caller = trusted.statement is not None and not _delegates(trusted, caller)
            same_account = account == caller.account
            if not own.allowed and not (names_caller and same_account):
                return own
        return Evaluation(Decision.ALLOW, "trust policy")

    def _resource_policy(
        self, account: str, authorization: Authorization
    ) -> tuple[str, dict[str, Any] | None, bool]:
        """The account owning the resource (``account`` unless a KMS key or S3 bucket says otherwise), the
        resource's own policy, and whether that policy must grant access."""
        resource = authorization.resource
        if resource.startswith(f"arn:{self.partition}:kms:"):
            owner = resource.split(":")[4] or account
            return owner, _key_policy(owner, self.region, resource), True
        if resource.startswith(f"arn:{self.partition}:s3:::"):
            bucket = resource.split(":::", 1)[1].split("/", 1)[0]
            owner = _bucket_account(bucket) or account
            return owner, _bucket_policy(owner, bucket), False
        owner = resource.split(":")[4] if resource.count(":") >= 5 else ""
        if owner and owner != account:
            # Another account's resource: only its own policy can let the caller in. The local plane reads
            # Lambda's function policies; any other service's resource counts as granting nothing, which
            # is stricter than AWS only where a template would rely on such a policy (none does).
            if resource.startswith(f"arn:{self.partition}:lambda:"):
                return owner, _function_policy(owner, self.region, resource), True
            return owner, None, True
        return account, None, False

    def _allow(self, principal_arn: str, authorization: Authorization) -> None:
        entry = Allowed(principal_arn, authorization.action, authorization.resource)
        with self._lock:
            if entry in self.allowed:
                return
            self.allowed.add(entry)
            if self.record_to is not None:
                with self.record_to.open("a") as out:
                    out.write(json.dumps(entry.__dict__) + "\n")

    def _deny(self, message: str) -> None:
        with self._lock:
            self.denied.append(message)

    # ---- Lambda invocations answered in process ------------------------------------------------
    def authorize_invoke(self, access_key_id: str | None, function_arn: str) -> tuple[str, str] | None:
        """None when the Invoke's signer may ``lambda:InvokeFunction`` the function; else Lambda's error."""
        if access_key_id == INTERPRETER_ACCESS_KEY:
            if self.interpreter_session is None:
                return None
            access_key_id = self.interpreter_session.frozen().access_key
        caller = caller_of(access_key_id, partition=self.partition) if access_key_id else None
        if caller is None:
            return None  # the administrator
        # By ARN: the function may be in another account than the caller's (an environment's).
        params = {"FunctionName": function_arn}
        try:
            self.check(caller, AwsRequest("lambda", "lambda", "rest-json", "Invoke", params))
        except AccessDenied as denied:
            return "AccessDeniedException", str(denied)
        return None


def _delegates(evaluation: Evaluation, caller: Caller) -> bool:
    from promote_cli.local.iam_policy import delegates_to_account

    return evaluation.statement is not None and delegates_to_account(
        evaluation.statement.get("Principal"), caller.principal
    )


def condition_keys(request: AwsRequest, region: str) -> dict[str, list[str]]:
    """The condition keys this request supplies (lower-case names)."""
    keys: dict[str, list[str]] = {
        "aws:requestedregion": [region],
        # The SDKs reach AWS over TLS; locally it is plain HTTP on 127.0.0.1, judged as AWS would see it.
        "aws:securetransport": ["true"],
    }
    params = request.params
    if request.service == "sts" and request.operation == "AssumeRole":
        if params.get("ExternalId") is not None:
            keys["sts:externalid"] = [str(params["ExternalId"])]
        keys["sts:rolesessionname"] = [str(params.get("RoleSessionName", ""))]
        tags: dict[str, str] = {}
        index = 1
        while f"Tags.member.{index}.Key" in params:
            tags[str(params[f"Tags.member.{index}.Key"])] = str(params.get(f"Tags.member.{index}.Value", ""))
            index += 1
        for tag, value in tags.items():
            keys[f"aws:requesttag/{tag.lower()}"] = [value]
        keys["aws:tagkeys"] = list(tags)
    if request.service == "s3" and request.operation in (
        "ListObjects",
        "ListObjectsV2",
        "ListObjectVersions",
    ):
        keys["s3:prefix"] = [str(params.get("Prefix", ""))]
    return keys


def denial_message(principal_arn: str, authorization: Authorization, evaluation: Evaluation) -> str:
    if evaluation.decision is Decision.EXPLICIT_DENY:
        why = f"with an explicit deny in a {evaluation.reason}"
    elif evaluation.reason == "trust policy":
        why = "because the role's trust policy does not allow it"
    else:
        why = f"because no {evaluation.reason} allows the {authorization.action} action"
    return (
        f"User: {principal_arn} is not authorized to perform: {authorization.action} on resource: "
        f"{authorization.resource} {why}"
    )


def _secret_arn(account: str, region: str, secret_id: str) -> str | None:
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[account][region]
    for secret in list(backend.secrets.values()):
        if secret_id in (getattr(secret, "name", None), getattr(secret, "arn", None)):
            return str(secret.arn)
    return None


def _kms_key(account: str, region: str, key_id: str) -> Any:
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    try:
        resolved = backend.any_id_to_key_id(key_id) if hasattr(backend, "any_id_to_key_id") else key_id
        return backend.keys.get(resolved) or backend.describe_key(key_id)
    except Exception:
        return None


def _key_arn(account: str, region: str, key_id: str) -> str | None:
    key = _kms_key(account, region, key_id)
    return str(key.arn) if key is not None else None


def _key_policy(account: str, region: str, key_arn: str) -> dict[str, Any] | None:
    key = _kms_key(account, region, key_arn)
    if key is None or not getattr(key, "policy", None):
        return None
    return policy_document(key.policy)


def _function_policy(account: str, region: str, function_arn: str) -> dict[str, Any] | None:
    """The resource-based policy of a Lambda function (AddPermission's statements), None when it has none."""
    from moto.awslambda.models import lambda_backends

    name = function_arn.split(":")[6]
    try:
        policy = lambda_backends[account][region].get_policy(name, None)
    except Exception:  # moto raises its own not-found errors for a function or a policy that is not there
        return None
    return policy_document(policy) if policy else None


def _bucket_account(bucket: str) -> str | None:
    """The account that owns ``bucket`` (S3's bucket names are global), None when there is no such bucket."""
    from moto.s3.models import s3_backends

    # moto records each bucket's owner as (partition, account).
    owner = s3_backends.bucket_accounts.get(bucket)
    return str(owner[1]) if owner else None


def _bucket_policy(account: str, bucket: str) -> dict[str, Any] | None:
    from moto.s3.models import s3_backends

    try:
        found = s3_backends[account]["aws"].buckets.get(bucket)
    except Exception:
        return None
    policy = getattr(found, "policy", None)
    if not policy:
        return None
    return policy_document(policy.decode() if isinstance(policy, bytes) else policy)


# ---- the server side: AWS's refusal, per protocol ----------------------------------------------------
def access_key_of(environ: Mapping[str, Any]) -> str | None:
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    if "Credential=" in authorization:
        return authorization.split("Credential=", 1)[1].split("/", 1)[0]
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    credential = (query.get("X-Amz-Credential") or [""])[0]
    return credential.split("/", 1)[0] or None


def error_response(request: AwsRequest | None, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """AWS's AccessDenied for the request's protocol: (status, headers, body)."""
    request_id = str(uuid.uuid4())
    protocol = request.protocol if request is not None else "json"
    common = [("x-amzn-RequestId", request_id)]
    if protocol == "json":
        query_compatible = request is not None and request.service == "cloudwatch"
        headers = [*common, ("Content-Type", "application/x-amz-json-1.1")]
        if query_compatible:
            headers.append(("x-amzn-query-error", "AccessDenied;Sender"))
        body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
        return "400 Bad Request", headers, body
    if protocol == "rest-json":
        body = json.dumps({"Type": "User", "Message": message, "message": message}).encode()
        return (
            "403 Forbidden",
            [*common, ("x-amzn-ErrorType", "AccessDeniedException"), ("Content-Type", "application/json")],
            body,
        )
    if protocol == "rest-xml":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        return "403 Forbidden", [*common, ("Content-Type", "application/xml")], body
    code = "AuthorizationError" if request is not None and request.service == "sns" else "AccessDenied"
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return "403 Forbidden", [*common, ("Content-Type", "text/xml")], body


class EnforcingMiddleware:
    """WSGI middleware in front of moto's server: the template's IAM for every request IAM can name."""

    def __init__(self, app: Callable[..., Iterable[bytes]], enforcer: IamEnforcer) -> None:
        self._app = app
        self._enforcer = enforcer

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        access_key = access_key_of(environ)
        caller = caller_of(access_key, partition=self._enforcer.partition) if access_key else None
        if caller is None:
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {
            name[5:].replace("_", "-").lower(): str(value)
            for name, value in environ.items()
            if name.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = str(environ["CONTENT_TYPE"])
        request = aws_operations.identify(
            method=str(environ.get("REQUEST_METHOD", "GET")),
            path=quote(str(environ.get("PATH_INFO", "/")).encode("latin-1").decode("utf-8", "replace")),
            query_string=str(environ.get("QUERY_STRING", "")),
            headers=headers,
            body=body,
        )
        try:
            if request is None:
                raise AccessDenied(
                    f"User: {caller.principal.arn} is not authorized: the local plane cannot tell which "
                    f"operation {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} is (refused)"
                )
            self._enforcer.check(caller, request)
        except AccessDenied as denied:
            status, response_headers, payload = error_response(request, str(denied))
            start_response(status, [*response_headers, ("Content-Length", str(len(payload)))])
            return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else payload]
        return self._app(environ, start_response)
