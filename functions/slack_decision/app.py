"""Slack decision worker: decide a verified click by the approval rules and update the Slack message."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point

from promotion.approvals.runtime import approval_services, slack_poster
from promotion.http.slack_routes import SlackDecisionTask
from promotion.http.slack_worker import handle_click
from promotion.runtime import parse_request

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    task = parse_request(event, SlackDecisionTask)
    return {"slack_response": handle_click(approval_services(), slack_poster(), task, now=time.time())}
