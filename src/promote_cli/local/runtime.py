"""Lambda invocations on the local plane.

moto's Step Functions interpreter, the handlers' own clients and the local HTTP server all invoke through
boto3's default session; a ``before-call.lambda.Invoke`` hook answers them here instead of moto's
Docker-based runtime:

- control-plane functions (from template.yaml) run their real handler in this process;
- service functions (the ones being promoted) run the code actually deployed to the invoked version,
  read from moto's Lambda backend, in an interpreter of their own that stays warm for the next
  invocations of that version, as Lambda keeps execution environments (see ``warm_workers``). An
  invocation through an alias records Lambda's per-version metrics in CloudWatch (AWS/Lambda Invocations,
  Errors, Duration by ExecutedVersion; ``record_invocation_metrics``), which the canary analysis reads.
  As on Lambda, a service function's environment holds its execution role's credentials (and the plane's
  endpoint, ``give_service_functions``), so its own AWS calls are made as that role.

Calls from outside this process (a service function calling Lambda's Invoke, as the sample's test Lambda
does) reach moto's server instead; ``install_hook`` routes those to the same dispatch (the server's IAM
middleware has already checked the caller's ``lambda:InvokeFunction``). Either way an ``Event`` invoke is
answered 202 at once and runs in a thread of its own, as Lambda queues it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import random
import sys
import threading
import traceback
import urllib.parse
import uuid
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.response import StreamingBody

from promote_cli.local.template import FunctionSource
from promote_cli.local.warm_workers import (
    EnvironmentExited,
    EnvironmentSpec,
    EnvironmentTimedOut,
    WarmEnvironments,
)

Handler = Callable[[Any, Any], Any]
# What a control-plane handler runs as (its execution role's credentials), by function name.
HandlerIdentity = Callable[[str], AbstractContextManager[object]]
# A service function's AWS environment (credentials of its execution role, the endpoint) by role ARN.
ServiceEnvironment = Callable[[str], dict[str, str]]
# None when the principal signing an Invoke (by access key) may invoke the function (by ARN); else the error
# code and message Lambda answers with.
InvokeGuard = Callable[[str | None, str], tuple[str, str] | None]


@dataclass(frozen=True)
class InvokeResult:
    payload: bytes
    function_error: str | None
    executed_version: str


class LambdaContext:
    """What a handler sees as ``context``."""

    def __init__(self, function_name: str, arn: str, version: str, memory: int, timeout: int) -> None:
        self.function_name = function_name
        self.function_version = version
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = _now() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - _now()) * 1000))


def _now() -> float:
    import time

    return time.monotonic()


@dataclass
class ControlFunction:
    function_name: str
    arn: str
    source: FunctionSource
    memory: int
    timeout: int
    _handler: Handler | None = None

    def handler(self) -> Handler:
        if self._handler is None:
            module_file, _, attribute = self.source.handler.rpartition(".")
            path = self.source.code_dir / (module_file.replace(".", "/") + ".py")
            spec = importlib.util.spec_from_file_location(f"local_function_{self.source.logical_id}", path)
            if spec is None or spec.loader is None:
                raise RuntimeError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._handler = getattr(module, attribute)
        return self._handler


def _error_payload(error: BaseException) -> bytes:
    return json.dumps(
        {
            "errorType": type(error).__name__,
            "errorMessage": str(error),
            "stackTrace": traceback.format_exception(error),
        }
    ).encode()


FaultKind = Literal["transient", "permanent", "timeout"]

# What Lambda answers, per kind of injected fault (FunctionError "Unhandled" and this payload).
# - transient: a Lambda service error. Step Functions names it ``Lambda.ServiceException`` (the ASL retries
#   it). On AWS it is the Invoke API's 5xx; here it travels as the error payload's ``errorType``, because
#   moto's interpreter names every ClientError of a direct-ARN Lambda task "Exception".
# - permanent: the function raised an error no Retry of the ASL lists.
# - timeout: the function ran past its Timeout. Current Lambda runtimes report ``Sandbox.Timedout``
#   ("Task timed out after N seconds"); the handler's side effects have happened, its answer is lost.
FAULT_ERRORS: dict[str, tuple[str, str]] = {
    "transient": ("Lambda.ServiceException", "injected: Lambda service error (transient)"),
    "permanent": ("InjectedFault", "injected: the function failed"),
    "timeout": ("Sandbox.Timedout", "injected: Task timed out after {timeout:.2f} seconds"),
}


@dataclass
class InjectedFault:
    """A fault the runtime answers for ``function_name`` instead of (or, for a timeout, after) the handler."""

    function_name: str
    kind: FaultKind
    times: int | None = None  # None: every matching invocation
    when: Callable[[dict[str, Any]], bool] | None = None  # filter on the decoded payload
    hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def claim(self, name: str, payload: bytes) -> bool:
        """True when this invocation is one the fault answers (and counts it)."""
        if name != self.function_name:
            return False
        if self.when is not None:
            try:
                event = json.loads(payload or b"{}")
            except ValueError:
                return False
            if not isinstance(event, dict) or not self.when(event):
                return False
        with self._lock:
            if self.times is not None and self.hits >= self.times:
                return False
            self.hits += 1
        return True

    def answer(self, timeout: int) -> bytes:
        error_type, message = FAULT_ERRORS[self.kind]
        return json.dumps({"errorType": error_type, "errorMessage": message.format(timeout=timeout)}).encode()


def split_function(name_or_arn: str, qualifier: str | None) -> tuple[str, str | None]:
    """``name``, ``name:qualifier`` or a function ARN (with or without qualifier) -> (name, qualifier)."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        name = parts[6]
        return name, qualifier or (parts[7] if len(parts) > 7 else None)
    if ":" in name_or_arn:
        name, _, inline = name_or_arn.partition(":")
        return name, qualifier or inline
    return name_or_arn, qualifier


