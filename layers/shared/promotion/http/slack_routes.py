"""Slack's interactivity route: it checks the request's signature (and its 5-minute window), hands the
click to the decision worker (``promotion.http.slack_worker``) asynchronously and acknowledges at once:
Slack waits 3 seconds at most. It decides nothing, so it imports none of the approval stack.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from pydantic import BaseModel, ConfigDict, Field

from promotion.approvals import slack, slack_modal, slack_signature
from promotion.http.requester import requester_of

Dispatch = Callable[[dict[str, Any]], None]


class SlackDecisionTask(BaseModel):
    """What the interactivity route hands the worker: a verified click and where it came from."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    approval_id: str
    decision: str
    user_id: str
    user_name: str = ""
    team_id: str = ""
    response_url: str
    source_ip: str = ""
    user_agent: str = ""
    received_at: float
    # The input modal's values (approval.inputs), as entered; the decision validates them.
    inputs: dict[str, str] = Field(default_factory=dict)


class InputModals(Protocol):
    """``promotion.approvals.slack_modal.InputModals``: opens the input modal, checks its submission."""

    def open_for(self, approval_id: str, *, trigger_id: str, response_url: str) -> bool: ...

    def errors_of(self, submission: slack.SlackClick) -> dict[str, str]: ...


@dataclass(frozen=True)
class SlackRouteDeps:
    signing_secret: Callable[[], str]
    dispatch: Dispatch
    response_url_prefix: str = "https://hooks.slack.com/"
    clock: Callable[[], float] = time.time
    # Approvals that ask for input (approval.inputs) open a modal; None: no modal is opened, and such an
    # approval is refused by the decision for want of its input.
    modals: InputModals | None = None


def _text(status: int, message: str) -> Response[str]:
    return Response(status_code=status, content_type="text/plain; charset=utf-8", body=message)


def build_slack_resolver(deps: SlackRouteDeps) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.post("/slack/interactions")
    def interaction() -> Response[str]:
        event = app.current_event
        raw = event.decoded_body or ""
        if len(raw.encode()) > slack.MAX_BODY_BYTES:
            return _text(413, "request too large")
        headers = {key.lower(): value for key, value in (event.headers or {}).items()}
        try:
            slack_signature.verify_request(
                deps.signing_secret(),
                body=raw,
                timestamp=headers.get("x-slack-request-timestamp"),
                signature=headers.get("x-slack-signature"),
            )
        except slack_signature.SlackRequestInvalid as error:
            return _text(401, str(error))
        try:
            payload = slack.read_payload(raw)
            if payload.get("type") == "view_submission":
                return _submitted(
                    slack_modal.parse_submission(payload, response_url_prefix=deps.response_url_prefix)
                )
            click = slack.click_of(payload, response_url_prefix=deps.response_url_prefix)
        except slack.SlackPayloadInvalid as error:
            return _text(400, str(error))
        if (
            click.decision == slack.APPROVE_WITH_INPUT_ACTION
            and deps.modals is not None
            and click.trigger_id
            and deps.modals.open_for(
                click.approval_id, trigger_id=click.trigger_id, response_url=click.response_url
            )
        ):
            # Slack's trigger_id lasts 3 seconds, so the modal opens here; its submission decides.
            return _text(200, "")
        _dispatch(click)
        # An empty 200 is Slack's acknowledgement; the worker answers through response_url.
        return _text(200, "")

    def _submitted(submission: slack.SlackClick) -> Response[str]:
        errors = deps.modals.errors_of(submission) if deps.modals is not None else {}
        if errors:
            # Slack shows each message under its field and keeps the modal open; nothing is decided.
            return _json(200, {"response_action": "errors", "errors": errors})
        _dispatch(submission)
        # An empty 200 closes the modal; the worker answers through the click's response_url.
        return _text(200, "")

    def _dispatch(click: slack.SlackClick) -> None:
        requester = requester_of(app.current_event)
        task = SlackDecisionTask(
            approval_id=click.approval_id,
            decision=click.decision,
            user_id=click.user_id,
            user_name=click.user_name,
            team_id=click.team_id,
            response_url=click.response_url,
            source_ip=requester.source_ip,
            user_agent=requester.user_agent,
            received_at=deps.clock(),
            inputs=click.inputs,
        )
        deps.dispatch(task.model_dump())

    return app


def _json(status: int, document: dict[str, Any]) -> Response[str]:
    import json

    return Response(status_code=status, content_type="application/json", body=json.dumps(document))


class LambdaDispatch:
    """Hands a task to the worker function asynchronously (InvocationType Event): returns once queued."""

    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self._lambda = lambda_client
        self._function = function_name

    def __call__(self, task: dict[str, Any]) -> None:
        import json

        self._lambda.invoke(FunctionName=self._function, InvocationType="Event", Payload=json.dumps(task))
