"""Slack interactivity: check Slack's signature, hand the click to the decision worker, ack at once; open and
check the approval input modal of a pipeline with ``approval.inputs``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point

from aws_lambda_powertools.logging import correlation_paths

from promotion.adapters import aws
from promotion.approvals.slack_modal import InputModals
from promotion.dal.approvals import DynamoApprovalStore
from promotion.http.slack_routes import LambdaDispatch, SlackRouteDeps, build_slack_resolver
from promotion.runtime import slack_bot_poster, slack_signing_secret
from promotion.settings import control_plane_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

_settings = control_plane_settings()
app = build_slack_resolver(
    SlackRouteDeps(
        signing_secret=slack_signing_secret,
        dispatch=LambdaDispatch(aws.client("lambda"), _settings.slack_worker_function or ""),
        response_url_prefix=_settings.slack_response_url_prefix,
        # Reads records and opens modals only; the approval stack (audit, decision key) stays out of here.
        modals=InputModals(DynamoApprovalStore(aws.table(_settings.approvals_table)), slack_bot_poster())
        if _settings.slack_bot_token_secret
        else None,
    )
)


@entry_point(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
