"""Environment variables the control-plane functions read (set in the template's Globals)."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promotion.models.validation import describe_validation_error


class ControlPlaneSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    stack_name: str = Field(alias="STACK_NAME")
    pipeline_config_prefix: str = Field(alias="PIPELINE_CONFIG_PREFIX", pattern=r"^/.*/$")
    approvals_table: str = Field(alias="APPROVALS_TABLE")
    approval_signing_secret: str = Field(alias="APPROVAL_SIGNING_SECRET_ID")
    # Set on the approval-request function only (see template.yaml).
    public_api_url: str | None = Field(default=None, alias="PUBLIC_API_URL", pattern=r"^https?://")
    email_sender: str = Field(alias="EMAIL_SENDER")
    notifications_topic_arn: str = Field(alias="NOTIFICATIONS_TOPIC_ARN")
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE")
    # How long config and secrets are cached inside one warm function.
    cache_seconds: int = Field(default=60, alias="CONFIG_CACHE_SECONDS", ge=0)


@cache
def control_plane_settings() -> ControlPlaneSettings:
    try:
        return ControlPlaneSettings.model_validate(dict(os.environ))
    except ValidationError as error:
        # A misconfigured deployment: say which variable, once, at the first invocation.
        raise RuntimeError(f"control-plane environment: {describe_validation_error(error)}") from error
