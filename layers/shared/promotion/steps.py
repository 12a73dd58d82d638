"""One entry point per state of the promotion: typed request in, typed result out, collaborators passed in.

Handlers parse the event and build the collaborators; everything here is testable with moto-backed clients.
"""

from __future__ import annotations

from typing import Any

import requests

from promotion import alarms, approvals
from promotion.adapters.config_store import PipelineConfigStore
from promotion.adapters.messaging import EventPublisher, Mailer
from promotion.approval_policy import DependabotProver, decide_approval_path
from promotion.artifacts import fetch_and_pin
from promotion.checks import HttpTransport, LambdaVersionTransport, VersionTarget, run_checks
from promotion.dal.approvals import ApprovalStore
from promotion.deploy import deploy_environment
from promotion.errors import CanaryFailed, IntegrationTestsFailed, InvalidExecutionInput
from promotion.models.execution import (
    ApprovalPath,
    BakeProgress,
    CheckReport,
    EnvironmentDeployment,
    PinnedArtifact,
    PipelineSettings,
)
from promotion.models.steps import (
    CheckAlarmsRequest,
    DecideApprovalPathRequest,
    DeployRequest,
    FetchArtifactRequest,
    LoadPipelineRequest,
    NotifyRequest,
    RequestApprovalRequest,
    RunChecksRequest,
)
from promotion.notify import Outcome, notify_outcome


def load_pipeline(configs: PipelineConfigStore, request: LoadPipelineRequest) -> PipelineSettings:
    config = configs.get(request.input.pipeline)
    return PipelineSettings(
        pipeline=config.name,
        repo=config.repo,
        approval_timeout_seconds=config.approval.timeout_seconds,
        bake_seconds=config.bake.duration_seconds,
        poll_seconds=config.bake.poll_interval_seconds,
    )


def fetch_artifact(configs: PipelineConfigStore, s3: Any, request: FetchArtifactRequest) -> PinnedArtifact:
    config = configs.get(request.pipeline)
    return fetch_and_pin(s3, config.artifacts, config.repo, request.sha)


def deploy(configs: PipelineConfigStore, lambda_client: Any, request: DeployRequest) -> EnvironmentDeployment:
    config = configs.get(request.pipeline)
    if request.artifact.repo != config.repo:
        raise InvalidExecutionInput(
            f"artifact is from {request.artifact.repo}, pipeline deploys {config.repo}"
        )
    return deploy_environment(
        lambda_client,
        request.environment,
        config.environments.target(request.environment),
        request.artifact,
        must_match=request.must_match,
    )


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
    store: ApprovalStore,
    mailer: Mailer,
    signing_key: bytes,
    *,
    api_url: str,
    request: RequestApprovalRequest,
    now: float,
) -> dict[str, Any]:
    config = configs.get(request.pipeline)
    record = approvals.open_approval(
        store,
        mailer,
        signing_key,
        api_url=api_url,
        config=config,
        request=approvals.ApprovalRequest(
            task_token=request.task_token,
            execution_arn=request.execution_arn,
            execution_name=request.execution_name,
            artifact=request.artifact,
            preprod_report=request.integration.summary(),
        ),
        now=now,
    )
    return {"approval_id": record.approval_id, "expires_at": record.expires_at, "approvers": record.approvers}


def check_alarms(configs: PipelineConfigStore, cloudwatch: Any, request: CheckAlarmsRequest) -> BakeProgress:
    config = configs.get(request.pipeline)
    states = alarms.alarm_states(cloudwatch, config.environments.target(request.environment).alarms)
    return alarms.bake_step(
        states,
        elapsed_seconds=request.elapsed_seconds,
        duration_seconds=config.bake.duration_seconds,
        poll_seconds=config.bake.poll_interval_seconds,
    )


def notify(
    configs: PipelineConfigStore, mailer: Mailer, publisher: EventPublisher, request: NotifyRequest
) -> dict[str, str]:
    config = configs.get(request.pipeline)
    outcome = Outcome(
        outcome=request.outcome,
        pipeline=request.pipeline,
        sha=request.sha,
        execution_name=request.execution_name,
        execution_arn=request.execution_arn,
        failure=request.failure,
        approved_by=(request.approval or {}).get("approved_by"),
        prod_versions={f.key: f.version for f in request.prod.functions} if request.prod else None,
    )
    notify_outcome(mailer, publisher, config, outcome)
    return {"notified": outcome.outcome, "subject": outcome.subject()}
