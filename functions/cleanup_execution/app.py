"""Clean up after an execution the state machine could not finish itself (stopped, timed out, failed)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, logger, metrics

from aws_lambda_powertools.metrics import MetricUnit

from promotion.adapters import aws
from promotion.approvals.runtime import approval_expirer
from promotion.pipeline.cleanup import ExecutionStatusChange, clean_up_after, close_out
from promotion.pipeline.notify import Outcome, notify_outcome
from promotion.runtime import (
    environment_store,
    event_publisher,
    ledger,
    mailer,
    parse_request,
    pipeline_configs,
)
from promotion.settings import control_plane_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _notify(outcome: Outcome) -> None:
    notify_outcome(
        mailer(),
        event_publisher(),
        pipeline_configs().get(outcome.pipeline),
        outcome,
        console_base=control_plane_settings().execution_console_url,
    )


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    change = parse_request(event.get("detail") or {}, ExecutionStatusChange)
    now = time.time()
    report = clean_up_after(
        change,
        sfn=aws.client("stepfunctions"),
        expirer=approval_expirer(),
        notify=_notify,
        now=now,
        close=lambda pipeline, arn, status, error: close_out(
            pipeline, arn, status, locks=environment_store(), ledger=ledger(), now=now, error=error
        ),
    )
    metrics.add_metric(
        name=f"Cleanup{change.status.title().replace('_', '')}", unit=MetricUnit.Count, value=1
    )
    logger.info("cleanup", extra=report.to_payload())
    return report.to_payload()
