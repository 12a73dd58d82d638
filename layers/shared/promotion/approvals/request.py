"""Opening an approval request: the record with the task token, older waiting requests superseded or
queued, approvers notified by email (signed links) and Slack (buttons)."""

from __future__ import annotations

import secrets
from typing import Any

from botocore.exceptions import ClientError

from promotion.approvals import links, slack
from promotion.approvals.collaborators import (
    SUPERSEDED_ERROR,
    TASK_GONE,
    ApprovalRequest,
    ApprovalServices,
    Notifier,
    closed_outcome,
    iso,
)
from promotion.approvals.messages import (
    approval_email_html,
    approval_email_text,
    approval_subject,
    author_text,
)
from promotion.console import execution_console_url
from promotion.github.identity import commit_facts
from promotion.models.approval import (
    ApprovalPolicy,
    ApprovalRecord,
)
from promotion.models.config import PipelineConfig
from promotion.models.steps import RequestApprovalRequest


# ---- opening a request --------------------------------------------------------------------------------
def compare_url(repo: str, sha: str, previous_sha: str | None) -> str:
    if previous_sha and previous_sha != sha:
        return f"https://github.com/{repo}/compare/{previous_sha}...{sha}"
    return f"https://github.com/{repo}/commit/{sha}"


def policy_of(config: PipelineConfig) -> ApprovalPolicy:
    settings = config.approval
    return ApprovalPolicy(
        approvers=list(settings.approvers),
        required_approvals=settings.required_approvals,
        allow_self_approval=settings.allow_self_approval,
        unverified_author=settings.unverified_author,
        on_newer_request=settings.on_newer_request,
        slack_users=dict(settings.slack.approvers) if settings.slack else {},
        slack_team=settings.slack.team_id if settings.slack else None,
        operators=dict(settings.operators),
        github_logins=dict(settings.github_logins),
        inputs=list(settings.inputs),
    )


def open_approval(
    services: ApprovalServices,
    notifier: Notifier,
    *,
    config: PipelineConfig,
    request: ApprovalRequest,
    now: float,
) -> ApprovalRecord:
    store = services.store
    previous = store.last_approved(config.name)
    record = ApprovalRecord(
        # Hex, not URL-safe base64: an id that began with "-" would read as an option to `promote approve ID`.
        approval_id=secrets.token_hex(18),
        task_token=request.task_token,
        execution_arn=request.execution_arn,
        execution_name=request.execution_name,
        pipeline=config.name,
        repo=config.repo,
        sha=request.artifact.sha,
        artifact_sha256=request.artifact.sha256,
        preprod_report=request.preprod_report,
        approval_reason=request.approval_reason,
        approvers=list(config.approval.approvers),
        requested_at=int(now),
        # The same config value is the task's TimeoutSecondsPath, so link and task expire together.
        expires_at=int(now) + config.approval.timeout_seconds,
        requested_by=request.requested_by,
        commit=commit_facts(request.commit, request.identity),
        compare_url=compare_url(config.repo, request.artifact.sha, previous.sha if previous else None),
        console_url=execution_console_url(request.execution_arn, notifier.console_base) or "",
        policy=policy_of(config),
    )
    store.put_new(record)
    services.record_audit(
        record,
        "requested",
        # The control plane made the request; who asked for the promotion is the input's word (detail).
        actor="state-machine",
        channel="state-machine",
        now=now,
        detail=f"approvers {', '.join(record.approvers)}; {record.rules.required_approvals} needed; "
        f"author {author_text(record)}; requested by {request.requested_by or 'unknown'}",
    )
    waiting_behind = _older_waiting(services, record, now=now)
    _notify(services, notifier, record, config=config, waiting_behind=waiting_behind, now=now)
    return record


