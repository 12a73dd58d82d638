"""Slack's decision worker: maps the Slack user to an approver, decides through ``decide`` (the same rules
as every channel) and updates the original message through ``response_url`` with who decided and when."""

from __future__ import annotations

from promotion.approvals import slack
from promotion.approvals.audit import Requester
from promotion.approvals.collaborators import ApprovalServices, DecisionNotDelivered, closed_outcome, iso
from promotion.approvals.decisions import decide_by_slack
from promotion.errors import PromotionError
from promotion.http.slack_routes import SlackDecisionTask


def handle_click(
    services: ApprovalServices, poster: slack.SlackPoster, task: SlackDecisionTask, *, now: float
) -> str:
    """Decide a verified click and tell Slack; returns what Slack was told."""
    click = slack.SlackClick(
        approval_id=task.approval_id,
        decision=task.decision,
        user_id=task.user_id,
        user_name=task.user_name,
        team_id=task.team_id,
        response_url=task.response_url,
        inputs=dict(task.inputs),
    )
    requester = Requester(source_ip=task.source_ip, user_agent=task.user_agent)
    try:
        result = decide_by_slack(services, click, requester=requester, now=now)
    except (PromotionError, DecisionNotDelivered) as error:
        # Only the clicker sees why; the message itself stays as it is (its buttons still work for others).
        message = f"Not done: {error}"
        poster.respond(task.response_url, text=message, blocks=None, replace_original=False)
        return message
    record = result.record
    when = iso(now)
    if not result.final:
        message = f"{result.summary()} (you approved at {when})"
        poster.respond(task.response_url, text=message, blocks=None, replace_original=False)
        return message
    outcome = closed_outcome(record)
    poster.respond(
        task.response_url,
        text=outcome,
        blocks=slack.closed_blocks(record, outcome=outcome, expires=iso(record.expires_at)),
        replace_original=True,
    )
    return outcome
