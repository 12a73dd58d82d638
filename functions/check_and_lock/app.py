"""Check and lock: right before an environment is deployed, refuse a frozen one (and for prod, one whose
alarms fire or a commit older than what it runs), take its deploy lock, and record the baseline in the
deployment ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point, logger, metrics

from aws_lambda_powertools.metrics import MetricUnit

from promotion.adapters import aws
from promotion.github.runtime import github_client
from promotion.models.steps import PrepareRequest
from promotion.pipeline.prepare import PrepareDeps
from promotion.runtime import environment_clients, environment_store, ledger, parse_request, pipeline_configs
from promotion.steps import check_and_lock as check_and_lock_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _reclaimed(environment: str, stale_owner: str) -> None:
    metrics.add_metric(name="StaleLocksReclaimed", unit=MetricUnit.Count, value=1)
    logger.warning(
        "reclaimed a stale deploy lock", extra={"environment": environment, "stale_owner": stale_owner}
    )


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, PrepareRequest)
    config = pipeline_configs().get(request.pipeline)
    environment = environment_clients(
        request.pipeline, request.environment, execution_name=request.execution_name
    )
    deps = PrepareDeps(
        lambda_client=environment.lambda_client,
        cloudwatch=environment.cloudwatch,
        sfn=aws.client("stepfunctions"),
        environments=environment_store(),
        ledger=ledger(),
        commit_order=github_client(config),
        on_reclaim=_reclaimed,
    )
    return check_and_lock_step.check_and_lock(pipeline_configs(), deps, request).to_payload()
