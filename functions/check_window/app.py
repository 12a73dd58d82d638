"""Check deployment window: may prod be deployed now (the pipeline's windows and freezes, an operator's
override), and if not, until when the promotion waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, logger, metrics

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from promotion.adapters import aws
from promotion.adapters.config_store import SsmPipelineConfigStore
from promotion.dal.window_overrides import DynamoWindowOverrideStore
from promotion.models.config import PipelineConfig
from promotion.models.steps import CheckWindowRequest
from promotion.pipeline.windows import waiting_slack_blocks
from promotion.runtime import event_publisher, mailer, parse_request, slack_bot_poster
from promotion.settings import control_plane_settings
from promotion.steps import check_window as check_window_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Once per promotion and environment: a check retried with the same request after its notice went out (its
# first closed check is the only one that announces) must not tell the team twice.
_persistence = DynamoDBPersistenceLayer(table_name=control_plane_settings().idempotency_table)
_once = IdempotencyConfig(event_key_jmespath="[execution_arn, environment]", expires_after_seconds=7 * 86_400)


@idempotent_function(data_keyword_argument="event", persistence_store=_persistence, config=_once)  # type: ignore[untyped-decorator]
def _send_waiting_notice(
    *, config: PipelineConfig, subject: str, text: str, event: dict[str, Any]
) -> dict[str, Any]:
    """The topic's subscribers, the team's emails and the Slack channel of the pipeline's approvals.

    Each channel is best effort: the promotion waits whether or not the team heard of it (the console and
    ``promote describe`` say why and until when), and a notice must never fail the window check."""
    execution = event["execution_arn"]
    _best_effort("topic", execution, lambda: event_publisher().publish(subject=subject, event=event))
    if config.notifications.emails:
        emails = list(config.notifications.emails)
        _best_effort("email", execution, lambda: mailer().send(to=emails, subject=subject, text=text))
    slack = config.approval.slack
    if slack is not None and "slack" in config.approval.channels:
        channel = slack.channel
        _best_effort(
            "Slack",
            execution,
            lambda: slack_bot_poster().post(
                channel, text=f"{subject}\n\n{text}", blocks=waiting_slack_blocks(subject, text)
            ),
        )
    return {"announced": event["execution_arn"], "environment": event["environment"]}


def _best_effort(channel: str, execution: str, send: Callable[[], object]) -> None:
    try:
        send()
    except Exception:
        metrics.add_metric(name="NotificationFailed", unit=MetricUnit.Count, value=1)
        logger.exception("waiting notice not sent", extra={"execution": execution, "channel": channel})


def _announce(config: PipelineConfig, subject: str, text: str, event: dict[str, Any]) -> None:
    """The promotion starts waiting for its window: everyone who hears of the pipeline's promotions, once."""
    _send_waiting_notice(config=config, subject=subject, text=text, event=event)


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _once.register_lambda_context(context)
    settings = control_plane_settings()
    # Read afresh at every check: a freeze declared or a window changed while a promotion waits applies
    # at its next check.
    configs = SsmPipelineConfigStore(settings.pipeline_config_prefix, max_age=0)
    overrides = DynamoWindowOverrideStore(aws.table(settings.environments_table))
    answer = check_window_step.check_window(
        configs,
        overrides,
        parse_request(event, CheckWindowRequest),
        announce=_announce,
        console_base=settings.execution_console_url,
    )
    if not answer["open"] or answer["override"]:
        logger.info("deployment window", extra={"window": answer})
    return answer
