"""The service's own test Lambda and pre-traffic hook: the contract, its answers, and the check report."""

from __future__ import annotations

import io
import json
from typing import Any, cast

import pytest
import requests
from botocore.exceptions import ClientError, ReadTimeoutError

from promotion.errors import (
    CanaryFailed,
    IntegrationTestsFailed,
    InvalidExecutionInput,
    InvalidPipelineConfig,
)
from promotion.models.config import (
    DEFAULT_SERVICE_TEST_SECONDS,
    MAX_SERVICE_TEST_SECONDS,
    RUN_CHECKS_TIMEOUT_SECONDS,
    PipelineConfig,
    parse_pipeline_config,
    shared_name_prefix,
)
from promotion.models.execution import CheckReport, CheckResult, EnvironmentDeployment
from promotion.models.steps import RunChecksRequest
from promotion.pipeline.service_tests import (
    CONTRACT,
    MalformedTestAnswer,
    ServiceTestFunction,
    ServiceTestRequest,
    answer_results,
    parse_answer,
    run_test_function,
)
from promotion.steps import run_checks as run_checks_step
from tests.support.paths import REPO_ROOT
from tests.support.pipelines import sample_config_dict
from tests.support.templates import load_template

SHA = "a" * 40
EXECUTION = "sentiment-service-aaaaaaaaaaaa-a1"
TESTS = ServiceTestFunction("tests", "svc-sentiment-preprod-tests", "7")
REQUEST = ServiceTestRequest(
    environment="preprod",
    base_url="https://preprod.example",
    pipeline="sentiment-service",
    sha=SHA,
    versions={"api": "7", "tests": "7", "worker": "7"},
    functions={
        "api": "svc-sentiment-preprod-api",
        "tests": "svc-sentiment-preprod-tests",
        "worker": "svc-sentiment-preprod-worker",
    },
    execution=EXECUTION,
)


def answer(*cases: tuple[str, bool], passed: bool | None = None) -> dict[str, Any]:
    return {
        "passed": all(ok for _, ok in cases) if passed is None else passed,
        "cases": [
            {"name": n, "passed": ok, "detail": "" if ok else f"{n} broke", "seconds": 0.25}
            for n, ok in cases
        ],
    }


class CannedLambda:
    """Answers every invocation with one canned response; records (function, qualifier, payload)."""

    def __init__(self, payload: Any, *, function_error: str | None = None, raw: bytes | None = None) -> None:
        self._body = raw if raw is not None else json.dumps(payload).encode()
        self._function_error = function_error
        self.calls: list[tuple[str, str | None, dict[str, Any]]] = []

    def invoke(self, *, FunctionName: str, Payload: bytes, Qualifier: str | None = None) -> dict[str, Any]:
        self.calls.append((FunctionName, Qualifier, json.loads(Payload)))
        response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(self._body)}
        if self._function_error:
            response["FunctionError"] = self._function_error
        return response


class RefusingLambda:
    def __init__(self, code: str) -> None:
        self._code = code

    def invoke(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": self._code, "Message": "no"}}, "Invoke")


class SilentLambda:
    def invoke(self, **_: Any) -> dict[str, Any]:
        raise ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com")


# ---- the contract ----------------------------------------------------------------------------------
def test_the_request_is_the_documented_contract_and_only_the_hook_says_hook() -> None:
    assert json.loads(REQUEST.payload()) == {
        "contract": CONTRACT,
        "environment": "preprod",
        "base_url": "https://preprod.example",
        "pipeline": "sentiment-service",
        "sha": SHA,
        "versions": {"api": "7", "tests": "7", "worker": "7"},
        "functions": {
            "api": "svc-sentiment-preprod-api",
            "tests": "svc-sentiment-preprod-tests",
            "worker": "svc-sentiment-preprod-worker",
        },
        "execution": EXECUTION,
    }
    hook = REQUEST.model_copy(update={"hook": "pre_traffic"})
    assert json.loads(hook.payload())["hook"] == "pre_traffic"


def test_a_well_formed_answer_parses_and_keeps_its_cases() -> None:
    parsed = parse_answer(json.dumps(answer(("auth", True), ("latency", False))).encode())
    assert parsed.passed is False
    assert [(c.name, c.passed, c.seconds) for c in parsed.cases] == [
        ("auth", True, 0.25),
        ("latency", False, 0.25),
    ]


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"not json", "answer is not JSON"),
        (b"null", "does not follow release-promotion/test/v1"),
        (json.dumps({"passed": True, "cases": []}).encode(), "cases"),
        (json.dumps({"passed": "yes", "cases": [{"name": "a", "passed": True}]}).encode(), "passed"),
        (json.dumps({"passed": True, "cases": [{"name": "a", "passed": 1}]}).encode(), "cases.0.passed"),
        (json.dumps({"passed": True, "cases": [{"name": "", "passed": True}]}).encode(), "cases.0.name"),
        (
            json.dumps({"passed": True, "cases": [{"name": "a", "passed": True, "seconds": -1}]}).encode(),
            "seconds",
        ),
        (json.dumps({"cases": [{"name": "a", "passed": True}]}).encode(), "passed"),
    ],
)
def test_a_malformed_answer_is_refused_saying_what_is_wrong(payload: bytes, why: str) -> None:
    with pytest.raises(MalformedTestAnswer, match=why):
        parse_answer(payload)


