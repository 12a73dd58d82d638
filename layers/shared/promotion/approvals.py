"""Asking for an approval and deciding it, by email link, Slack button or operator CLI, by one set of rules.

The approval task stores a record holding the task token (which never leaves the table), supersedes older
waiting requests of the pipeline (or lets them keep their place, per config), and notifies approvers by
email (signed links) and Slack (buttons). Every decision, whatever its channel, goes through ``decide``:
allowlist, two-person rule, N distinct approvals, single use by conditional writes, then SendTaskSuccess
or SendTaskFailure ``Rejected``. Every request and decision is written to the audit log.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from promotion import links, slack
from promotion.adapters.messaging import Mailer
from promotion.audit import AuditAction, AuditLog, Requester, audit_event
from promotion.dal.approvals import ApprovalStore, decided_message
from promotion.decision_proof import DecisionKey, decision_message
from promotion.errors import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApproverNotAllowed,
    PromotionError,
    SelfApprovalRefused,
)
from promotion.identity import commit_facts, emails_of, logins_of
from promotion.models.approval import (
    ApprovalPolicy,
    ApprovalRecord,
    Channel,
    Decision,
    Vote,
)
from promotion.models.config import PipelineConfig
from promotion.models.execution import ApprovalOutcome, CommitIdentity, CommitInfo, PinnedArtifact
from promotion.models.steps import RequestApprovalRequest

# Step Functions' answers for a token whose task is no longer waiting.
_TASK_GONE = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
REJECTED_ERROR = "Rejected"
SUPERSEDED_ERROR = "Superseded"


class DecisionNotDelivered(Exception):
    """Step Functions did not take the decision for a transient reason; the record was reopened."""


class ApprovalQueued(PromotionError):
    """An older request of the same pipeline still waits, and the pipeline queues: decide that one first."""


def iso(epoch: int | float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(now: float) -> int:
    return int(now * 1000)


# ---- collaborators ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApprovalServices:
    """What deciding (and closing) an approval needs; ``slack`` is None where no bot token is configured.

    ``decision_key`` MACs every approval handed to Step Functions ("Verify approval" checks it); without
    one, approvals fail closed (nothing is sent) while rejections, which can only stop a promotion, work.
    """

    store: ApprovalStore
    sfn: Any
    audit: AuditLog
    slack: slack.SlackPoster | None = None
    log: Any = None
    decision_key: DecisionKey | None = None

    def record_audit(
        self,
        record: ApprovalRecord,
        action: AuditAction,
        *,
        actor: str,
        channel: str,
        now: float,
        requester: Requester | None = None,
        comment: str = "",
        detail: str = "",
    ) -> None:
        self.audit.record(
            audit_event(
                approval_id=record.approval_id,
                action=action,
                actor=actor,
                channel=channel,
                at_ms=_ms(now),
                requester=requester,
                pipeline=record.pipeline,
                execution_arn=record.execution_arn,
                comment=comment,
                detail=detail,
            )
        )

    def refresh_slack(self, record: ApprovalRecord, *, outcome: str) -> None:
        """Replace the Slack message's buttons with the outcome (best effort: the decision already stands)."""
        if self.slack is None or record.slack_message is None:
            return
        try:
            self.slack.update(
                record.slack_message,
                text=f"{slack.approval_text(record)}: {outcome}",
                blocks=slack.closed_blocks(record, outcome=outcome, expires=iso(record.expires_at)),
            )
        except Exception as error:  # Slack being down must not undo or hide a decision already made.
            if self.log is not None:
                self.log.warning("slack message update failed", extra={"error": repr(error)})


@dataclass(frozen=True)
class Notifier:
    """How approvers hear of a request: email with signed links, and Slack when configured."""

    mailer: Mailer
    signing_key: bytes
    api_url: str
    slack: slack.SlackPoster | None = None


@dataclass(frozen=True)
class ApprovalRequest:
    task_token: str
    execution_arn: str
    execution_name: str
    artifact: PinnedArtifact
    preprod_report: str
    requested_by: str = ""
    # The execution input's commit facts (claims unless the webhook attested them).
    commit: CommitInfo | None = None
    approval_reason: str | None = None
    # The commit's author and committer per GitHub's API ("Decide approval path"); the facts that count.
    identity: CommitIdentity | None = None


