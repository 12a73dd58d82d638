"""Slack: the Block Kit approval message, its updates, and reading Slack's interaction requests.

Buttons carry only the approval id and the decision; the task token never leaves the approvals table.
Who clicked comes from Slack's signed request (``user.id``), mapped to an approver by the pipeline's config.
The signature itself is checked in ``promotion.approvals.slack_signature``. slack_sdk is imported only
where a Slack call is made (``SlackSdkPoster``): importing it loads its whole web client, which the
functions that never talk to Slack should not pay for at cold start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

from promotion.errors import ApproverNotAllowed, PromotionError
from promotion.models.approval import ApprovalRecord, SlackMessageRef
from promotion.models.approver_input import input_text

APPROVE_ACTION = "approve"
# The Approve button of a request that asks for input (``approval.inputs``): it opens the input modal.
APPROVE_WITH_INPUT_ACTION = "approve_with_input"
REJECT_ACTION = "reject"
APPROVE_ACTIONS = (APPROVE_ACTION, APPROVE_WITH_INPUT_ACTION)
MAX_BODY_BYTES = 64 * 1024
APPROVAL_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class SlackPayloadInvalid(PromotionError):
    """A signed request whose payload is not an approval button click."""


class SlackWorkspaceRefused(ApproverNotAllowed):
    """A signed click from a Slack workspace other than the pipeline's (``approval.slack.team_id``)."""


class SlackPoster(Protocol):
    def post(self, channel: str, *, text: str, blocks: list[dict[str, Any]]) -> SlackMessageRef: ...

    def update(self, message: SlackMessageRef, *, text: str, blocks: list[dict[str, Any]]) -> None: ...

    def respond(
        self, response_url: str, *, text: str, blocks: list[dict[str, Any]] | None, replace_original: bool
    ) -> None: ...

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None: ...


class SlackSdkPoster:
    """slack-sdk's WebClient (bot token) for posting and updating; WebhookClient for ``response_url``."""

    def __init__(self, token: Callable[[], str], *, base_url: str = "https://slack.com/api/") -> None:
        self._token = token
        self._base_url = base_url

    def _client(self) -> Any:
        from slack_sdk import WebClient

        return WebClient(token=self._token(), base_url=self._base_url, timeout=10)

    def post(self, channel: str, *, text: str, blocks: list[dict[str, Any]]) -> SlackMessageRef:
        response = self._client().chat_postMessage(channel=channel, text=text, blocks=blocks)
        return SlackMessageRef(channel=str(response["channel"]), ts=str(response["ts"]))

    def update(self, message: SlackMessageRef, *, text: str, blocks: list[dict[str, Any]]) -> None:
        self._client().chat_update(channel=message.channel, ts=message.ts, text=text, blocks=blocks)

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self._client().views_open(trigger_id=trigger_id, view=view)

    def respond(
        self, response_url: str, *, text: str, blocks: list[dict[str, Any]] | None, replace_original: bool
    ) -> None:
        from slack_sdk.webhook import WebhookClient

        answer = WebhookClient(response_url, timeout=10).send(
            text=text,
            blocks=blocks,
            replace_original=replace_original,
            response_type=None if replace_original else "ephemeral",
        )
        if answer.status_code >= 300:
            raise RuntimeError(f"Slack response_url answered {answer.status_code}")


# ---- messages ---------------------------------------------------------------------------------------
def mrkdwn(text: str) -> str:
    # Slack's own escaping: these three characters are control characters in mrkdwn.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _facts(record: ApprovalRecord, expires: str) -> list[dict[str, Any]]:
    commit = record.commit
    author = commit.author_login or commit.author_email or "unknown"
    # "verified" only when GitHub's API named the author's account ("Decide approval path").
    verified = "verified" if commit.author_confirmed else "NOT verified"
    fields = [
        f"*Repository*\n{mrkdwn(record.repo)}",
        f"*Commit*\n<{record.compare_url}|{record.sha[:12]}>"
        if record.compare_url
        else f"*Commit*\n{record.sha}",
        f"*Author*\n{mrkdwn(author)} ({verified})",
        f"*Expires*\n{expires}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "fields": [{"type": "mrkdwn", "text": line} for line in fields]},
    ]
    if commit.message:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "> " + mrkdwn(commit.message[:500])}}
        )
    context = [f"Preprod: {mrkdwn(record.preprod_report)}"]
    if record.console_url:
        context.append(f"<{record.console_url}|Execution {mrkdwn(record.execution_name)}>")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line} for line in context]})
    return blocks


