"""What handlers share: settings-driven collaborators, created once per warm function, and request parsing."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from promotion.adapters import aws
from promotion.adapters.config_store import SsmPipelineConfigStore
from promotion.adapters.messaging import SesMailer, SnsEventPublisher
from promotion.adapters.secrets import get_secret_bytes
from promotion.dal.approvals import DynamoApprovalStore
from promotion.dal.environments import DynamoEnvironmentStateStore
from promotion.errors import InvalidExecutionInput
from promotion.models.validation import describe_validation_error
from promotion.settings import control_plane_settings

RequestT = TypeVar("RequestT", bound=BaseModel)


def parse_request(event: dict[str, Any], model: type[RequestT]) -> RequestT:
    """The state's payload as ``model``; a mismatch is ``InvalidExecutionInput`` with every bad field named."""
    try:
        return model.model_validate(event)
    except ValidationError as error:
        raise InvalidExecutionInput(f"{model.__name__}: {describe_validation_error(error)}") from error


@cache
def pipeline_configs() -> SsmPipelineConfigStore:
    settings = control_plane_settings()
    return SsmPipelineConfigStore(settings.pipeline_config_prefix, max_age=settings.cache_seconds)


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


def approval_signing_key() -> bytes:
    # Not cached here: powertools caches the secret for max_age, so a rotated key is picked up.
    return get_secret_bytes(control_plane_settings().approval_signing_secret)