# ---- opening a request --------------------------------------------------------------------------------
def console_url(execution_arn: str) -> str:
    parts = execution_arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else "us-east-1"
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{quote(execution_arn, safe='')}"
    )


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
        approval_id=secrets.token_urlsafe(18),
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
        console_url=console_url(request.execution_arn),
        policy=policy_of(config),
    )
    store.put_new(record)
    services.record_audit(
        record,
        "requested",
        actor=request.requested_by or "state-machine",
        channel="state-machine",
        now=now,
        detail=f"approvers {', '.join(record.approvers)}; {record.rules.required_approvals} needed; "
        f"author {_author_text(record)}",
    )
    waiting_behind = _older_waiting(services, record, now=now)
    _notify(services, notifier, record, config=config, waiting_behind=waiting_behind)
    return record


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
            if error.response.get("Error", {}).get("Code") not in _TASK_GONE:
                raise
        services.record_audit(
            closed, "superseded", actor=record.execution_name, channel="state-machine", now=now, detail=cause
        )
        services.refresh_slack(closed, outcome=f"Superseded by {record.sha[:12]} at {iso(now)}")
    return []


def _notify(
    services: ApprovalServices,
    notifier: Notifier,
    record: ApprovalRecord,
    *,
    config: PipelineConfig,
    waiting_behind: list[ApprovalRecord],
) -> None:
    channels = config.approval.channels
    if "email" in channels:
        for approver in record.approvers:
            link = links.link_url(
                notifier.api_url,
                links.sign(notifier.signing_key, record.approval_id, approver, record.expires_at),
            )
            notifier.mailer.send(
                to=[approver],
                subject=approval_subject(record),
                text=approval_email_text(record, link, approver=approver, waiting_behind=waiting_behind),
                html=approval_email_html(record, link, approver=approver, waiting_behind=waiting_behind),
            )
    if "slack" in channels and config.approval.slack is not None and notifier.slack is not None:
        message = notifier.slack.post(
            config.approval.slack.channel,
            text=slack.approval_text(record),
            blocks=slack.approval_blocks(record, expires=iso(record.expires_at)),
        )
        services.store.set_slack_message(record.approval_id, message)
    elif "slack" in channels:
        # Configured but not wired (no bot token secret): say so loudly rather than silently skip it.
        raise RuntimeError("pipeline asks for Slack approvals but no Slack bot token is configured")


def approval_subject(record: ApprovalRecord) -> str:
    return f"Approve {record.repo}@{record.sha[:12]} to prod? ({record.pipeline})"


def author_who(record: ApprovalRecord) -> str:
    commit = record.commit
    return " / ".join(part for part in (commit.author_login, commit.author_email) if part) or "unknown"


def verification_text(record: ApprovalRecord) -> str:
    """ "verified" only when GitHub's API named the author's account; otherwise where the words came from."""
    commit = record.commit
    if commit.author_confirmed:
        return "verified"
    if commit.source == "github_api":
        return "NOT verified: GitHub links the author's email to no account"
    if commit.source == "webhook":
        return "NOT verified: from the webhook payload, not confirmed by GitHub's API"
    return "NOT verified"


def _author_text(record: ApprovalRecord) -> str:
    return f"{author_who(record)} ({verification_text(record)})"


def _first_line(message: str | None) -> str:
    return message.strip().splitlines()[0][:200] if message and message.strip() else "unknown"


def _intent_link(link: str, intent: str) -> str:
    # The intent only pre-selects a button on the confirmation page; it is not signed and decides nothing.
    return f"{link}&intent={intent}"


