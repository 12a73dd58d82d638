"""Check prod alarms: one poll of the bake; an alarm in ALARM, or a failed canary analysis, fails it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point

from promotion.models.steps import CheckAlarmsRequest
from promotion.runtime import environment_clients, ledger, parse_request, pipeline_configs
from promotion.steps import check_alarms as check_alarms_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, CheckAlarmsRequest)
    environment = environment_clients(
        request.pipeline, request.environment, execution_name=request.execution_name
    )
    return check_alarms_step.check_alarms(
        pipeline_configs(), environment.cloudwatch, request, ledger=ledger()
    ).to_payload()