def approval_text(record: ApprovalRecord) -> str:
    return f"Approve {record.repo}@{record.sha[:12]} to prod? ({record.pipeline})"


def approval_blocks(record: ApprovalRecord, *, expires: str) -> list[dict[str, Any]]:
    needed = record.rules.required_approvals
    header = approval_text(record) + (f" - {needed} approvals needed" if needed > 1 else "")
    return [
        {"type": "header", "text": {"type": "plain_text", "text": header[:150]}},
        *_facts(record, expires),
        {
            "type": "actions",
            "block_id": "approval",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_WITH_INPUT_ACTION if record.rules.inputs else APPROVE_ACTION,
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "value": record.approval_id,
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "text": {"type": "plain_text", "text": "Reject"},
                    "style": "danger",
                    "value": record.approval_id,
                },
            ],
        },
    ]


def closed_blocks(record: ApprovalRecord, *, outcome: str, expires: str) -> list[dict[str, Any]]:
    """The message once nothing can be decided any more: same facts, no buttons, the outcome on top."""
    given = [f"{who}: {input_text(vote.inputs)}" for who, vote in record.votes.items() if vote.inputs]
    inputs = (
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn("Input " + "; ".join(given))}]}]
        if given
        else []
    )
    return [
        {"type": "header", "text": {"type": "plain_text", "text": approval_text(record)[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{mrkdwn(outcome)}*"}},
        *inputs,
        *_facts(record, expires),
    ]


# ---- interaction requests ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SlackClick:
    approval_id: str
    decision: str  # "approve" | "approve_with_input" | "reject"
    user_id: str
    user_name: str
    team_id: str
    response_url: str
    # The input modal's values (``promotion.approvals.slack_modal``), as entered: claims until decided.
    inputs: dict[str, str] = field(default_factory=dict)
    trigger_id: str = ""


def read_payload(body: str) -> dict[str, Any]:
    """The JSON of a (verified) interaction request's ``payload`` form field."""
    form = parse_qs(body, keep_blank_values=True, max_num_fields=5)
    raw = form.get("payload", [])
    if len(raw) != 1:
        raise SlackPayloadInvalid("expected one 'payload' form field")
    try:
        payload = json.loads(raw[0])
    except ValueError as error:
        raise SlackPayloadInvalid("payload is not JSON") from error
    if not isinstance(payload, dict):
        raise SlackPayloadInvalid("payload is not an object")
    return payload


def parse_interaction(body: str, *, response_url_prefix: str = "https://hooks.slack.com/") -> SlackClick:
    """The approval button click in a (verified) interaction request's ``payload`` form field."""
    return click_of(read_payload(body), response_url_prefix=response_url_prefix)


def click_of(payload: dict[str, Any], *, response_url_prefix: str = "https://hooks.slack.com/") -> SlackClick:
    """The approval button click of a ``block_actions`` payload.

    ``response_url`` must start with ``response_url_prefix``: the worker posts to it, and nothing but
    Slack's own hooks should be reachable that way.
    """
    if payload.get("type") != "block_actions":
        raise SlackPayloadInvalid("not a block_actions interaction")
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise SlackPayloadInvalid("expected exactly one action")
    action = actions[0]
    decision, approval_id = action.get("action_id"), action.get("value")
    if decision not in (*APPROVE_ACTIONS, REJECT_ACTION):
        raise SlackPayloadInvalid("not an approval button")
    if not isinstance(approval_id, str) or not APPROVAL_ID.match(approval_id):
        raise SlackPayloadInvalid("the button carries no approval id")
    response_url = payload.get("response_url")
    if not isinstance(response_url, str) or not response_url.startswith(response_url_prefix):
        raise SlackPayloadInvalid("the interaction has no Slack response_url")
    user_id, user_name, team_id = who(payload)
    return SlackClick(
        approval_id=approval_id,
        decision=decision,
        user_id=user_id,
        user_name=user_name,
        team_id=team_id,
        response_url=response_url,
        trigger_id=str(payload.get("trigger_id") or ""),
    )


def who(payload: dict[str, Any]) -> tuple[str, str, str]:
    """The Slack user id, name and workspace of an interaction."""
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        raise SlackPayloadInvalid("the interaction names no user")
    team = payload.get("team")
    return (
        user["id"],
        str(user.get("username") or user.get("name") or ""),
        str(team.get("id", "")) if isinstance(team, dict) else "",
    )
