"""The step behind functions/check_alarms: typed request in, typed result out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from promotion.adapters.config_store import PipelineConfigStore
from promotion.dal.ledger import DynamoLedger
from promotion.models.execution import (
    BakeProgress,
)
from promotion.models.steps import (
    CheckAlarmsRequest,
)
from promotion.pipeline import alarms, canary_analysis


def check_alarms(
    configs: PipelineConfigStore,
    cloudwatch: Any,
    request: CheckAlarmsRequest,
    *,
    ledger: DynamoLedger | None = None,
    now: datetime | None = None,
) -> BakeProgress:
    """One look at prod's alarms, and at the canary analysis when the pipeline turns it on.

    The analysis is recorded on the deployment's ledger entry (``ledger``, ``request.ledger_key``) at every
    check, before anything fails, so the entry keeps the numbers that decided.
    """
    config = configs.get(request.pipeline)
    states = alarms.alarm_states(cloudwatch, config.environments.target(request.environment).alarms)
    analysis = None
    settings = config.canary_analysis
    if settings.enabled and request.deployment is not None:
        analysis = canary_analysis.analyse(cloudwatch, request.deployment, settings, now=now)
        if ledger is not None and request.ledger_key:
            ledger.record_analysis(
                request.pipeline, request.environment, request.ledger_key, analysis.to_payload()
            )
    if request.mode == "gate":
        # During a traffic shift: only an alarm in ALARM stops it; the bake judges missing data later.
        progress = alarms.bake_step(
            states, elapsed_seconds=0, duration_seconds=0, poll_seconds=1, insufficient_data="ok"
        )
    else:
        progress = alarms.bake_step(
            states,
            elapsed_seconds=request.elapsed_seconds,
            duration_seconds=config.bake.duration_seconds,
            poll_seconds=config.bake.poll_interval_seconds,
            seen_data=request.seen_data,
            insufficient_data=config.bake.insufficient_data,
        )
    if analysis is None:
        return progress
    return canary_analysis.apply_to_bake(progress, analysis, settings, mode=request.mode)
