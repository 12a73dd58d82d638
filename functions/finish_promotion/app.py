"""Record success / Record failure: close the promotion's ledger entries and release its deploy locks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, metrics

from aws_lambda_powertools.metrics import MetricUnit

from promotion.models.steps import FinishRequest
from promotion.runtime import environment_store, ledger, parse_request
from promotion.steps import finish_promotion as finish_promotion_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, FinishRequest)
    result = finish_promotion_step.finish(environment_store(), ledger(), request, now=time.time())
    if "time_to_prod_seconds" in result:
        metrics.add_dimension(name="pipeline", value=request.promotion.pipeline)
        metrics.add_metric(name="TimeToProd", unit=MetricUnit.Seconds, value=result["time_to_prod_seconds"])
    return result