class LocalLambdaRuntime:
    def __init__(self, *, account: str, region: str, workdir: Path) -> None:
        self._account = account
        self._region = region
        self._code_cache = workdir / "code"
        self._code_cache.mkdir(parents=True, exist_ok=True)
        self._control: dict[str, ControlFunction] = {}
        self._extract_lock = threading.Lock()
        self._random = random.Random()
        self.invocations: list[tuple[str, str]] = []
        self._faults: list[InjectedFault] = []
        self._faults_lock = threading.Lock()
        self._identity: HandlerIdentity = lambda _name: nullcontext()
        self._invoke_guard: InvokeGuard | None = None
        self._environments = WarmEnvironments()
        self._service_environment: ServiceEnvironment = lambda _role: {}
        # Accounts besides the control plane's that hold service functions (searched for a caller whose
        # account is unknown, such as the HTTP front door).
        self._target_accounts: list[str] = []
        # moto's own answer to an Invoke on its server, while ``install_hook`` replaces it.
        self._moto_invoke: Any = None
        self._installed_invoke: Any = None

    def enforce_iam(self, identity: HandlerIdentity, guard: InvokeGuard) -> None:
        """Run each control-plane handler as its role, and check each Invoke's caller first."""
        self._identity = identity
        self._invoke_guard = guard

    def give_service_functions(self, environment: ServiceEnvironment) -> None:
        """What a service function's environment gets to call AWS as its role (variables by role ARN)."""
        self._service_environment = environment

    def close(self) -> None:
        """End the service functions' warm environments, and stop answering Invokes (``install_hook``):
        a later plane, or any other client of boto3's default session, must not reach this one."""
        self._environments.close()
        self.uninstall_hook()

    def add_target_account(self, account: str) -> None:
        if account not in self._target_accounts:
            self._target_accounts.append(account)

    def register_control(self, function: ControlFunction) -> None:
        self._control[function.function_name] = function

    def control_functions(self) -> dict[str, ControlFunction]:
        return dict(self._control)

    # ---- fault injection ------------------------------------------------------------------
    def inject_fault(
        self,
        function_name: str,
        *,
        kind: FaultKind,
        times: int | None = None,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> InjectedFault:
        """Answer matching invocations of ``function_name`` with a fault (see ``FAULT_ERRORS``).

        ``when`` filters on the payload (one function serves several states); ``times=1`` makes a fault
        that the first retry gets past. Faults apply in the order injected; ``clear_faults`` removes all.
        """
        if kind not in FAULT_ERRORS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_ERRORS)}")
        fault = InjectedFault(function_name, kind, times, when)
        with self._faults_lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    def _claim_fault(self, name: str, payload: bytes) -> InjectedFault | None:
        with self._faults_lock:
            faults = list(self._faults)
        return next((fault for fault in faults if fault.claim(name, payload)), None)

    # ---- dispatch -------------------------------------------------------------------------
    def invoke(
        self, name_or_arn: str, payload: bytes, qualifier: str | None = None, *, account: str | None = None
    ) -> InvokeResult:
        """Invoke a function of ``account`` (the caller's; None: whichever account holds the name)."""
        if name_or_arn.startswith("arn:"):
            account = name_or_arn.split(":")[4]
        name, qualifier = split_function(name_or_arn, qualifier)
        self.invocations.append((name, qualifier or "$LATEST"))
        fault = self._claim_fault(name, payload)
        if fault is not None:
            return self._invoke_faulted(fault, name, payload, qualifier, account)
        return self._dispatch(name, payload, qualifier, account)

    def _invoke_faulted(
        self, fault: InjectedFault, name: str, payload: bytes, qualifier: str | None, account: str | None
    ) -> InvokeResult:
        control = self._control.get(name)
        timeout = control.timeout if control is not None else 3
        if fault.kind == "timeout":
            # The function did its work (or part of it) before Lambda stopped it; only the answer is lost.
            self._dispatch(name, payload, qualifier, account)
        return InvokeResult(fault.answer(timeout), "Unhandled", qualifier or "$LATEST")

    def _dispatch(
        self, name: str, payload: bytes, qualifier: str | None, account: str | None
    ) -> InvokeResult:
        control = self._control.get(name)
        # Control-plane functions exist in the control plane's account only.
        if control is not None and account in (None, self._account):
            return self._invoke_control(control, payload)
        return self._invoke_target(name, qualifier, payload, account)

    def _target_account(self, name: str) -> str:
        """The account holding service function ``name`` (the control plane's when none does)."""
        from moto.awslambda.models import lambda_backends

        for account in [self._account, *self._target_accounts]:
            if name in lambda_backends[account][self._region]._lambdas._functions:
                return account
        return self._account

    def _invoke_control(self, function: ControlFunction, payload: bytes) -> InvokeResult:
        context = LambdaContext(
            function.function_name, function.arn, "$LATEST", function.memory, function.timeout
        )
        try:
            event = json.loads(payload or b"{}")
            with self._identity(function.function_name):
                result = function.handler()(event, context)
        except Exception as error:
            return InvokeResult(_error_payload(error), "Unhandled", "$LATEST")
        return InvokeResult(json.dumps(result).encode(), None, "$LATEST")

    def _invoke_target(
        self, name: str, qualifier: str | None, payload: bytes, account: str | None = None
    ) -> InvokeResult:
        from moto.awslambda.models import lambda_backends

        backend = lambda_backends[account or self._target_account(name)][self._region]
        try:
            function = backend.get_function(name, self._route(backend, name, qualifier))
        except Exception as error:
            return InvokeResult(_error_payload(error), "Unhandled", qualifier or "$LATEST")
        spec = EnvironmentSpec(
            code_dir=self._extract(function.code_bytes),
            handler=str(function.handler),
            environment=tuple(
                sorted(
                    {
                        "AWS_REGION": self._region,
                        "AWS_DEFAULT_REGION": self._region,
                        "AWS_LAMBDA_FUNCTION_NAME": name,
                        "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
                        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
                        "LOCAL_INVOKED_FUNCTION_ARN": function.function_arn,
                        **self._service_environment(str(function.role)),
                        **{str(k): str(v) for k, v in (function.environment_vars or {}).items()},
                    }.items()
                )
            ),
        )
        version = str(function.version)
        try:
            event = json.loads(payload or b"null")
        except ValueError as error:
            invalid = {"errorType": "InvalidRequestContentException", "errorMessage": str(error)}
            return InvokeResult(json.dumps(invalid).encode(), "Unhandled", version)
        timeout = float(function.timeout or 3)
        result, duration_ms = self._run_target(spec, event, timeout, version)
        if qualifier is not None and qualifier != "$LATEST" and not qualifier.isdigit():
            # Through an alias: Lambda's per-version metrics (ExecutedVersion), in the function's account.
            record_invocation_metrics(
                account or self._target_account(name),
                self._region,
                function_name=name,
                alias=qualifier,
                version=version,
                error=result.function_error is not None,
                duration_ms=duration_ms,
            )
        return result

    def _run_target(
        self, spec: EnvironmentSpec, event: Any, timeout: float, version: str
    ) -> tuple[InvokeResult, float]:
        """One invocation in a warm environment, and its Duration in ms (the handler's time)."""
        try:
            answer = self._environments.invoke(spec, event, timeout=timeout)
        except EnvironmentTimedOut:
            timeout_error = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out"}
            return InvokeResult(json.dumps(timeout_error).encode(), "Unhandled", version), timeout * 1000
        except EnvironmentExited as exited:
            crash = {"errorType": "Runtime.ExitError", "errorMessage": str(exited)}
            return InvokeResult(json.dumps(crash).encode(), "Unhandled", version), 0.0
        logs = str(answer.pop("logs", "") or "")
        duration_ms = float(answer.pop("duration_ms", 0.0) or 0.0)
        if logs:
            sys.stderr.write(logs)
        if "errorType" in answer:
            return InvokeResult(json.dumps(answer).encode(), "Unhandled", version), duration_ms
        return InvokeResult(json.dumps(answer["result"]).encode(), None, version), duration_ms

    def _function_arn(self, name_or_arn: str, qualifier: str | None, account: str) -> str:
        if name_or_arn.startswith("arn:"):
            account = name_or_arn.split(":")[4]
        name, qualifier = split_function(name_or_arn, qualifier)
        arn = f"arn:aws:lambda:{self._region}:{account}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier else arn

    def _route(self, backend: Any, name: str, qualifier: str | None) -> str | None:
        """An alias with weighted routing sends each request to one of its versions, as Lambda does."""
        if qualifier is None or qualifier == "$LATEST" or qualifier.isdigit():
            return qualifier
        try:
            alias = backend.get_alias(qualifier, name)
        except Exception:
            return qualifier  # not an alias: let get_function answer as Lambda would
        weights = (alias.routing_config or {}).get("AdditionalVersionWeights") or {}
        draw = self._random.random()
        for version, weight in weights.items():
            if draw < float(weight):
                return str(version)
            draw -= float(weight)
        return str(alias.function_version)

    def _extract(self, code: bytes) -> Path:
        target = self._code_cache / hashlib.sha256(code).hexdigest()
        with self._extract_lock:
            if not target.exists():
                staging = target.with_suffix(".partial")
                with zipfile.ZipFile(io.BytesIO(code)) as archive:
                    archive.extractall(staging)
                staging.rename(target)
        return target

    # ---- the botocore hook ----------------------------------------------------------------
    def install_hook(self) -> None:
        """Answer every Lambda Invoke made through boto3's default session (moto's interpreter included)."""
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call.lambda.Invoke", self._before_invoke)
        self._serve_server_invokes()

    def uninstall_hook(self) -> None:
        """Undo ``install_hook``: Invokes go where boto3 and moto send them again."""
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION.events.unregister("before-call.lambda.Invoke", self._before_invoke)
        if self._moto_invoke is not None:
            from moto.awslambda.responses import LambdaResponse

            # Only while it is still this runtime's answer: a plane started since then keeps its own.
            if LambdaResponse.invoke is self._installed_invoke:
                LambdaResponse.invoke = self._moto_invoke  # type: ignore[method-assign]
            self._moto_invoke = self._installed_invoke = None

    def _serve_server_invokes(self) -> None:
        """Answer the Invokes that reach moto's server (from other processes) here too, not in Docker."""
        from moto.awslambda.responses import LambdaResponse

        runtime = self
        if self._moto_invoke is None:
            self._moto_invoke = LambdaResponse.invoke

        def invoke(response: Any) -> tuple[int, dict[str, str], bytes]:
            function = urllib.parse.unquote(response.path.rsplit("/", 2)[-2])
            qualifier = (response.querystring.get("Qualifier") or [None])[0]
            body = response.body
            payload = body.encode() if isinstance(body, str) else bytes(body or b"")
            account = str(response.backend.account_id)
            invocation_type = {str(k).lower(): str(v) for k, v in response.headers.items()}.get(
                "x-amz-invocation-type"
            )
            if invocation_type == "Event":
                runtime._queue(function, payload, qualifier, account)
                # moto's server takes the status from this header, as moto's own invoke sets it.
                return 202, {"content-type": "application/json", "status": "202"}, b""
            result = runtime.invoke(function, payload, qualifier, account=account)
            headers = {"content-type": "application/json", "x-amz-executed-version": result.executed_version}
            if result.function_error:
                headers["x-amz-function-error"] = result.function_error
            return 200, headers, result.payload

        LambdaResponse.invoke = invoke  # type: ignore[method-assign,assignment]
        self._installed_invoke = invoke

    def _queue(self, function: str, payload: bytes, qualifier: str | None, account: str) -> None:
        """An asynchronous invoke (``InvocationType: Event``): Lambda queues the event and answers 202 at
        once, whatever the function then does; so does the local plane, in a thread of its own."""
        threading.Thread(
            target=self.invoke,
            args=(function, payload, qualifier),
            kwargs={"account": account},
            name=f"async-{function}",
            daemon=True,
        ).start()

    def _before_invoke(
        self, params: dict[str, Any], request_signer: Any = None, **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]]:
        path = urllib.parse.unquote(params["url_path"])
        function = path.split("/functions/", 1)[1].split("/", 1)[0]
        qualifier = (params.get("query_string") or {}).get("Qualifier")
        headers = {str(k).lower(): str(v) for k, v in (params.get("headers") or {}).items()}
        account = _caller_account(headers, request_signer)
        if self._invoke_guard is not None:
            # A function named without its ARN is the caller's account's, as Lambda reads the name.
            refused = self._invoke_guard(
                _signing_key(request_signer), self._function_arn(function, qualifier, account)
            )
            if refused is not None:
                code, message = refused
                error = {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                }
                return AWSResponse(params.get("url", ""), 403, HTTPHeaders(), None), error
        body = params.get("body") or b""
        payload = body.encode() if isinstance(body, str) else bytes(body)
        if headers.get("x-amz-invocation-type") == "Event":
            self._queue(function, payload, qualifier, account)
            accepted: dict[str, Any] = {"StatusCode": 202, "Payload": StreamingBody(io.BytesIO(b""), 0)}
            return AWSResponse(params.get("url", ""), 202, HTTPHeaders(), None), accepted
        result = self.invoke(function, payload, qualifier, account=account)
        parsed: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": result.executed_version,
            "Payload": StreamingBody(io.BytesIO(result.payload), len(result.payload)),
        }
        if result.function_error:
            parsed["FunctionError"] = result.function_error
        return AWSResponse(params.get("url", ""), 200, HTTPHeaders(), None), parsed