def approval_email_text(
    record: ApprovalRecord, link: str, *, approver: str, waiting_behind: list[ApprovalRecord] | None = None
) -> str:
    lines = [
        f"{record.repo} commit {record.sha} passed preprod and waits for approval to go to prod.",
        "",
        f"Pipeline:   {record.pipeline}",
        f"Commit:     {record.sha}",
        f"Message:    {_first_line(record.commit.message)}",
        f"Author:     {_author_text(record)}",
        f"Compare:    {record.compare_url}",
        f"Build:      sha256 {record.artifact_sha256}",
        f"Preprod:    {record.preprod_report}",
        f"Why asked:  {record.approval_reason or 'every change needs approval'}",
        f"Execution:  {record.execution_name}",
        f"Console:    {record.console_url}",
        f"Expires:    {iso(record.expires_at)}",
    ]
    if record.rules.required_approvals > 1:
        lines.append(f"Needs:      {record.rules.required_approvals} distinct approvers")
    if waiting_behind:
        lines.append(f"Queued:     behind {', '.join(other.execution_name for other in waiting_behind)}")
    lines += [
        "",
        f"For {approver}. Opening a link decides nothing: it shows the change and asks you to confirm.",
        f"Approve: {_intent_link(link, 'approve')}",
        f"Reject:  {_intent_link(link, 'reject')}",
        "",
        "This link is for you alone; do not forward it.",
    ]
    return "\n".join(lines)


def approval_email_html(
    record: ApprovalRecord, link: str, *, approver: str, waiting_behind: list[ApprovalRecord] | None = None
) -> str:
    rows = [
        ("Pipeline", escape(record.pipeline)),
        ("Commit", f'<a href="{escape(record.compare_url)}">{escape(record.sha)}</a>'),
        ("Message", escape(record.commit.message or "unknown")),
        ("Author", escape(_author_text(record))),
        ("Build sha256", escape(record.artifact_sha256)),
        ("Preprod", escape(record.preprod_report)),
        ("Why asked", escape(record.approval_reason or "every change needs approval")),
        ("Execution", f'<a href="{escape(record.console_url)}">{escape(record.execution_name)}</a>'),
        ("Expires", escape(iso(record.expires_at))),
    ]
    if record.rules.required_approvals > 1:
        rows.append(("Needs", f"{record.rules.required_approvals} distinct approvers"))
    if waiting_behind:
        rows.append(("Queued behind", escape(", ".join(o.execution_name for o in waiting_behind))))
    table = "".join(
        f'<tr><th align="left" style="padding-right:1em">{k}</th><td>{v}</td></tr>' for k, v in rows
    )
    return (
        f"<html><body><p>{escape(record.repo)} commit <code>{escape(record.sha[:12])}</code> passed preprod "
        f"and waits for approval to go to prod.</p><table>{table}</table>"
        f"<p>For {escape(approver)}. Opening a link decides nothing: it shows the change and asks you to "
        "confirm.</p>"
        f'<p><a href="{escape(_intent_link(link, "approve"))}">Approve</a> &nbsp; '
        f'<a href="{escape(_intent_link(link, "reject"))}">Reject</a></p>'
        "<p>This link is for you alone; do not forward it.</p></body></html>"
    )


# ---- deciding -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Actor:
    """Who decides: the approver they act as, through which channel, proven by what, from where."""

    approver: str
    channel: Channel
    identity: str
    requester: Requester = field(default_factory=Requester)


@dataclass(frozen=True)
class DecisionResult:
    record: ApprovalRecord
    final: bool  # False: this approval counted, more are needed

    def summary(self) -> str:
        if not self.final:
            have, need = len(self.record.votes), self.record.rules.required_approvals
            return f"approval recorded ({have} of {need}); waiting for {need - have} more"
        return decided_message(self.record).removeprefix("already ")


def author_matches(record: ApprovalRecord, approver: str) -> bool | None:
    """Whether the approver made the commit: None when that cannot be known.

    Logins first: every login known or claimed for the author and the committer (GitHub's API, the webhook's
    words, noreply addresses) against the approver's mapped login; then emails. A match on a mere claim
    refuses too (fail closed). A non-match only counts when GitHub's API named the author's account.
    """
    commit = record.commit
    login = record.rules.github_logins.get(approver)
    if login and login.lower() in logins_of(commit):
        return True
    if approver.strip().lower() in emails_of(commit):
        return True
    if not commit.author_confirmed:
        return None
    return False


