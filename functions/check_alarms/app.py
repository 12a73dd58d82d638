"""Check prod alarms: one poll of the bake; an alarm in ALARM, or a failed canary analysis, fails it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from promotion.models.steps import CheckAlarmsRequest
from promotion.observability import logger, metrics, tracer
from promotion.runtime import environment_clients, ledger, parse_request, pipeline_configs
from promotion.steps import check_alarms as check_alarms_step


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, CheckAlarmsRequest)
    environment = environment_clients(
        request.pipeline, request.environment, execution_name=request.execution_name
    )
    return check_alarms_step.check_alarms(
        pipeline_configs(), environment.cloudwatch, request, ledger=ledger()
    ).to_payload()
