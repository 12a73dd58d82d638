"""Run checks: the integration tests against preprod, or the canary against the new prod versions."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, trace_requests

import requests

from promotion.adapters.environment_session import EnvironmentClients
from promotion.models.config import Environment
from promotion.models.steps import RunChecksRequest
from promotion.runtime import environment_clients, parse_request, pipeline_configs
from promotion.steps import run_checks as run_checks_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The checks call the service through requests: each call appears in the function's X-Ray trace.
trace_requests()


@cache
def _session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "release-promotion-checks"
    return session


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, RunChecksRequest)

    # The integration checks call preprod over HTTP (no AWS credentials); the canary invokes prod's new
    # versions, and the service's own test Lambda and hook are invoked, as the environment's deployer role.
    def clients(environment: Environment) -> EnvironmentClients:
        return environment_clients(request.pipeline, environment, execution_name=request.execution_name)

    return run_checks_step.run_check_suite(
        pipeline_configs(),
        lambda environment: clients(environment).lambda_client,
        _session(),
        request,
        test_clients=lambda environment, seconds: clients(environment).lambda_client_waiting(seconds),
    ).to_payload()
