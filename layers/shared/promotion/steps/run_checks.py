"""The step behind functions/run_checks: typed request in, typed result out."""

from __future__ import annotations

from typing import Any

import requests

from promotion.adapters.config_store import PipelineConfigStore
from promotion.errors import (
    CanaryFailed,
    IntegrationTestsFailed,
    InvalidExecutionInput,
)
from promotion.models.execution import (
    CheckReport,
)
from promotion.models.steps import (
    RunChecksRequest,
)
from promotion.pipeline.checks import HttpTransport, LambdaVersionTransport, VersionTarget, run_checks


def run_check_suite(
    configs: PipelineConfigStore, lambda_client: Any, session: requests.Session, request: RunChecksRequest
) -> CheckReport:
    config = configs.get(request.pipeline)
    if request.suite == "integration":
        target = config.environments.preprod
        report = run_checks(
            config.checks, HttpTransport(target.base_url, session), suite="integration", environment="preprod"
        )
        if not report.passed:
            raise IntegrationTestsFailed(report.summary())
        return report
    if request.deployment is None or request.deployment.environment != "prod":
        raise InvalidExecutionInput("the canary needs the prod deployment it checks")
    target = config.environments.prod
    transport = LambdaVersionTransport(
        lambda_client,
        {f.key: VersionTarget(f.function_name, f.version) for f in request.deployment.functions},
        default_key=target.http_entry,
    )
    report = run_checks(config.effective_canary_checks, transport, suite="canary", environment="prod")
    if not report.passed:
        raise CanaryFailed(report.summary())
    return report
