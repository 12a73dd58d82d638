"""Slack's interactivity route: it checks the request's signature (and its 5-minute window), hands the
click to the decision worker (``promotion.http.slack_worker``) asynchronously and acknowledges at once:
Slack waits 3 seconds at most. It decides nothing, so it imports none of the approval stack.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from pydantic import BaseModel, ConfigDict

from promotion.approvals import slack, slack_signature
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


@dataclass(frozen=True)
class SlackRouteDeps:
    signing_secret: Callable[[], str]
    dispatch: Dispatch
    response_url_prefix: str = "https://hooks.slack.com/"
    clock: Callable[[], float] = time.time


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
            click = slack.parse_interaction(raw, response_url_prefix=deps.response_url_prefix)
        except slack.SlackPayloadInvalid as error:
            return _text(400, str(error))
        requester = requester_of(event)
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
        )
        deps.dispatch(task.model_dump())
        # An empty 200 is Slack's acknowledgement; the worker answers through response_url.
        return _text(200, "")

    return app


class LambdaDispatch:
    """Hands a task to the worker function asynchronously (InvocationType Event): returns once queued."""

    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self._lambda = lambda_client
        self._function = function_name

    def __call__(self, task: dict[str, Any]) -> None:
        import json

        self._lambda.invoke(FunctionName=self._function, InvocationType="Event", Payload=json.dumps(task))
