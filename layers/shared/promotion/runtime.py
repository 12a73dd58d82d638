"""What most handlers share: request parsing and the settings-driven collaborators of the promotion's steps
(pipeline configs, deploy locks, the ledger, notices), created once per warm function.

Approval collaborators live in ``promotion.approvals.runtime`` and GitHub's in ``promotion.github.runtime``:
a function imports only the collaborators it uses (Lambda bills the import as INIT time).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from promotion.adapters import aws
from promotion.adapters.config_store import SsmPipelineConfigStore
from promotion.adapters.environment_session import EnvironmentClients, EnvironmentSessions
from promotion.adapters.messaging import SesMailer, SnsEventPublisher
from promotion.adapters.secrets import get_secret_bytes
from promotion.correlation import correlation_of
from promotion.dal.environments import DynamoEnvironmentStateStore
from promotion.dal.ledger import DynamoLedger
from promotion.errors import InvalidExecutionInput, UnknownPipeline
from promotion.models.config import Environment
from promotion.models.validation import describe_validation_error
from promotion.observability import correlate, correlate_repository
from promotion.settings import control_plane_settings

if TYPE_CHECKING:
    from promotion.approvals.audit import AuditLog, Requester
    from promotion.approvals.slack import SlackSdkPoster
    from promotion.http.rollback_routes import RunRollback
    from promotion.pipeline.emergency_rollback import EmergencyRollbackResult
    from promotion.pipeline.operator_controls import OperatorControls

RequestT = TypeVar("RequestT", bound=BaseModel)


def parse_request(event: dict[str, Any], model: type[RequestT]) -> RequestT:
    """The state's payload as ``model``; a mismatch is ``InvalidExecutionInput`` naming every bad field.
    From here on, the request's log lines carry its execution, pipeline, commit and repository."""
    try:
        request = model.model_validate(event)
    except ValidationError as error:
        correlate(correlation_of(event))
        raise InvalidExecutionInput(f"{model.__name__}: {describe_validation_error(error)}") from error
    correlate(correlation_of(request))
    return request


@cache
def pipeline_configs() -> SsmPipelineConfigStore:
    settings = control_plane_settings()
    return SsmPipelineConfigStore(
        settings.pipeline_config_prefix,
        max_age=settings.cache_seconds,
        observe=lambda config: correlate_repository(config.name, config.repo),
    )


@cache
def environment_sessions() -> EnvironmentSessions:
    return EnvironmentSessions(
        aws.client("sts"),
        aws.client_as,
        require_role=control_plane_settings().environment_roles == "required",
    )


def environment_clients(
    pipeline: str, environment: Environment, *, execution_name: str
) -> EnvironmentClients:
    """Lambda and CloudWatch clients acting on one environment of a pipeline as its deployer role."""
    target = pipeline_configs().get(pipeline).environments.target(environment)
    return environment_sessions().clients(pipeline, environment, target, execution_name=execution_name)


@cache
def mailer() -> SesMailer:
    return SesMailer(aws.client("sesv2"), control_plane_settings().email_sender)


@cache
def event_publisher() -> SnsEventPublisher:
    return SnsEventPublisher(aws.client("sns"), control_plane_settings().notifications_topic_arn)


@cache
def environment_store() -> DynamoEnvironmentStateStore:
    table = control_plane_settings().environments_table
    if not table:
        raise RuntimeError("control-plane environment: ENVIRONMENTS_TABLE is not set")
    return DynamoEnvironmentStateStore(aws.table(table))


@cache
def ledger() -> DynamoLedger:
    table = control_plane_settings().deployments_table
    if not table:
        raise RuntimeError("control-plane environment: DEPLOYMENTS_TABLE is not set")
    return DynamoLedger(aws.table(table))


def attestation_key() -> bytes:
    """The key of execution-input attestations (promotion.attestation); never the approval-link key."""
    secret_id = control_plane_settings().attestation_signing_secret
    if not secret_id:
        raise RuntimeError("control-plane environment: ATTESTATION_SIGNING_SECRET_ID is not set")
    return get_secret_bytes(secret_id)


def secret_text(secret_id: str | None, name: str) -> str:
    """A Secrets Manager secret as text, cached for ``CONFIG_CACHE_SECONDS``; ``name`` is its variable."""
    if not secret_id:
        raise RuntimeError(f"control-plane environment: {name} is not set")
    return get_secret_bytes(secret_id, max_age=control_plane_settings().cache_seconds).decode()


def slack_signing_secret() -> str:
    return secret_text(control_plane_settings().slack_signing_secret, "SLACK_SIGNING_SECRET_ID")


@cache
def slack_bot_poster() -> SlackSdkPoster:
    """Slack's Web API as the bot (``SLACK_BOT_TOKEN_SECRET_ID``, read when a call is made)."""
    from promotion.approvals.slack import SlackSdkPoster

    settings = control_plane_settings()
    return SlackSdkPoster(
        lambda: secret_text(settings.slack_bot_token_secret, "SLACK_BOT_TOKEN_SECRET_ID"),
        base_url=settings.slack_api_url,
    )


def emergency_rollback_runner(audit: AuditLog) -> RunRollback:
    """``RunRollback`` for the operator route: each call acts on the environment as its deployer role,
    with the operator-facing ledger, locks, audit (``audit``: the approval audit log) and notices."""
    # Imported here: only the operator function rolls back, and the other handlers' INIT stays lean.
    import time

    from promotion.pipeline.emergency_rollback import MODE, EmergencyRollbackDeps, emergency_rollback

    def run(
        pipeline: str, environment: Environment, operator: str, reason: str, requester: Requester
    ) -> EmergencyRollbackResult:
        try:
            config = pipeline_configs().get(pipeline)
        except UnknownPipeline as error:
            raise UnknownPipeline(f"unknown pipeline {pipeline!r}") from error
        clients = environment_sessions().clients(
            config.name,
            environment,
            config.environments.target(environment),
            execution_name=f"{MODE}-{config.name}",
        )
        from promotion.github.runtime import deployment_reporter

        deps = EmergencyRollbackDeps(
            lambda_client=clients.lambda_client,
            sfn=aws.client("stepfunctions"),
            environments=environment_store(),
            ledger=ledger(),
            audit=audit,
            mailer=mailer(),
            publisher=event_publisher(),
            reporter=deployment_reporter(),
        )
        return emergency_rollback(
            deps, config, environment, operator=operator, reason=reason, now=time.time(), requester=requester
        )

    return run


def operator_controls() -> OperatorControls:
    """``OperatorControls`` for the operator routes: this stack's pipelines, environments table and state
    machine (its executions' status read with ``states:DescribeExecution``)."""
    from botocore.exceptions import ClientError

    from promotion.dal.window_overrides import DynamoWindowOverrideStore
    from promotion.pipeline.operator_controls import OperatorControls

    settings = control_plane_settings()
    if not settings.state_machine_arn:
        raise RuntimeError("control-plane environment: STATE_MACHINE_ARN is not set")
    sfn = aws.client("stepfunctions")
    environments = environment_store()

    def execution_status(execution_arn: str) -> str | None:
        try:
            return str(sfn.describe_execution(executionArn=execution_arn)["status"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return None
            raise

    return OperatorControls(
        configs=pipeline_configs(),
        environments=environments,
        overrides=DynamoWindowOverrideStore(aws.table(settings.environments_table or "")),
        execution_status=execution_status,
        state_machine_arn=settings.state_machine_arn,
    )