def check_rules(record: ApprovalRecord, approver: str, decision: Decision) -> str:
    """Raise if the rules forbid this decision; the audit note on the author check otherwise."""
    rules = record.rules
    if approver not in rules.approvers or approver not in record.approvers:
        raise ApproverNotAllowed(f"{approver} is not an approver of this request")
    if decision == "reject":
        return "rejection: author check not needed"
    if rules.allow_self_approval:
        return "self-approval allowed by the pipeline"
    same = author_matches(record, approver)
    if same:
        raise SelfApprovalRefused(f"{approver} is the commit's author and cannot approve their own change")
    if same is None:
        if rules.unverified_author == "refuse":
            raise SelfApprovalRefused(
                "the commit's author is unknown or unverified, so the two-person rule cannot be checked; "
                "this pipeline refuses approval in that case"
            )
        return "author unknown or unverified: two-person rule NOT checked (pipeline allows this)"
    return "approver is neither the commit's author nor its committer (logins per GitHub's API)"


def decide(
    services: ApprovalServices,
    approval_id: str,
    actor: Actor,
    decision: Decision,
    *,
    comment: str,
    now: float,
) -> DecisionResult:
    """The one decision path of every channel; audits the outcome, refusals included."""
    record = services.store.get(approval_id)
    try:
        return _decide(services, record, actor, decision, comment=comment, now=now)
    except (PromotionError, DecisionNotDelivered) as error:
        services.record_audit(
            record,
            "refused",
            actor=actor.approver,
            channel=actor.channel,
            now=now,
            requester=actor.requester,
            comment=comment,
            detail=f"{decision} refused ({type(error).__name__}): {error}; identity {actor.identity}",
        )
        raise


def _decide(
    services: ApprovalServices,
    record: ApprovalRecord,
    actor: Actor,
    decision: Decision,
    *,
    comment: str,
    now: float,
) -> DecisionResult:
    store = services.store
    if record.status != "pending":
        if record.status in ("expired", "superseded"):
            raise ApprovalExpired(decided_message(record))
        raise ApprovalAlreadyDecided(decided_message(record))
    if now >= record.expires_at:
        expire(services, record, now=now)
        raise ApprovalExpired("this approval request has expired")
    author_note = check_rules(record, actor.approver, decision)
    if decision == "approve" and record.rules.on_newer_request == "queue":
        ahead = [
            other
            for other in store.open_for_pipeline(record.pipeline)
            if (other.requested_at, other.approval_id) < (record.requested_at, record.approval_id)
        ]
        if ahead:
            raise ApprovalQueued(
                f"an older promotion of {record.pipeline} ({ahead[0].execution_name}) still waits; "
                "decide it first"
            )
    detail = f"{author_note}; identity {actor.identity}"
    if decision == "reject":
        decided = store.decide(
            record.approval_id,
            status="rejected",
            by=actor.approver,
            at=int(now),
            channel=actor.channel,
            reason=comment or None,
        )
        cause = (
            f"rejected by {actor.approver} via {actor.channel} at {iso(now)}: {comment or 'no reason given'}"
        )
        _deliver(
            services,
            decided,
            actor,
            now,
            lambda: services.sfn.send_task_failure(
                taskToken=decided.task_token, error=REJECTED_ERROR, cause=cause[:32_768]
            ),
        )
        services.record_audit(
            decided,
            "rejected",
            actor=actor.approver,
            channel=actor.channel,
            now=now,
            requester=actor.requester,
            comment=comment,
            detail=detail,
        )
        return DecisionResult(decided, final=True)

    voted = store.add_vote(
        record.approval_id, by=actor.approver, vote=Vote(at=int(now), channel=actor.channel, comment=comment)
    )
    services.record_audit(
        voted,
        "approved",
        actor=actor.approver,
        channel=actor.channel,
        now=now,
        requester=actor.requester,
        comment=comment,
        detail=detail,
    )
    if len(voted.votes) < voted.rules.required_approvals:
        return DecisionResult(voted, final=False)
    approvers = voted.approved_by()
    decided = store.decide(
        record.approval_id,
        status="approved",
        by=", ".join(approvers),
        at=int(now),
        channel=actor.channel,
        reason=comment or None,
    )
    outcome = ApprovalOutcome(
        approval_id=decided.approval_id,
        approved_by=", ".join(approvers),
        channel=actor.channel,
        decided_at=iso(now),
        approvers=approvers,
        decision_mac=_decision_mac(services, decided, actor),
    )
    _deliver(
        services,
        decided,
        actor,
        now,
        lambda: services.sfn.send_task_success(
            taskToken=decided.task_token, output=json.dumps(outcome.to_payload())
        ),
    )
    services.record_audit(
        decided,
        "decided",
        actor=actor.approver,
        channel=actor.channel,
        now=now,
        requester=actor.requester,
        comment=comment,
        detail=f"approved by {', '.join(approvers)}; Step Functions told",
    )
    return DecisionResult(decided, final=True)


