"""The step behind functions/deploy_environment: typed request in, typed result out."""

from __future__ import annotations

from typing import Any

from promotion.adapters.config_store import PipelineConfigStore
from promotion.dal.ledger import DynamoLedger, LedgerFunction
from promotion.errors import (
    InvalidExecutionInput,
)
from promotion.github.deployment_status import NO_DEPLOYMENT_REPORTS, DeploymentReporter
from promotion.models.execution import (
    EnvironmentDeployment,
)
from promotion.models.steps import (
    DeployRequest,
)
from promotion.pipeline.deploy import deploy_environment


def deploy(
    configs: PipelineConfigStore,
    lambda_client: Any,
    request: DeployRequest,
    *,
    reporter: DeploymentReporter = NO_DEPLOYMENT_REPORTS,
    ledger: DynamoLedger | None = None,
    now: float = 0.0,
) -> EnvironmentDeployment:
    config = configs.get(request.pipeline)
    if request.artifact.repo != config.repo:
        raise InvalidExecutionInput(
            f"artifact is from {request.artifact.repo}, pipeline deploys {config.repo}"
        )
    # GitHub deployment statuses: best effort, never raised (promotion.deployment_status).
    reporter.deploying(config, request.environment, request.artifact.sha)
    deployment = deploy_environment(
        lambda_client,
        request.environment,
        config.environments.target(request.environment),
        request.artifact,
        must_match=request.must_match,
        # Prod with a gradual rollout: publish only; "Shift traffic" moves the aliases after the canary.
        route=request.environment != "prod" or config.rollout.strategy == "all_at_once",
    )
    if ledger is not None and request.baseline is not None and request.baseline.ledger_key:
        previous = {f.key: f for f in request.baseline.functions}
        ledger.record_deployed(
            config.name,
            request.environment,
            request.baseline.ledger_key,
            sha=request.artifact.sha,
            functions=[
                LedgerFunction(
                    key=f.key,
                    function_name=f.function_name,
                    alias=f.alias,
                    previous_version=f.previous_version,
                    previous_code_sha256=previous[f.key].code_sha256 if f.key in previous else "",
                    version=f.version,
                    code_sha256=f.code_sha256,
                )
                for f in deployment.functions
            ],
            at=int(now),
            execution_name=request.execution_name,
        )
    reporter.deployed(config, request.environment, request.artifact.sha)
    return deployment