def record_invocation_metrics(
    account: str,
    region: str,
    *,
    function_name: str,
    alias: str,
    version: str,
    error: bool,
    duration_ms: float,
) -> None:
    """What Lambda publishes for one invocation through an alias: ``AWS/Lambda`` Invocations, Errors and
    Duration with the dimensions FunctionName, Resource (``function:alias``) and ExecutedVersion (put straight
    into moto's CloudWatch of the function's account, as Lambda's own publishing needs no caller rights)."""
    from moto.cloudwatch.models import cloudwatch_backends

    dimensions = [
        {"Name": "FunctionName", "Value": function_name},
        {"Name": "Resource", "Value": f"{function_name}:{alias}"},
        {"Name": "ExecutedVersion", "Value": version},
    ]
    cloudwatch_backends[account][region].put_metric_data(
        "AWS/Lambda",
        [
            {"MetricName": "Invocations", "Dimensions": dimensions, "Value": 1.0, "Unit": "Count"},
            {
                "MetricName": "Errors",
                "Dimensions": dimensions,
                "Value": 1.0 if error else 0.0,
                "Unit": "Count",
            },
            {
                "MetricName": "Duration",
                "Dimensions": dimensions,
                "Value": duration_ms,
                "Unit": "Milliseconds",
            },
        ],
    )


def _signing_key(request_signer: Any) -> str | None:
    """The access key a client signs with (None when it has no credentials)."""
    credentials = getattr(request_signer, "_credentials", None)
    if credentials is None:
        return None
    return str(credentials.get_frozen_credentials().access_key)


def _caller_account(headers: dict[str, str], request_signer: Any) -> str:
    """The account a Lambda call is made in, as moto decides it: its account header, else its access key's."""
    from moto.iam.models import get_account_id_from

    if "x-moto-account-id" in headers:
        return headers["x-moto-account-id"]
    credentials = getattr(request_signer, "_credentials", None)
    access_key = credentials.get_frozen_credentials().access_key if credentials is not None else ""
    return str(get_account_id_from(access_key or ""))
