"""Clients that act on one environment as that environment's deployer role (roles/deployer.yaml).

Every step that reads or changes preprod or prod (check and lock, deploy, checks, traffic, alarms,
rollback, and the approval path's look at prod) gets its Lambda and CloudWatch clients here. With the
environment's ``role_arn`` set, they carry credentials of ``sts:AssumeRole`` into that role, with the
execution's name as the session name and the pipeline and environment as session tags, so CloudTrail in
the environment's account says which promotion did what. The control plane's own roles hold nothing but
``sts:AssumeRole``/``sts:TagSession`` on those roles (template.yaml).

Each client also refuses, before any request leaves, a function or alarm that is not the environment's
own (``OutsideEnvironmentScope``): the role's policy is the boundary, this is the second wall.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from botocore.exceptions import ClientError

from promotion.errors import EnvironmentAccessDenied, InvalidPipelineConfig, OutsideEnvironmentScope
from promotion.models.config import Environment, EnvironmentTarget, function_account, function_name

MAX_SESSION_NAME = 64
SESSION_SECONDS = 3_600
# Credentials this close to expiry are replaced before they are handed out (a deploy may run 10 minutes).
REFRESH_MARGIN_SECONDS = 900
SESSION_TAG_KEYS = ("pipeline", "environment")
_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True)
class SessionCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: float


class ClientFactory(Protocol):
    """(service, credentials or None for the function's own) -> a boto3 client; with ``read_timeout``, one
    that waits that many seconds for an answer and sends each request once (no retry)."""

    def __call__(
        self, service: str, credentials: SessionCredentials | None, /, *, read_timeout: float | None = None
    ) -> Any: ...


def session_name(execution_name: str) -> str:
    """``RoleSessionName`` for an execution: STS allows 2-64 characters of ``[\\w+=,.@-]``.

    Other characters become ``-``; a longer name keeps its start and ends with a hash of the whole name,
    so two long names never share a session name.
    """
    cleaned = _SESSION_NAME_CHARS.sub("-", execution_name) or "promotion"
    if len(cleaned) < 2:
        cleaned = f"{cleaned}-"
    if len(cleaned) <= MAX_SESSION_NAME and cleaned == execution_name:
        return cleaned
    digest = hashlib.sha256(execution_name.encode()).hexdigest()[:10]
    return f"{cleaned[: MAX_SESSION_NAME - len(digest) - 1]}-{digest}"


class EnvironmentClients:
    """What a step may use to act on one environment; each client is made on first use (a step needs one
    of the two, and making a client costs tens of milliseconds)."""

    def __init__(
        self,
        environment: Environment,
        make: Callable[..., Any],
        role_arn: str | None,
    ) -> None:
        self.environment = environment
        self.role_arn = role_arn  # None: the function's own role
        self._make = make

    @cached_property
    def lambda_client(self) -> Any:
        return self._make("lambda")

    @cached_property
    def cloudwatch(self) -> Any:
        return self._make("cloudwatch")

    def lambda_client_waiting(self, seconds: float) -> Any:
        """A Lambda client that waits ``seconds`` for an invocation's answer and never sends it twice (a
        test run is not repeated because it was slow): for the service's own test Lambdas."""
        return self._make("lambda", read_timeout=seconds)


class _ScopeGuard:
    """Refuses a request on a function or alarm outside the environment, before it is signed."""

    def __init__(self, environment: Environment, target: EnvironmentTarget) -> None:
        self._environment = environment
        self._functions = target.function_names()
        # Test Lambdas deployed beside the service: invoked, never changed.
        self._invoked_only = target.deployed_test_names()
        self._alarms = set(target.alarms)
        self._account = target.account

    def check_function(self, params: dict[str, Any], model: Any = None, **_: Any) -> None:
        requested = str(params.get("FunctionName", ""))
        account = function_account(requested)
        if account is not None and self._account is not None and account != self._account:
            raise OutsideEnvironmentScope(
                f"{requested} is in account {account}; {self._environment} is account {self._account}"
            )
        invoke = model is not None and getattr(model, "name", None) == "Invoke"
        if invoke and function_name(requested) in self._invoked_only:
            return
        if function_name(requested) not in self._functions:
            raise OutsideEnvironmentScope(
                f"{requested!r} is not a function of {self._environment} "
                f"({', '.join(sorted(self._functions))}); {self._environment}'s credentials never touch it"
            )

    def check_alarms(self, params: dict[str, Any], **_: Any) -> None:
        names = params.get("AlarmNames")
        if names is None or params.get("AlarmNamePrefix") is not None:
            raise OutsideEnvironmentScope(
                f"{self._environment}'s alarms are read by name only (AlarmNames), never all at once"
            )
        outside = sorted(set(names) - self._alarms)
        if outside:
            raise OutsideEnvironmentScope(f"alarms {outside} are not {self._environment}'s")


