"""The step behind functions/notify: typed request in, typed result out."""

from __future__ import annotations

from promotion.adapters.config_store import PipelineConfigStore
from promotion.adapters.messaging import EventPublisher, Mailer
from promotion.github.deployment_status import NO_DEPLOYMENT_REPORTS, DeploymentReporter, ExecutionRef
from promotion.models.execution import EnvironmentDeployment
from promotion.models.steps import (
    NotifyRequest,
)
from promotion.pipeline.notify import Outcome, cause_text, notify_outcome


def versions(deployment: EnvironmentDeployment | None) -> dict[str, str] | None:
    return {f.key: f.version for f in deployment.functions} if deployment else None


def notify(
    configs: PipelineConfigStore,
    mailer: Mailer,
    publisher: EventPublisher,
    request: NotifyRequest,
    *,
    reporter: DeploymentReporter = NO_DEPLOYMENT_REPORTS,
    console_base: str | None = None,
) -> dict[str, str]:
    state = request.promotion
    config = configs.get(state.pipeline)
    promoted = request.outcome == "promoted"
    reached_prod = state.settings.target == "prod"
    outcome = Outcome(
        outcome=request.outcome,
        pipeline=state.pipeline,
        sha=state.sha,
        execution_name=request.execution_name,
        execution_arn=request.execution_arn,
        mode=state.settings.mode,
        target=state.settings.target,
        failure=None if promoted else state.failure,
        approved_by=(state.approval or {}).get("approved_by"),
        approval_inputs=(state.approval or {}).get("inputs") or None,
        prod_versions=versions(state.prod) if promoted and reached_prod else None,
        preprod_versions=versions(state.preprod) if promoted and not reached_prod else None,
        rollback=None if promoted else state.rollback,
        canary_analysis=state.canary_analysis() if promoted else None,
        baseline=state.failed_environment_baseline() if request.outcome == "rollback_failed" else None,
        rollback_error=state.rollback_error,
        freeze_error=state.freeze_error,
    )
    notify_outcome(mailer, publisher, config, outcome, console_base=console_base)
    # After the messages, so a slow GitHub never delays them.
    reporter.finished(
        config,
        state.sha,
        ExecutionRef(arn=request.execution_arn, name=request.execution_name),
        promoted=promoted,
        target=state.settings.target,
        error=state.failure.Error if state.failure else None,
        cause=cause_text(state.failure.Cause) if state.failure else None,
    )
    return {"notified": outcome.outcome, "subject": outcome.subject()}
