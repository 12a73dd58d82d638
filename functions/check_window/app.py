"""Check deployment window: may prod be deployed now (the pipeline's windows and freezes, an operator's
override), and if not, until when the promotion waits."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from promotion.adapters import aws
from promotion.adapters.config_store import SsmPipelineConfigStore
from promotion.dal.window_overrides import DynamoWindowOverrideStore
from promotion.models.config import PipelineConfig
from promotion.models.steps import CheckWindowRequest
from promotion.observability import logger, metrics, tracer
from promotion.runtime import event_publisher, mailer, parse_request
from promotion.settings import control_plane_settings
from promotion.steps import check_window as check_window_step


def _announce(config: PipelineConfig, subject: str, text: str, event: dict[str, Any]) -> None:
    """The promotion starts waiting for prod's window: the topic's subscribers and the team hear when."""
    event_publisher().publish(subject=subject, event=event)
    if config.notifications.emails:
        mailer().send(to=list(config.notifications.emails), subject=subject, text=text)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
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
