"""Environment variables the control-plane functions read (set in the template's Globals)."""

from __future__ import annotations

import os
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promotion.models.validation import describe_validation_error


class ControlPlaneSettings(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True, populate_by_name=True)

    stack_name: str = Field(alias="STACK_NAME")
    pipeline_config_prefix: str = Field(alias="PIPELINE_CONFIG_PREFIX", pattern=r"^/.*/$")
    approvals_table: str = Field(alias="APPROVALS_TABLE")
    # Approval links and their CSRF tokens only.
    approval_signing_secret: str = Field(alias="APPROVAL_SIGNING_SECRET_ID")
    # Set on the webhook (attests the inputs it starts) and the approval request (verifies them) only.
    attestation_signing_secret: str | None = Field(default=None, alias="ATTESTATION_SIGNING_SECRET_ID")
    # Set on the approval-request function only (see template.yaml).
    public_api_url: str | None = Field(default=None, alias="PUBLIC_API_URL", pattern=r"^https?://")
    email_sender: str = Field(alias="EMAIL_SENDER")
    notifications_topic_arn: str = Field(alias="NOTIFICATIONS_TOPIC_ARN")
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE")
    environments_table: str | None = Field(default=None, alias="ENVIRONMENTS_TABLE")
    deployments_table: str | None = Field(default=None, alias="DEPLOYMENTS_TABLE")
    audit_table: str | None = Field(default=None, alias="AUDIT_TABLE")
    # Slack approvals: both secrets are set in Globals; a pipeline that asks for Slack needs them filled in.
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET_ID")
    slack_bot_token_secret: str | None = Field(default=None, alias="SLACK_BOT_TOKEN_SECRET_ID")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL", pattern=r"^https?://")
    # Interaction response_urls must start with this (the worker posts to them): Slack's hooks only.
    slack_response_url_prefix: str = Field(
        default="https://hooks.slack.com/", alias="SLACK_RESPONSE_URL_PREFIX", pattern=r"^https?://"
    )
    # Set on the Slack interactivity function only: the function that decides after the ack.
    slack_worker_function: str | None = Field(default=None, alias="SLACK_WORKER_FUNCTION")
    # The promotion state machine (built from the stack name in the template, so functions the state machine
    # invokes can name it without a circular reference).
    state_machine_arn: str | None = Field(default=None, alias="STATE_MACHINE_ARN")
    # Set on the GitHub webhook function only: its idempotency records and the stack's webhook secret.
    deliveries_table: str | None = Field(default=None, alias="DELIVERIES_TABLE")
    github_webhook_secret_id: str | None = Field(default=None, alias="GITHUB_WEBHOOK_SECRET_ID")
    # The KMS HMAC key that proves a decision was the control plane's (deciding functions GenerateMac,
    # "Verify approval" VerifyMac; IAM scopes each).
    decision_key_id: str | None = Field(default=None, alias="DECISION_KEY_ID")
    # "required": a pipeline environment without role_arn is refused (template.yaml sets it: the functions'
    # own roles have no rights on any environment). "optional": such an environment is acted on with the
    # function's own credentials.
    environment_roles: Literal["required", "optional"] = Field(default="optional", alias="ENVIRONMENT_ROLES")
    # The control plane's own console, where it has one (the local plane sets it); unset on AWS, where
    # executions link to the Step Functions console (promotion.console decides).
    execution_console_url: str | None = Field(
        default=None, alias="EXECUTION_CONSOLE_URL", pattern=r"^https?://"
    )
    # How long config and secrets are cached inside one warm function.
    cache_seconds: int = Field(default=60, alias="CONFIG_CACHE_SECONDS", ge=0)


@cache
def control_plane_settings() -> ControlPlaneSettings:
    try:
        return ControlPlaneSettings.model_validate(dict(os.environ))
    except ValidationError as error:
        # A misconfigured deployment: say which variable, once, at the first invocation.
        raise RuntimeError(f"control-plane environment: {describe_validation_error(error)}") from error
