"""What handlers share: settings-driven collaborators, created once per warm function, and request parsing."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from promotion.adapters import aws
from promotion.adapters.config_store import SsmPipelineConfigStore
from promotion.adapters.environment_session import EnvironmentClients, EnvironmentSessions
from promotion.adapters.messaging import SesMailer, SnsEventPublisher
from promotion.adapters.secrets import get_secret_bytes
from promotion.approvals.collaborators import ApprovalServices, Notifier
from promotion.approvals.decision_proof import KmsDecisionKey
from promotion.approvals.expiry import AuditedExpirer
from promotion.approvals.slack import SlackSdkPoster
from promotion.dal.approvals import DynamoApprovalStore
from promotion.dal.audit import DynamoAuditLog
from promotion.dal.environments import DynamoEnvironmentStateStore
from promotion.dal.ledger import DynamoLedger
from promotion.errors import InvalidExecutionInput
from promotion.models.config import Environment
from promotion.models.validation import describe_validation_error
from promotion.settings import control_plane_settings

RequestT = TypeVar("RequestT", bound=BaseModel)


def parse_request(event: dict[str, Any], model: type[RequestT]) -> RequestT:
    """The state's payload as ``model``; a mismatch is ``InvalidExecutionInput`` naming every bad field."""
    try:
        return model.model_validate(event)
    except ValidationError as error:
        raise InvalidExecutionInput(f"{model.__name__}: {describe_validation_error(error)}") from error


@cache
def pipeline_configs() -> SsmPipelineConfigStore:
    settings = control_plane_settings()
    return SsmPipelineConfigStore(settings.pipeline_config_prefix, max_age=settings.cache_seconds)


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
def approval_store() -> DynamoApprovalStore:
    return DynamoApprovalStore(aws.table(control_plane_settings().approvals_table))


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


def approval_signing_key() -> bytes:
    # Not cached here: powertools caches the secret for max_age, so a rotated key is picked up.
    return get_secret_bytes(control_plane_settings().approval_signing_secret)


def attestation_key() -> bytes:
    """The key of execution-input attestations (promotion.attestation); never the approval-link key."""
    secret_id = control_plane_settings().attestation_signing_secret
    if not secret_id:
        raise RuntimeError("control-plane environment: ATTESTATION_SIGNING_SECRET_ID is not set")
    return get_secret_bytes(secret_id)


@cache
def audit_log() -> DynamoAuditLog:
    table = control_plane_settings().audit_table
    if not table:
        # Fail closed: deciding without an audit trail is not allowed.
        raise RuntimeError("control-plane environment: AUDIT_TABLE is not set")
    from promotion.observability import logger

    return DynamoAuditLog(aws.table(table), log=logger)


def _secret_text(secret_id: str | None, name: str) -> str:
    if not secret_id:
        raise RuntimeError(f"control-plane environment: {name} is not set")
    return get_secret_bytes(secret_id, max_age=control_plane_settings().cache_seconds).decode()


def slack_signing_secret() -> str:
    return _secret_text(control_plane_settings().slack_signing_secret, "SLACK_SIGNING_SECRET_ID")


@cache
def slack_poster() -> SlackSdkPoster:
    settings = control_plane_settings()
    return SlackSdkPoster(
        lambda: _secret_text(settings.slack_bot_token_secret, "SLACK_BOT_TOKEN_SECRET_ID"),
        base_url=settings.slack_api_url,
    )


@cache
def decision_key() -> KmsDecisionKey:
    key_id = control_plane_settings().decision_key_id
    if not key_id:
        # Fail closed: an approval without the control plane's proof would be refused by "Verify approval".
        raise RuntimeError("control-plane environment: DECISION_KEY_ID is not set")
    return KmsDecisionKey(aws.client("kms"), key_id)


def approval_services() -> ApprovalServices:
    from promotion.observability import logger

    settings = control_plane_settings()
    return ApprovalServices(
        store=approval_store(),
        sfn=aws.client("stepfunctions"),
        audit=audit_log(),
        slack=slack_poster() if settings.slack_bot_token_secret else None,
        log=logger,
        decision_key=decision_key() if settings.decision_key_id else None,
    )


def approval_notifier(api_url: str | None) -> Notifier:
    settings = control_plane_settings()
    if not api_url:
        # Links without the API's address would lead nowhere; refuse rather than send them.
        raise RuntimeError("control-plane environment: PUBLIC_API_URL is not set")
    return Notifier(
        mailer=mailer(),
        signing_key=approval_signing_key(),
        api_url=api_url,
        slack=slack_poster() if settings.slack_bot_token_secret else None,
    )


def approval_expirer() -> AuditedExpirer:
    return AuditedExpirer(approval_services())
