"""The service's own test Lambda and pre-traffic hook: the ``release-promotion/test/v1`` contract.

A pipeline may name, per environment, a test Lambda and a pre-traffic hook
(``environments.<env>.service_tests``). A function of the build is invoked at the version this promotion
published (not through its alias: in prod with a gradual rollout the alias still serves the previous build
until "Shift traffic"); one deployed beside the service, as it is deployed (its ``$LATEST`` or qualifier).
Each is invoked as the environment's deployer role, waiting ``timeout_seconds`` for the answer, with::

    {"contract": "release-promotion/test/v1", "environment": "preprod", "base_url": "https://...",
     "pipeline": "sentiment-service", "sha": "<commit>", "versions": {"api": "7", ...},
     "functions": {"api": "svc-sentiment-preprod-api", ...},
     "execution": "<execution name>", "hook": "pre_traffic"}       # "hook" only for the hook

and answers ``{"passed": bool, "cases": [{"name", "passed", "detail", "seconds"}, ...]}``. Its cases become
results of the step's check report. An answer that does not follow the contract, a function error (its
timeout included) or an invocation that gets no answer is one failed result that says why.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError, ReadTimeoutError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from promotion.models.config import Environment
from promotion.models.execution import CheckResult
from promotion.models.validation import describe_validation_error

CONTRACT: Literal["release-promotion/test/v1"] = "release-promotion/test/v1"
MAX_CASES = 100
MAX_DETAIL = 1_000
MAX_ANSWER_BYTES = 128 * 1024
Source = Literal["test_function", "pre_traffic_hook"]


class ServiceTestRequest(BaseModel):
    """What the test Lambda (or the hook) is invoked with."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    contract: Literal["release-promotion/test/v1"] = CONTRACT
    environment: Environment
    base_url: str
    pipeline: str
    sha: str
    versions: dict[str, str]
    # The same keys' function names: ``functions[key]`` at ``versions[key]`` is the code under test, which a
    # test invokes directly (in prod the alias, and so ``base_url``, serves the previous build until
    # "Shift traffic").
    functions: dict[str, str] = Field(default_factory=dict)
    execution: str
    hook: Literal["pre_traffic"] | None = None

    def payload(self) -> bytes:
        return json.dumps(self.model_dump(mode="json", exclude_none=True)).encode()


class ServiceTestCase(BaseModel):
    # Unknown fields are the test Lambda's own (a later contract may add some); the known ones are strict.
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    passed: StrictBool
    detail: str = ""
    seconds: float = Field(default=0.0, ge=0)

    @field_validator("detail")
    @classmethod
    def _short(cls, detail: str) -> str:
        return detail if len(detail) <= MAX_DETAIL else detail[: MAX_DETAIL - 1] + "…"

    @field_validator("seconds")
    @classmethod
    def _finite(cls, seconds: float) -> float:
        if not math.isfinite(seconds):
            raise ValueError("seconds must be a finite number")
        return seconds


