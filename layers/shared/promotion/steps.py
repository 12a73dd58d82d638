"""One entry point per state of the promotion: typed request in, typed result out, collaborators passed in.

Handlers parse the event and build the collaborators; everything here is testable with moto-backed clients.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from promotion import alarms, approvals
from promotion.adapters.config_store import PipelineConfigStore
from promotion.adapters.messaging import EventPublisher, Mailer
from promotion.approval_policy import DependabotProver, decide_approval_path
from promotion.artifacts import fetch_and_pin
from promotion.checks import HttpTransport, LambdaVersionTransport, VersionTarget, run_checks
from promotion.deploy import deploy_environment
from promotion.deployment_status import NO_DEPLOYMENT_REPORTS, DeploymentReporter, ExecutionRef
from promotion.baseline import capture_baseline
from promotion.dal.environments import EnvironmentStateStore
from promotion.errors import (
    ArtifactNotFound,
    BuildNotPublished,
    CanaryFailed,
    IntegrationTestsFailed,
    InvalidExecutionInput,
)
from promotion.rollback import roll_back
from promotion.models.execution import (
    ApprovalPath,
    BakeProgress,
    CheckReport,
    EnvironmentBaseline,
    EnvironmentDeployment,
    PinnedArtifact,
    PipelineSettings,
    RollbackResult,
)
from promotion.models.steps import (
    CheckAlarmsRequest,
    DecideApprovalPathRequest,
    DeployRequest,
    EnvironmentRequest,
    FetchArtifactRequest,
    LoadPipelineRequest,
    NotifyRequest,
    RequestApprovalRequest,
    RollbackRequest,
    RunChecksRequest,
)
from promotion.notify import Outcome, cause_text, notify_outcome


def load_pipeline(configs: PipelineConfigStore, request: LoadPipelineRequest) -> PipelineSettings:
    config = configs.get(request.input.pipeline)
    return PipelineSettings(
        pipeline=config.name,
        repo=config.repo,
        approval_timeout_seconds=config.approval.timeout_seconds,
        bake_seconds=config.bake.duration_seconds,
        poll_seconds=config.bake.poll_interval_seconds,
    )


def fetch_artifact(
    configs: PipelineConfigStore, s3: Any, request: FetchArtifactRequest, *, now: float
) -> PinnedArtifact:
    config = configs.get(request.pipeline)
    try:
        return fetch_and_pin(s3, config.artifacts, config.repo, request.sha)
    except ArtifactNotFound as error:
        # ArtifactNotFound is retried by the state machine (CI may still be uploading) until the
        # pipeline's wait is over; then the error becomes BuildNotPublished, which is not retried.
        waited = now - _parse_time(request.entered_at) if request.entered_at else float("inf")
        if waited >= config.artifacts.wait_seconds:
            raise BuildNotPublished(
                f"no build of {config.repo}@{request.sha} after waiting {config.artifacts.wait_seconds}s: {error}"
            ) from error
        raise


def _parse_time(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def record_baseline(
    configs: PipelineConfigStore,
    lambda_client: Any,
    cloudwatch: Any,
    environments: EnvironmentStateStore,
    request: EnvironmentRequest,
) -> EnvironmentBaseline:
    config = configs.get(request.pipeline)
    return capture_baseline(lambda_client, cloudwatch, environments, config, request.environment)


def roll_back_environment(lambda_client: Any, request: RollbackRequest) -> RollbackResult:
    return roll_back(lambda_client, request.baseline)


def freeze_environment(
    environments: EnvironmentStateStore, request: EnvironmentRequest, *, now: float
) -> dict[str, Any]:
    environments.freeze(
        request.pipeline,
        request.environment,
        reason=request.reason or "rollback failed",
        by=request.execution_arn,
        at=int(now),
    )
    return {"frozen": True, "environment": request.environment}


def deploy(
    configs: PipelineConfigStore,
    lambda_client: Any,
    request: DeployRequest,
    *,
    reporter: DeploymentReporter = NO_DEPLOYMENT_REPORTS,
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
    )
    reporter.deployed(config, request.environment, request.artifact.sha)
    return deployment


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


def decide_path(
    configs: PipelineConfigStore, prover: DependabotProver, request: DecideApprovalPathRequest
) -> ApprovalPath:
    return decide_approval_path(prover, configs.get(request.pipeline), request.sha)


def request_approval(
    configs: PipelineConfigStore,
    services: approvals.ApprovalServices,
    notifier: approvals.Notifier,
    *,
    request: RequestApprovalRequest,
    now: float,
) -> dict[str, Any]:
    config = configs.get(request.pipeline)
    return approvals.request_approval(config, services, notifier, request=request, now=now)


def check_alarms(configs: PipelineConfigStore, cloudwatch: Any, request: CheckAlarmsRequest) -> BakeProgress:
    config = configs.get(request.pipeline)
    states = alarms.alarm_states(cloudwatch, config.environments.target(request.environment).alarms)
    return alarms.bake_step(
        states,
        elapsed_seconds=request.elapsed_seconds,
        duration_seconds=config.bake.duration_seconds,
        poll_seconds=config.bake.poll_interval_seconds,
        seen_data=request.seen_data,
        insufficient_data=config.bake.insufficient_data,
    )


def notify(
    configs: PipelineConfigStore,
    mailer: Mailer,
    publisher: EventPublisher,
    request: NotifyRequest,
    *,
    reporter: DeploymentReporter = NO_DEPLOYMENT_REPORTS,
) -> dict[str, str]:
    state = request.promotion
    config = configs.get(state.pipeline)
    promoted = request.outcome == "promoted"
    outcome = Outcome(
        outcome=request.outcome,
        pipeline=state.pipeline,
        sha=state.sha,
        execution_name=request.execution_name,
        execution_arn=request.execution_arn,
        failure=None if promoted else state.failure,
        approved_by=(state.approval or {}).get("approved_by"),
        prod_versions={f.key: f.version for f in state.prod.functions} if promoted and state.prod else None,
        rollback=None if promoted else state.rollback,
        baseline=state.failed_environment_baseline() if request.outcome == "rollback_failed" else None,
        rollback_error=state.rollback_error,
    )
    notify_outcome(mailer, publisher, config, outcome)
    # After the messages, so a slow GitHub never delays them.
    reporter.finished(
        config,
        state.sha,
        ExecutionRef(arn=request.execution_arn, name=request.execution_name),
        promoted=promoted,
        error=state.failure.Error if state.failure else None,
        cause=cause_text(state.failure.Cause) if state.failure else None,
    )
    return {"notified": outcome.outcome, "subject": outcome.subject()}
