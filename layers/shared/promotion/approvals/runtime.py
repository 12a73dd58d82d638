"""Approval collaborators for the handlers that ask for, decide, verify or close approvals, built from
settings and created once per warm function.

Kept apart from ``promotion.runtime`` so that the promotion's other steps never import the approval stack
(records, audit, the decision key, Slack).
"""

from __future__ import annotations

from functools import cache

from promotion.adapters import aws
from promotion.adapters.secrets import get_secret_bytes
from promotion.approvals.collaborators import ApprovalServices, Notifier
from promotion.approvals.decision_proof import KmsDecisionKey
from promotion.approvals.expiry import AuditedExpirer
from promotion.approvals.slack import SlackSdkPoster
from promotion.dal.approvals import DynamoApprovalStore
from promotion.dal.audit import DynamoAuditLog
from promotion.observability import logger
from promotion.runtime import mailer, slack_bot_poster
from promotion.settings import control_plane_settings


@cache
def approval_store() -> DynamoApprovalStore:
    return DynamoApprovalStore(aws.table(control_plane_settings().approvals_table))


def approval_signing_key() -> bytes:
    # Not cached here: powertools caches the secret for max_age, so a rotated key is picked up.
    return get_secret_bytes(control_plane_settings().approval_signing_secret)


@cache
def audit_log() -> DynamoAuditLog:
    table = control_plane_settings().audit_table
    if not table:
        # Fail closed: deciding without an audit trail is not allowed.
        raise RuntimeError("control-plane environment: AUDIT_TABLE is not set")
    return DynamoAuditLog(aws.table(table), log=logger)


def slack_poster() -> SlackSdkPoster:
    return slack_bot_poster()


@cache
def decision_key() -> KmsDecisionKey:
    key_id = control_plane_settings().decision_key_id
    if not key_id:
        # Fail closed: an approval without the control plane's proof would be refused by "Verify approval".
        raise RuntimeError("control-plane environment: DECISION_KEY_ID is not set")
    return KmsDecisionKey(aws.client("kms"), key_id)


def approval_services() -> ApprovalServices:
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
        console_base=settings.execution_console_url,
    )


def approval_expirer() -> AuditedExpirer:
    return AuditedExpirer(approval_services())