def _guarded(client: Any, service: str, guard: _ScopeGuard) -> Any:
    if service == "lambda":
        client.meta.events.register("before-parameter-build.lambda", guard.check_function)
    else:
        client.meta.events.register("before-parameter-build.cloudwatch.DescribeAlarms", guard.check_alarms)
    return client


@dataclass(frozen=True)
class _Cached:
    clients: EnvironmentClients
    expires_at: float


class EnvironmentSessions:
    """Assumes environments' roles; keeps each (role, session, scope)'s clients until near expiry."""

    def __init__(
        self,
        sts: Any,
        client_factory: ClientFactory,
        *,
        require_role: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sts = sts
        self._client_factory = client_factory
        self._require_role = require_role
        self._clock = clock
        self._cache: dict[tuple[str, ...], _Cached] = {}
        self._lock = threading.Lock()

    def clients(
        self, pipeline: str, environment: Environment, target: EnvironmentTarget, *, execution_name: str
    ) -> EnvironmentClients:
        if target.role_arn is None and self._require_role:
            raise InvalidPipelineConfig(
                f"{pipeline}: environments.{environment}.role_arn is not set, and this control plane acts "
                "on environments only through their deployer roles (deploy roles/deployer.yaml for the "
                "environment, then name its role there)"
            )
        name = session_name(execution_name)
        key = (pipeline, environment, name, target.model_dump_json())
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached.expires_at - now > REFRESH_MARGIN_SECONDS:
                return cached.clients
        credentials = self._assume(pipeline, environment, target, name) if target.role_arn else None
        guard = _ScopeGuard(environment, target)
        factory = self._client_factory
        clients = EnvironmentClients(
            environment,
            lambda service, **options: _guarded(factory(service, credentials, **options), service, guard),
            target.role_arn,
        )
        expires_at = credentials.expires_at if credentials is not None else float("inf")
        with self._lock:
            # Forget sessions that have expired (one per execution would pile up in a warm function).
            for stale in [k for k, v in self._cache.items() if v.expires_at <= now]:
                del self._cache[stale]
            self._cache[key] = _Cached(clients, expires_at)
        return clients

    def _assume(
        self, pipeline: str, environment: Environment, target: EnvironmentTarget, name: str
    ) -> SessionCredentials:
        assert target.role_arn is not None
        request: dict[str, Any] = {
            "RoleArn": target.role_arn,
            "RoleSessionName": name,
            "DurationSeconds": SESSION_SECONDS,
            "Tags": [{"Key": "pipeline", "Value": pipeline}, {"Key": "environment", "Value": environment}],
            # A role this one chains into keeps saying which promotion it acts for.
            "TransitiveTagKeys": list(SESSION_TAG_KEYS),
        }
        if target.external_id is not None:
            request["ExternalId"] = target.external_id
        try:
            answer = self._sts.assume_role(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            if code in ("AccessDenied", "AccessDeniedException", "InvalidClientTokenId"):
                raise EnvironmentAccessDenied(
                    f"cannot assume {target.role_arn} for {pipeline} {environment} ({code}): its trust "
                    "policy must name this function's role (roles/deployer.yaml)"
                ) from error
            raise
        credentials = answer["Credentials"]
        return SessionCredentials(
            access_key_id=str(credentials["AccessKeyId"]),
            secret_access_key=str(credentials["SecretAccessKey"]),
            session_token=str(credentials["SessionToken"]),
            expires_at=credentials["Expiration"].timestamp(),
        )