def test_a_long_detail_is_shortened_not_refused() -> None:
    parsed = parse_answer(
        json.dumps(
            {"passed": False, "cases": [{"name": "a", "passed": False, "detail": "x" * 5000}]}
        ).encode()
    )
    assert len(parsed.cases[0].detail) == 1000


def test_cases_become_check_results_named_after_the_function_key() -> None:
    results = answer_results(
        parse_answer(json.dumps(answer(("auth", True), ("idem", False))).encode()), TESTS, "test_function"
    )
    assert results == [
        CheckResult(
            name="tests/auth", passed=True, status=None, duration_ms=250, detail="ok", source="test_function"
        ),
        CheckResult(
            name="tests/idem",
            passed=False,
            status=None,
            duration_ms=250,
            detail="idem broke",
            source="test_function",
        ),
    ]
    hook = answer_results(
        parse_answer(json.dumps(answer(("ready", True))).encode()), TESTS, "pre_traffic_hook"
    )
    assert [(r.name, r.source) for r in hook] == [("pre-traffic tests/ready", "pre_traffic_hook")]


def test_a_run_that_says_it_failed_without_a_failed_case_fails() -> None:
    results = answer_results(
        parse_answer(json.dumps(answer(("auth", True), passed=False)).encode()), TESTS, "test_function"
    )
    assert [r.passed for r in results] == [True, False]
    assert results[-1].detail == "the run answered passed: false, with no failed case"


# ---- invoking it -----------------------------------------------------------------------------------
def test_the_test_lambda_is_invoked_at_the_version_under_test_with_the_contract() -> None:
    lam = CannedLambda(answer(("auth", True)))
    results = run_test_function(lam, TESTS, REQUEST, timeout_seconds=30)
    assert [r.passed for r in results] == [True]
    function, qualifier, payload = lam.calls[0]
    assert (function, qualifier, payload["contract"], payload["sha"]) == (
        "svc-sentiment-preprod-tests",
        "7",
        CONTRACT,
        SHA,
    )


