"""Notify: tell people how the promotion ended, with the cause. Idempotent per execution and outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, logger, metrics

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)

from promotion.github.runtime import deployment_reporter
from promotion.models.steps import NotifyRequest
from promotion.runtime import event_publisher, mailer, parse_request, pipeline_configs
from promotion.settings import control_plane_settings
from promotion.steps import notify as notify_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# A retried Notify after a partial success must not send the same message twice.
_persistence = DynamoDBPersistenceLayer(table_name=control_plane_settings().idempotency_table)
_idempotency = IdempotencyConfig(
    event_key_jmespath="[execution_arn, outcome]", expires_after_seconds=7 * 86_400
)


@entry_point
@idempotent(persistence_store=_persistence, config=_idempotency)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, NotifyRequest)
    metrics.add_dimension(name="pipeline", value=request.promotion.pipeline)
    metrics.add_metric(
        name=f"Promotion{request.outcome.title().replace('_', '')}", unit=MetricUnit.Count, value=1
    )
    try:
        return notify_step.notify(
            pipeline_configs(),
            mailer(),
            event_publisher(),
            request,
            reporter=deployment_reporter(),
            console_base=control_plane_settings().execution_console_url,
        )
    except Exception:
        # The state machine retries, then moves on without changing the outcome: count every failure here.
        metrics.add_metric(name="NotificationFailed", unit=MetricUnit.Count, value=1)
        logger.exception("notification failed", extra={"execution": request.execution_arn})
        raise
