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
from promotion.approval_policy import CommitIdentitySource, DependabotProver, decide_approval_path
from promotion.artifacts import fetch_and_pin
from promotion.attestation import trusted_input
from promotion.checks import HttpTransport, LambdaVersionTransport, VersionTarget, run_checks
from promotion.dal.environments import EnvironmentStateStore
from promotion.dal.ledger import DynamoLedger, LedgerFunction
from promotion.dal.ledger import Outcome as LedgerOutcome
from promotion.deploy import deploy_environment
from promotion.deployment_status import NO_DEPLOYMENT_REPORTS, DeploymentReporter, ExecutionRef
from promotion.errors import (
    ArtifactNotFound,
    BuildNotPublished,
    CanaryFailed,
    IntegrationTestsFailed,
    InvalidExecutionInput,
)
from promotion.models.execution import (
    ApprovalPath,
    BakeProgress,
    BaselineFunction,
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
    FinishRequest,
    LoadPipelineRequest,
    NotifyRequest,
    PrepareRequest,
    ReleaseLockRequest,
    RequestApprovalRequest,
    RollbackRequest,
    RunChecksRequest,
    ShiftTrafficRequest,
)
from promotion.notify import Outcome, cause_text, notify_outcome
from promotion.prepare import (
    Deployment,
    PrepareDeps,
    ProdReadiness,
    ensure_prod_may_deploy,
    prepare_environment,
)
from promotion.rollback import roll_back
from promotion.traffic import TrafficStep, shift_traffic


def load_pipeline(configs: PipelineConfigStore, request: LoadPipelineRequest) -> PipelineSettings:
    config = configs.get(request.input.pipeline)
    return PipelineSettings(
        pipeline=config.name,
        repo=config.repo,
        approval_timeout_seconds=config.approval.timeout_seconds,
        bake_seconds=config.bake.duration_seconds,
        poll_seconds=config.bake.poll_interval_seconds,
        mode=request.input.mode,
        target=request.input.target,
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
                f"no build of {config.repo}@{request.sha} after waiting "
                f"{config.artifacts.wait_seconds}s: {error}"
            ) from error
        raise


def _parse_time(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def check_and_lock(
    configs: PipelineConfigStore, deps: PrepareDeps, request: PrepareRequest
) -> EnvironmentBaseline:
    config = configs.get(request.pipeline)
    return prepare_environment(
        deps,
        config,
        request.environment,
        Deployment(
            execution_arn=request.execution_arn,
            execution_name=request.execution_name,
            sha=request.sha,
            mode=request.mode,
            artifact=request.artifact,
        ),
        now=int(_parse_time(request.entered_at)),
    )


def roll_back_environment(
    lambda_client: Any, ledger: DynamoLedger, request: RollbackRequest, *, now: float
) -> RollbackResult:
    """Restore from the ledger entry written right before the deploy (the state's copy if it is missing)."""
    baseline = request.baseline
    entry = (
        ledger.entry(request.pipeline, baseline.environment, baseline.ledger_key)
        if baseline.ledger_key
        else None
    )
    if entry is not None:
        baseline = EnvironmentBaseline(
            environment=baseline.environment,
            functions=[
                BaselineFunction(
                    key=f.key,
                    function_name=f.function_name,
                    alias=f.alias,
                    version=f.previous_version,
                    code_sha256=f.previous_code_sha256,
                )
                for f in entry.functions
            ],
            previous_sha=entry.previous_sha,
            ledger_key=entry.entry_key,
        )
    result = roll_back(lambda_client, baseline)
    if baseline.ledger_key:
        ledger.finish(
            request.pipeline, baseline.environment, baseline.ledger_key, outcome="rolled_back", at=int(now)
        )
    return result


def shift_prod_traffic(
    configs: PipelineConfigStore, lambda_client: Any, request: ShiftTrafficRequest
) -> TrafficStep:
    return shift_traffic(lambda_client, request.deployment, configs.get(request.pipeline).rollout)


def finish(
    environments: EnvironmentStateStore, ledger: DynamoLedger, request: FinishRequest, *, now: float
) -> dict[str, Any]:
    """Close the promotion's ledger entries and release its locks (a frozen environment keeps its lock)."""
    state = request.promotion
    approver = (state.approval or {}).get("approved_by")
    closed: dict[str, str] = {}
    for baseline in (state.preprod_baseline, state.prod_baseline):
        if baseline is None or baseline.ledger_key is None:
            continue
        entry = ledger.entry(state.pipeline, baseline.environment, baseline.ledger_key)
        if entry is None or entry.outcome in ("rolled_back", "rollback_failed"):
            continue
        outcome: LedgerOutcome = request.outcome if entry.outcome == "deployed" else "failed"
        detail = state.failure.Error if state.failure else None
        ledger.finish(
            state.pipeline,
            baseline.environment,
            baseline.ledger_key,
            outcome=outcome,
            at=int(now),
            approver=approver,
            detail=detail,
        )
        closed[baseline.environment] = outcome
    # The environment whose rollback failed keeps its lock, frozen or not (its freeze may have failed):
    # nothing may deploy it until an operator has checked it and runs promote unfreeze.
    failed = state.failed_environment_baseline() if request.outcome == "rollback_failed" else None
    keep = failed.environment if failed is not None else None
    released = [
        environment
        for environment in ("preprod", "prod")
        if environment != keep
        and environments.release_lock(state.pipeline, environment, owner=request.execution_arn)
    ]
    return {"ledger": closed, "released_locks": released}


def release_lock(environments: EnvironmentStateStore, request: ReleaseLockRequest) -> dict[str, Any]:
    released = environments.release_lock(request.pipeline, request.environment, owner=request.execution_arn)
    return {"environment": request.environment, "released": released}


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
    configs: PipelineConfigStore,
    prover: DependabotProver,
    request: DecideApprovalPathRequest,
    *,
    identities: CommitIdentitySource,
    readiness: ProdReadiness,
) -> ApprovalPath:
    """Refuse now what "Check and lock prod" would refuse (nobody is asked to approve it), then establish
    the commit's identity and apply the bypass policy."""
    config = configs.get(request.pipeline)
    ensure_prod_may_deploy(readiness, config, request.sha, request.mode)
    return decide_approval_path(prover, config, request.sha, identities)


def request_approval(
    configs: PipelineConfigStore,
    services: approvals.ApprovalServices,
    notifier: approvals.Notifier,
    *,
    request: RequestApprovalRequest,
    now: float,
    attestation_key: bytes,
) -> dict[str, Any]:
    config = configs.get(request.pipeline)
    # Only facts the webhook attested, for this very execution, count as verified (the two-person rule
    # relies on them); the name and ARN come from the context object ($$.Execution), not from the input.
    trusted_execution_input = trusted_input(
        request.execution_input,
        attestation_key,
        execution_arn=request.execution_arn,
        execution_name=request.execution_name,
    )
    trusted = request.model_copy(update={"execution_input": trusted_execution_input})
    return approvals.request_approval(config, services, notifier, request=trusted, now=now)


def check_alarms(configs: PipelineConfigStore, cloudwatch: Any, request: CheckAlarmsRequest) -> BakeProgress:
    config = configs.get(request.pipeline)
    states = alarms.alarm_states(cloudwatch, config.environments.target(request.environment).alarms)
    if request.mode == "gate":
        # During a traffic shift: only an alarm in ALARM stops it; the bake judges missing data later.
        return alarms.bake_step(
            states, elapsed_seconds=0, duration_seconds=0, poll_seconds=1, insufficient_data="ok"
        )
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
        freeze_error=state.freeze_error,
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