def _decision_mac(services: ApprovalServices, decided: ApprovalRecord, actor: Actor) -> str:
    """The proof "Verify approval" requires; if it cannot be made, the decision is undone (fail closed)."""
    try:
        if services.decision_key is None:
            raise RuntimeError("no decision key is configured")
        return services.decision_key.mac(decision_message(decided))
    except Exception as error:
        services.store.reopen(decided.approval_id, voter=actor.approver)
        if services.log is not None:
            services.log.error("decision MAC failed", extra={"error": repr(error)})
        raise DecisionNotDelivered(
            "the decision could not be signed by the control plane's key; try again"
        ) from error


def _deliver(services: ApprovalServices, record: ApprovalRecord, actor: Actor, now: float, send: Any) -> None:
    try:
        send()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        services.store.reopen(record.approval_id, voter=actor.approver)
        if code in _TASK_GONE:
            expire(services, services.store.get(record.approval_id), now=now)
            raise ApprovalExpired("the promotion is no longer waiting for this approval") from error
        raise DecisionNotDelivered(f"Step Functions did not take the decision ({code}); try again") from error
    if actor.channel != "slack":
        # Slack clicks update their message through response_url; other channels refresh it here.
        verb = "Approved" if record.status == "approved" else "Rejected"
        services.refresh_slack(
            record, outcome=f"{verb} by {record.decided_by} via {actor.channel} at {iso(now)}"
        )


def expire(services: ApprovalServices, record: ApprovalRecord, *, now: float) -> ApprovalRecord | None:
    closed = services.store.mark_expired(record.approval_id, at=int(now))
    if closed is not None:
        services.record_audit(
            closed,
            "expired",
            actor="timeout",
            channel="state-machine",
            now=now,
            detail=f"expired at {iso(closed.expires_at)}",
        )
        services.refresh_slack(closed, outcome=f"Expired at {iso(closed.expires_at)}: nobody decided in time")
    return closed


def expire_execution(services: ApprovalServices, execution_arn: str, *, now: float) -> list[ApprovalRecord]:
    """The approval of ``execution_arn`` timed out: its pending records turn expired, audited, Slack told."""
    closed = services.store.expire_for_execution(execution_arn, at=int(now))
    for record in closed:
        services.record_audit(
            record,
            "expired",
            actor="timeout",
            channel="state-machine",
            now=now,
            detail="the approval task timed out",
        )
        services.refresh_slack(record, outcome=f"Expired at {iso(now)}: nobody decided in time")
    return closed


# ---- the three channels -------------------------------------------------------------------------------
def check_link(
    store: ApprovalStore,
    key: bytes,
    *,
    approval_id: str,
    approver: str,
    expires: str,
    signature: str,
    now: float,
) -> ApprovalRecord:
    """The record a valid, unexpired link points at (for the confirmation page); raises otherwise."""
    links.verify(key, approval_id, approver, expires, signature, now=now)
    record = store.get(approval_id)
    if approver not in record.approvers:
        raise ApproverNotAllowed(f"{approver} is not an approver of this request")
    return record


@dataclass(frozen=True)
class LinkDecision:
    approval_id: str
    approver: str
    expires: str
    signature: str
    csrf_nonce: str
    csrf_token: str
    decision: Decision
    comment: str
    requester: Requester = field(default_factory=Requester)