class ServiceTestAnswer(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    passed: StrictBool
    # A run without a single case proves nothing: it is not an answer.
    cases: list[ServiceTestCase] = Field(min_length=1, max_length=MAX_CASES)


class MalformedTestAnswer(ValueError):
    """The test Lambda answered something other than the contract's answer."""


def parse_answer(payload: bytes) -> ServiceTestAnswer:
    """The test run's answer, or ``MalformedTestAnswer`` saying what is wrong with it."""
    if len(payload) > MAX_ANSWER_BYTES:
        raise MalformedTestAnswer(f"answer is {len(payload)} bytes, more than {MAX_ANSWER_BYTES}")
    try:
        document = json.loads(payload or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedTestAnswer(f"answer is not JSON: {error}") from error
    try:
        return ServiceTestAnswer.model_validate(document)
    except ValidationError as error:
        raise MalformedTestAnswer(
            f"answer does not follow {CONTRACT}: {describe_validation_error(error)}"
        ) from error


@dataclass(frozen=True)
class ServiceTestFunction:
    """The function to invoke: one of the environment's at the version under test (``version``), or a test
    Lambda deployed beside the service as it is deployed (its qualifier, or ``$LATEST`` when None)."""

    key: str
    function_name: str
    version: str | None

    def label(self) -> str:
        return f"{self.function_name}:{self.version or '$LATEST'}"

    def invoke_arguments(self) -> dict[str, str]:
        arguments = {"FunctionName": self.function_name}
        if self.version is not None:
            arguments["Qualifier"] = self.version
        return arguments


def answer_results(
    answer: ServiceTestAnswer, function: ServiceTestFunction, source: Source
) -> list[CheckResult]:
    """The answer's cases as check results (named ``<key>/<case>``; a hook's ``pre-traffic <key>/<case>``)."""
    prefix = f"pre-traffic {function.key}" if source == "pre_traffic_hook" else function.key
    results = [
        CheckResult(
            name=f"{prefix}/{case.name}",
            passed=case.passed,
            status=None,
            duration_ms=int(case.seconds * 1000),
            detail=case.detail or ("ok" if case.passed else "failed"),
            source=source,
        )
        for case in answer.cases
    ]
    if not answer.passed and all(result.passed for result in results):
        # The run says it failed without naming a case: the run's verdict stands, and is said as such.
        results.append(_failed_run(prefix, source, "the run answered passed: false, with no failed case", 0))
    return results


def run_test_function(
    lambda_client: Any,
    function: ServiceTestFunction,
    request: ServiceTestRequest,
    *,
    timeout_seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> list[CheckResult]:
    """Invoke ``function`` with ``request``; its cases, or one failed result saying why there are none.

    ``lambda_client`` waits ``timeout_seconds`` for the answer and never sends the run twice (a read
    timeout is not retried): a run that takes longer fails as one that did not answer in time."""
    source: Source = "pre_traffic_hook" if request.hook == "pre_traffic" else "test_function"
    prefix = f"pre-traffic {function.key}" if source == "pre_traffic_hook" else function.key
    started = clock()

    def elapsed_ms() -> int:
        return int((clock() - started) * 1000)

    try:
        response = lambda_client.invoke(**function.invoke_arguments(), Payload=request.payload())
        payload = response["Payload"].read()
    except ReadTimeoutError:
        detail = (
            f"{function.label()} did not answer within {timeout_seconds:g} s (service_tests.timeout_seconds)"
        )
        return [_failed_run(prefix, source, detail, elapsed_ms())]
    except ClientError as error:
        return [_failed_run(prefix, source, _invoke_refused(function, request, error), elapsed_ms())]
    except Exception as error:  # any other failure to get an answer (out of scope, throttled) fails the run
        return [
            _failed_run(
                prefix, source, f"invoke {function.label()}: {type(error).__name__}: {error}", elapsed_ms()
            )
        ]
    if response.get("FunctionError"):
        return [_failed_run(prefix, source, f"{function.label()} {_function_error(payload)}", elapsed_ms())]
    try:
        answer = parse_answer(payload)
    except MalformedTestAnswer as error:
        return [_failed_run(prefix, source, f"{function.label()}: {error}", elapsed_ms())]
    return answer_results(answer, function, source)


def _invoke_refused(function: ServiceTestFunction, request: ServiceTestRequest, error: ClientError) -> str:
    code = str(error.response.get("Error", {}).get("Code", "Unknown"))
    if code in ("AccessDenied", "AccessDeniedException"):
        return (
            f"invoke {function.label()}: {request.environment}'s deployer role may not invoke it ({code}): "
            "roles/deployer.yaml grants lambda:InvokeFunction only under the environment's FunctionNamePrefix"
        )
    if code == "ResourceNotFoundException":
        return f"invoke {function.label()}: no such function or qualifier in {request.environment}'s account"
    return f"invoke {function.label()}: {code}: {error}"


def _function_error(payload: bytes) -> str:
    """Lambda's error document (``errorType``/``errorMessage``; a timeout is ``Sandbox.Timedout``)."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        document = None
    if isinstance(document, dict) and "errorType" in document:
        return f"raised {document['errorType']}: {str(document.get('errorMessage', ''))[:MAX_DETAIL]}"
    return f"failed: {payload[:MAX_DETAIL].decode('utf-8', 'replace')}"


def _failed_run(prefix: str, source: Source, detail: str, duration_ms: int) -> CheckResult:
    return CheckResult(
        name=f"{prefix} (run)",
        passed=False,
        status=None,
        duration_ms=duration_ms,
        detail=detail,
        source=source,
    )