@pytest.mark.parametrize(
    ("lam", "detail"),
    [
        (
            CannedLambda({"errorType": "AssertionError", "errorMessage": "boom"}, function_error="Unhandled"),
            "svc-sentiment-preprod-tests:7 raised AssertionError: boom",
        ),
        (
            CannedLambda(
                {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 20.00 seconds"},
                function_error="Unhandled",
            ),
            "svc-sentiment-preprod-tests:7 raised Sandbox.Timedout: Task timed out after 20.00 seconds",
        ),
        (CannedLambda(None, raw=b'{"ok": true}'), "svc-sentiment-preprod-tests:7: answer does not follow"),
        (
            SilentLambda(),
            "svc-sentiment-preprod-tests:7 did not answer within 30 s (service_tests.timeout_seconds)",
        ),
        (
            RefusingLambda("AccessDeniedException"),
            "invoke svc-sentiment-preprod-tests:7: preprod's deployer role may not invoke it "
            "(AccessDeniedException): roles/deployer.yaml grants lambda:InvokeFunction only under",
        ),
        (
            RefusingLambda("ResourceNotFoundException"),
            "invoke svc-sentiment-preprod-tests:7: no such function or qualifier in preprod's account",
        ),
    ],
)
def test_no_answer_by_the_contract_is_one_failed_result_saying_why(lam: Any, detail: str) -> None:
    results = run_test_function(lam, TESTS, REQUEST, timeout_seconds=30)
    assert len(results) == 1
    assert (results[0].name, results[0].passed, results[0].source) == ("tests (run)", False, "test_function")
    assert results[0].detail.startswith(detail), results[0].detail


def test_joining_a_report_keeps_order_and_fails_on_any_failed_case() -> None:
    http = CheckResult(name="health", passed=True, status=200, duration_ms=3, detail="ok")
    report = CheckReport(suite="integration", environment="preprod", target="u", passed=True, results=[http])
    failed = CheckResult(
        name="tests/idem", passed=False, status=None, duration_ms=1, detail="no", source="test_function"
    )
    joined = report.joined([failed])
    assert (joined.passed, [r.name for r in joined.results]) == (False, ["health", "tests/idem"])
    assert joined.summary() == "1/2 integration checks failed on u: tests/idem: no"
    assert report.joined([http]).passed is True


# ---- config ----------------------------------------------------------------------------------------
def test_service_tests_must_name_functions_of_the_environment() -> None:
    document = sample_config_dict()
    document["environments"]["prod"]["service_tests"] = {"test_function": "selftest"}
    with pytest.raises(
        InvalidPipelineConfig, match="service_tests names 'selftest', which is not one of functions"
    ):
        parse_pipeline_config(document, source="test")


def test_service_tests_are_off_unless_configured() -> None:
    document = sample_config_dict()
    del document["environments"]["preprod"]["service_tests"]
    target = parse_pipeline_config(document, source="test").environments.preprod
    assert (target.service_tests.test_function, target.service_tests.pre_traffic_hook) == (None, None)


# ---- the step: hook, HTTP checks, test Lambda, one report -----------------------------------------------
class Store:
    def __init__(self, config: PipelineConfig) -> None:
        self._config = config

    def get(self, pipeline: str) -> PipelineConfig:
        return self._config


class OkService:
    """Answers the sample's HTTP checks as a healthy service; records the paths called."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.paths.append(url.rsplit("/", 1)[-1])
        text = (kwargs.get("json") or {}).get("text", "")
        document = {"status": "ok", "label": "positive" if "love" in text else "negative"}
        return type("R", (), {"status_code": 200, "text": json.dumps(document), "headers": {}})()


class OwnTests:
    """The environment's Lambda client: the service's test Lambda and hook answer; every api call passes."""

    def __init__(self, *, hook: dict[str, Any], tests: dict[str, Any]) -> None:
        self._hook, self._tests = hook, tests
        self.calls: list[tuple[str, str | None, str | None]] = []

    def invoke(self, *, FunctionName: str, Payload: bytes, Qualifier: str | None = None) -> dict[str, Any]:
        event = json.loads(Payload)
        if "contract" in event:
            self.calls.append((FunctionName, Qualifier, event.get("hook")))
            body: Any = self._hook if event.get("hook") == "pre_traffic" else self._tests
        else:
            body = {
                "statusCode": 200,
                "body": json.dumps(
                    {
                        "status": "ok",
                        "label": "positive" if "love" in (event.get("body") or "") else "negative",
                    }
                ),
            }
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}


def deployment(environment: str) -> EnvironmentDeployment:
    return EnvironmentDeployment.model_validate(
        {
            "environment": environment,
            "functions": [
                {
                    "key": key,
                    "function_name": f"svc-sentiment-{environment}-{key}",
                    "alias": "live",
                    "previous_version": "1",
                    "version": "5",
                    "code_sha256": "abc=",
                }
                for key in ("api", "worker", "tests")
            ],
        }
    )


def run(
    suite: str,
    lam: OwnTests,
    service: OkService,
    *,
    sha: str | None = SHA,
    document: dict[str, Any] | None = None,
    waits: list[tuple[str, float]] | None = None,
) -> CheckReport:
    environment = "preprod" if suite == "integration" else "prod"
    request = RunChecksRequest.model_validate(
        {
            "pipeline": "sentiment-service",
            "suite": suite,
            "execution_name": EXECUTION,
            "sha": sha,
            "deployment": deployment(environment).model_dump(),
        }
    )
    configs = cast(Any, Store(parse_pipeline_config(document or sample_config_dict(), source="test")))

    def test_clients(environment: str, seconds: float) -> OwnTests:
        if waits is not None:
            waits.append((environment, seconds))
        return lam

    return run_checks_step.run_check_suite(
        configs, lambda _environment: lam, cast(requests.Session, service), request, test_clients
    )


@pytest.mark.parametrize("suite", ["integration", "canary"])
def test_the_hook_runs_first_and_the_test_lambda_last_in_one_report(suite: str) -> None:
    lam = OwnTests(hook=answer(("ready", True)), tests=answer(("auth", True), ("idem", True)))
    report = run(suite, lam, OkService())
    assert report.passed is True
    names = [r.name for r in report.results]
    assert names[0] == "pre-traffic tests/ready"
    assert names[-2:] == ["tests/auth", "tests/idem"]
    assert [r.source for r in report.results].count("http") == len(names) - 3
    environment = "preprod" if suite == "integration" else "prod"
    assert lam.calls == [
        (f"svc-sentiment-{environment}-tests", "5", "pre_traffic"),
        (f"svc-sentiment-{environment}-tests", "5", None),
    ]


@pytest.mark.parametrize(
    ("suite", "error"), [("integration", IntegrationTestsFailed), ("canary", CanaryFailed)]
)
def test_a_failed_hook_fails_the_step_before_any_check_calls_the_service(
    suite: str, error: type[Exception]
) -> None:
    lam = OwnTests(hook=answer(("migrations", False)), tests=answer(("auth", True)))
    service = OkService()
    with pytest.raises(
        error, match=r"1/1 \w+ checks failed on .*: pre-traffic tests/migrations: migrations broke"
    ):
        run(suite, lam, service)
    assert service.paths == []
    assert [hook for *_, hook in lam.calls] == ["pre_traffic"]


@pytest.mark.parametrize(
    ("suite", "error"), [("integration", IntegrationTestsFailed), ("canary", CanaryFailed)]
)
def test_a_failed_case_of_the_test_lambda_fails_the_step_naming_the_case(
    suite: str, error: type[Exception]
) -> None:
    lam = OwnTests(hook=answer(("ready", True)), tests=answer(("auth", True), ("blank-text-refused", False)))
    with pytest.raises(
        error, match=r"checks failed on .*: tests/blank-text-refused: blank-text-refused broke$"
    ):
        run(suite, lam, OkService())


def test_the_service_tests_need_the_commit_under_test() -> None:
    lam = OwnTests(hook=answer(("ready", True)), tests=answer(("auth", True)))
    with pytest.raises(InvalidExecutionInput, match="need the preprod deployment and the commit they test"):
        run("integration", lam, OkService(), sha=None)


# ---- a test Lambda deployed beside the service, and the time it has --------------------------------------
BESIDE = {"function_name": "svc-sentiment-prod-suite"}


def with_service_tests(environment: str, **settings: Any) -> dict[str, Any]:
    document = sample_config_dict()
    document["environments"][environment]["service_tests"] = settings
    return document


@pytest.mark.parametrize(
    ("deployed", "invoked"),
    [(BESIDE, None), ({**BESIDE, "qualifier": "stable"}, "stable")],
)
def test_a_test_lambda_deployed_beside_the_service_is_invoked_as_deployed(
    deployed: dict[str, str], invoked: str | None
) -> None:
    # Given prod's test Lambda is deployed beside the service (its hook is still the build's own)
    document = with_service_tests(
        "prod", test_function=deployed, pre_traffic_hook="tests", timeout_seconds=45
    )
    lam = OwnTests(hook=answer(("ready", True)), tests=answer(("auth", True)))
    waits: list[tuple[str, float]] = []

    report = run("canary", lam, OkService(), document=document, waits=waits)

    # Then it is invoked at its $LATEST (no qualifier) or its qualifier; the hook at the new version
    assert lam.calls == [
        ("svc-sentiment-prod-tests", "5", "pre_traffic"),
        ("svc-sentiment-prod-suite", invoked, None),
    ]
    # And its cases join the report under its own name; each invocation waits the configured time
    assert report.results[-1].name == "svc-sentiment-prod-suite/auth"
    assert waits == [("prod", 45), ("prod", 45)]


def test_a_failing_test_lambda_deployed_beside_the_service_fails_the_step() -> None:
    document = with_service_tests("preprod", test_function={"function_name": "svc-sentiment-preprod-suite"})
    lam = OwnTests(hook=answer(("ready", True)), tests=answer(("auth", False)))
    with pytest.raises(IntegrationTestsFailed, match=r"svc-sentiment-preprod-suite/auth: auth broke$"):
        run("integration", lam, OkService(), document=document)


def test_a_deployed_test_lambda_is_labelled_with_what_is_invoked() -> None:
    lam = SilentLambda()
    beside = ServiceTestFunction("svc-sentiment-preprod-suite", "svc-sentiment-preprod-suite", None)
    (result,) = run_test_function(lam, beside, REQUEST, timeout_seconds=12.5)
    assert result.detail == (
        "svc-sentiment-preprod-suite:$LATEST did not answer within 12.5 s (service_tests.timeout_seconds)"
    )
    assert beside.invoke_arguments() == {"FunctionName": "svc-sentiment-preprod-suite"}


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        (
            {"test_function": {"function_name": "team-suite"}},
            r"service_tests function team-suite is outside the environment's function name prefix "
            r"'svc-sentiment-prod-'",
        ),
        (
            {"test_function": {"function_name": "svc-sentiment-preprod-suite"}},
            "outside the environment's function name prefix",
        ),
        (
            {
                "pre_traffic_hook": {
                    "function_name": "arn:aws:lambda:us-east-1:222222222222:function:svc-sentiment-prod-suite"
                }
            },
            "is in account 222222222222, role_arn in account 333333333333",
        ),
        (
            {"test_function": {"function_name": "svc-sentiment-prod-tests"}},
            "is one of functions: name its key",
        ),
        (
            {"test_function": {"function_name": "svc-sentiment-prod-suite", "qualifier": "$LATEST!"}},
            "qualifier",
        ),
        ({"test_function": "tests", "timeout_seconds": 361}, "timeout_seconds"),
        ({"test_function": "tests", "timeout_seconds": 0}, "timeout_seconds"),
    ],
)
def test_a_test_lambda_the_deployer_role_may_not_invoke_is_refused_at_validation(
    settings: dict[str, Any], why: str
) -> None:
    with pytest.raises(InvalidPipelineConfig, match=why):
        parse_pipeline_config(with_service_tests("prod", **settings), source="test")


def test_a_deployed_test_lambda_by_arn_in_the_environments_account_is_accepted() -> None:
    arn = "arn:aws:lambda:us-east-1:333333333333:function:svc-sentiment-prod-suite"
    document = with_service_tests("prod", test_function={"function_name": arn, "qualifier": "live"})
    tests = parse_pipeline_config(document, source="test").environments.prod.service_tests
    assert tests.deployed_functions()[0].label() == "svc-sentiment-prod-suite:live"
    assert tests.function_keys() == []
    assert tests.timeout_seconds == DEFAULT_SERVICE_TEST_SECONDS


def test_the_function_name_prefix_is_what_the_environments_functions_share() -> None:
    assert shared_name_prefix({"svc-a-prod-api", "svc-a-prod-worker"}) == "svc-a-prod-"
    assert shared_name_prefix({"svc-a-prod-api"}) == "svc-a-prod-"
    assert shared_name_prefix({"svc_a_api", "svc_a_apx"}) == "svc_a_"
    assert shared_name_prefix({"alpha", "beta"}) == ""


def test_the_longest_test_runs_fit_in_the_run_checks_functions_timeout() -> None:
    # The hook and the test Lambda may each take the longest timeout; the HTTP checks need time too.
    template = load_template(REPO_ROOT / "template.yaml")
    timeout = template["Resources"]["RunChecksFunction"]["Properties"]["Timeout"]
    assert timeout == RUN_CHECKS_TIMEOUT_SECONDS
    assert 2 * MAX_SERVICE_TEST_SECONDS + 180 <= timeout <= 900  # 900 s: Lambda's own limit
