"""The step behind functions/run_checks: typed request in, typed result out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from promotion.adapters.config_store import PipelineConfigStore
from promotion.errors import (
    CanaryFailed,
    IntegrationTestsFailed,
    InvalidExecutionInput,
    PromotionError,
)
from promotion.models.config import (
    DeployedTestFunction,
    Environment,
    EnvironmentTarget,
    TestFunction,
    function_name,
)
from promotion.models.execution import (
    CheckReport,
    CheckResult,
    EnvironmentDeployment,
)
from promotion.models.steps import (
    RunChecksRequest,
)
from promotion.pipeline.checks import (
    CheckTransport,
    HttpTransport,
    LambdaVersionTransport,
    VersionTarget,
    run_checks,
)
from promotion.pipeline.service_tests import ServiceTestFunction, ServiceTestRequest, run_test_function

# The environment's Lambda client, as its deployer role (made only when a step needs it).
LambdaClients = Callable[[Environment], Any]
# The same, waiting up to the given seconds for an invocation's answer and never retrying one.
TestLambdaClients = Callable[[Environment, float], Any]


def run_check_suite(
    configs: PipelineConfigStore,
    lambda_clients: LambdaClients,
    session: requests.Session,
    request: RunChecksRequest,
    test_clients: TestLambdaClients | None = None,
) -> CheckReport:
    """The pre-traffic hook first (when configured), then the pipeline's checks, then (when they passed) the
    service's own test Lambda; one report. Any failure raises the suite's error (``IntegrationTestsFailed``
    or ``CanaryFailed``) with the report's summary, which names each failed check or case."""
    config = configs.get(request.pipeline)
    integration = request.suite == "integration"
    environment: Environment = "preprod" if integration else "prod"
    failed: type[PromotionError] = IntegrationTestsFailed if integration else CanaryFailed
    target = config.environments.target(environment)
    deployment = request.deployment
    if deployment is not None and deployment.environment != environment:
        deployment = None  # another environment's versions are never what this suite tests
    transport: CheckTransport
    if integration:
        checks = config.checks
        transport = HttpTransport(target.base_url, session)
    else:
        if deployment is None:
            raise InvalidExecutionInput("the canary needs the prod deployment it checks")
        checks = config.effective_canary_checks
        transport = LambdaVersionTransport(
            lambda_clients("prod"),
            {f.key: VersionTarget(f.function_name, f.version) for f in deployment.functions},
            default_key=target.http_entry,
        )
    tests = target.service_tests
    own = _OwnTests(
        target,
        test_clients or (lambda environment, _seconds: lambda_clients(environment)),
        request,
        deployment,
        environment,
    )
    hook: list[CheckResult] = []
    if tests.pre_traffic_hook is not None:
        # Before anything else calls the new versions, and before any traffic moves to them.
        hook = own.run(tests.pre_traffic_hook, hook=True)
        if not all(result.passed for result in hook):
            hook_report = CheckReport(
                suite=request.suite,
                environment=environment,
                target=transport.describe(),
                passed=False,
                results=hook,
            )
            raise failed(hook_report.summary())
    report = run_checks(checks, transport, suite=request.suite, environment=environment)
    report = report.model_copy(update={"results": [*hook, *report.results]})
    if tests.test_function is not None and report.passed:
        # After the pipeline's checks pass: a build they already failed is not worth a test run.
        report = report.joined(own.run(tests.test_function))
    if not report.passed:
        raise failed(report.summary())
    return report


class _OwnTests:
    """Invokes the service's own test Lambda or hook of one environment: a function of the build at the
    version under test, or one deployed beside the service as it is deployed."""

    def __init__(
        self,
        target: EnvironmentTarget,
        test_clients: TestLambdaClients,
        request: RunChecksRequest,
        deployment: EnvironmentDeployment | None,
        environment: Environment,
    ) -> None:
        self._target = target
        self._test_clients = test_clients
        self._request = request
        self._deployment = deployment
        self._environment = environment

    def run(self, test: TestFunction, *, hook: bool = False) -> list[CheckResult]:
        if self._deployment is None or self._request.sha is None:
            raise InvalidExecutionInput(
                f"the service's own tests need the {self._environment} deployment and the commit they test"
            )
        functions = self._deployment.by_key()
        if isinstance(test, DeployedTestFunction):
            name = function_name(test.function_name)
            function = ServiceTestFunction(name, test.function_name, test.qualifier)
        elif test in functions:
            function = ServiceTestFunction(test, functions[test].function_name, functions[test].version)
        else:
            raise InvalidExecutionInput(f"the {self._environment} deployment has no function {test!r}")
        run = ServiceTestRequest(
            environment=self._environment,
            base_url=self._target.base_url,
            pipeline=self._request.pipeline,
            sha=self._request.sha,
            versions={f.key: f.version for f in self._deployment.functions},
            functions={f.key: f.function_name for f in self._deployment.functions},
            execution=self._request.execution_name,
            hook="pre_traffic" if hook else None,
        )
        seconds = self._target.service_tests.timeout_seconds
        client = self._test_clients(self._environment, seconds)
        return run_test_function(client, function, run, timeout_seconds=seconds)