def request_approval(
    config: PipelineConfig,
    services: ApprovalServices,
    notifier: Notifier,
    *,
    request: RequestApprovalRequest,
    now: float,
) -> dict[str, Any]:
    """The "Wait for approval" task: open the request from the state's payload."""
    record = open_approval(
        services,
        notifier,
        config=config,
        request=ApprovalRequest(
            task_token=request.task_token,
            execution_arn=request.execution_arn,
            execution_name=request.execution_name,
            artifact=request.artifact,
            preprod_report=request.integration.summary(),
            requested_by=request.execution_input.trigger.requester_text(),
            commit=request.execution_input.commit,
            approval_reason=request.approval_path.reason if request.approval_path else None,
            identity=request.approval_path.commit if request.approval_path else None,
        ),
        now=now,
    )
    return {"approval_id": record.approval_id, "expires_at": record.expires_at, "approvers": record.approvers}


def _older_waiting(services: ApprovalServices, record: ApprovalRecord, *, now: float) -> list[ApprovalRecord]:
    """Supersede the pipeline's older waiting requests, or (queue) return them: this one waits behind them."""
    older = [
        other
        for other in services.store.open_for_pipeline(record.pipeline)
        if other.approval_id != record.approval_id and other.execution_arn != record.execution_arn
    ]
    if record.rules.on_newer_request == "queue":
        return older
    for other in older:
        closed = services.store.supersede(other.approval_id, by_approval=record.approval_id, at=int(now))
        if closed is None:
            continue  # decided or expired meanwhile: nothing left to supersede
        cause = f"superseded by {record.execution_name} ({record.sha[:12]}) at {iso(now)}"
        try:
            # Stopping the execution instead would not interrupt its waiting task everywhere; failing the
            # task ends it through the state machine's own failure path, as "Superseded".
            services.sfn.send_task_failure(taskToken=closed.task_token, error=SUPERSEDED_ERROR, cause=cause)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in TASK_GONE:
                raise
        services.record_audit(
            closed, "superseded", actor=record.execution_name, channel="state-machine", now=now, detail=cause
        )
        services.refresh_slack(closed, outcome=closed_outcome(closed, superseded_by=record.sha[:12]))
    return []


def _prod_window(config: PipelineConfig, now: float) -> str | None:
    """Prod's deployment window as the request goes out (the windows' module only where there are some)."""
    if config.windows is None:
        return None
    from datetime import UTC, datetime

    from promotion.pipeline.windows import approval_notice

    return approval_notice(config.windows, datetime.fromtimestamp(now, UTC))


def _notify(
    services: ApprovalServices,
    notifier: Notifier,
    record: ApprovalRecord,
    *,
    config: PipelineConfig,
    waiting_behind: list[ApprovalRecord],
    now: float,
) -> None:
    channels = config.approval.channels
    prod_window = _prod_window(config, now)
    if "email" in channels:
        for approver in record.approvers:
            link = links.link_url(
                notifier.api_url,
                links.sign(notifier.signing_key, record.approval_id, approver, record.expires_at),
            )
            notifier.mailer.send(
                to=[approver],
                subject=approval_subject(record),
                text=approval_email_text(
                    record, link, approver=approver, waiting_behind=waiting_behind, prod_window=prod_window
                ),
                html=approval_email_html(
                    record, link, approver=approver, waiting_behind=waiting_behind, prod_window=prod_window
                ),
            )
    if "slack" in channels and config.approval.slack is not None and notifier.slack is not None:
        message = notifier.slack.post(
            config.approval.slack.channel,
            text=slack.approval_text(record),
            blocks=slack.approval_blocks(record, expires=iso(record.expires_at)),
        )
        posted = services.store.set_slack_message(record.approval_id, message)
        if posted.status != "pending":
            # The request closed (timed out, superseded, decided) while its message was on its way, so
            # whatever closed it found no message to update: the message is brought up to date here. Each
            # side writes before it reads the other's write, so at least one of them updates the message.
            services.refresh_slack(posted, outcome=closed_outcome(posted))
    elif "slack" in channels:
        # Configured but not wired (no bot token secret): say so loudly rather than silently skip it.
        raise RuntimeError("pipeline asks for Slack approvals but no Slack bot token is configured")