def decide_by_link(
    services: ApprovalServices, key: bytes, request: LinkDecision, *, now: float
) -> DecisionResult:
    check_link(
        services.store,
        key,
        approval_id=request.approval_id,
        approver=request.approver,
        expires=request.expires,
        signature=request.signature,
        now=now,
    )
    links.verify_csrf(
        key, request.approval_id, request.approver, request.csrf_nonce, request.csrf_token, now=now
    )
    actor = Actor(
        approver=request.approver,
        channel="email",
        identity=f"signed link for {request.approver}",
        requester=request.requester,
    )
    return decide(services, request.approval_id, actor, request.decision, comment=request.comment, now=now)


def decide_by_slack(
    services: ApprovalServices, click: slack.SlackClick, *, requester: Requester, now: float
) -> DecisionResult:
    record = services.store.get(click.approval_id)
    approver = record.rules.slack_users.get(click.user_id)
    identity = f"slack user {click.user_id} ({click.user_name}) team {click.team_id}"
    decision: Decision = "approve" if click.decision == slack.APPROVE_ACTION else "reject"
    if record.rules.slack_team is None or click.team_id != record.rules.slack_team:
        # Checked before the user: a user id means something only within its own workspace.
        team_error = slack.SlackWorkspaceRefused(
            f"403: this click came from Slack workspace {click.team_id or 'unknown'}; "
            f"pipeline {record.pipeline} takes approvals from workspace {record.rules.slack_team or 'none'}"
        )
        services.record_audit(
            record,
            "refused",
            actor=f"slack:{click.team_id}:{click.user_id}",
            channel="slack",
            now=now,
            requester=requester,
            detail=f"{decision} refused: {team_error}; identity {identity}",
        )
        raise team_error
    if approver is None:
        error = ApproverNotAllowed(
            f"Slack user {click.user_id} is not mapped to an approver of this pipeline"
        )
        services.record_audit(
            record,
            "refused",
            actor=f"slack:{click.user_id}",
            channel="slack",
            now=now,
            requester=requester,
            detail=f"{decision} refused: {error}; identity {identity}",
        )
        raise error
    actor = Actor(approver=approver, channel="slack", identity=identity, requester=requester)
    comment = f"via Slack by {click.user_name or click.user_id}"
    return decide(services, click.approval_id, actor, decision, comment=comment, now=now)


def operator_approver(rules: ApprovalPolicy, principal_arn: str) -> str | None:
    """The approver an IAM principal acts as: an exact key, else the longest matching ``prefix*`` key."""
    if principal_arn in rules.operators:
        return rules.operators[principal_arn]
    matches = [
        (len(key), approver)
        for key, approver in rules.operators.items()
        if key.endswith("*") and principal_arn.startswith(key[:-1])
    ]
    return max(matches)[1] if matches else None


def decide_by_operator(
    services: ApprovalServices,
    approval_id: str,
    *,
    principal_arn: str,
    decision: Decision,
    reason: str,
    now: float,
    requester: Requester | None = None,
) -> DecisionResult:
    record = services.store.get(approval_id)
    approver = operator_approver(record.rules, principal_arn)
    if approver is None:
        error = ApproverNotAllowed(
            f"{principal_arn} is not mapped to an approver of pipeline {record.pipeline}"
        )
        services.record_audit(
            record,
            "refused",
            actor=principal_arn,
            channel="operator",
            now=now,
            requester=requester,
            comment=reason,
            detail=f"{decision} refused: {error}",
        )
        raise error
    actor = Actor(
        approver=approver, channel="operator", identity=principal_arn, requester=requester or Requester()
    )
    return decide(services, approval_id, actor, decision, comment=reason, now=now)


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
            requested_by=request.execution_input.trigger.requested_by,
            commit=request.execution_input.commit,
            approval_reason=request.approval_path.reason if request.approval_path else None,
            identity=request.approval_path.commit if request.approval_path else None,
        ),
        now=now,
    )
    return {"approval_id": record.approval_id, "expires_at": record.expires_at, "approvers": record.approvers}


class AuditedExpirer:
    """``expire_for_execution`` for the timeout and cleanup paths: the records turn expired (as the store's
    method does), each expiry is audited, and the Slack message loses its buttons and says so."""

    def __init__(self, services: ApprovalServices) -> None:
        self._services = services

    def expire_for_execution(self, execution_arn: str, *, at: int) -> list[ApprovalRecord]:
        return expire_execution(self._services, execution_arn, now=float(at))
