"""The step behind functions/check_alarms: typed request in, typed result out."""

from __future__ import annotations

from typing import Any

from promotion.adapters.config_store import PipelineConfigStore
from promotion.models.execution import (
    BakeProgress,
)
from promotion.models.steps import (
    CheckAlarmsRequest,
)
from promotion.pipeline import alarms


def check_alarms(configs: PipelineConfigStore, cloudwatch: Any, request: CheckAlarmsRequest) -> BakeProgress:
    config = configs.get(request.pipeline)
    states = alarms.alarm_states(cloudwatch, config.environments.target(request.environment).alarms)
    if request.mode == "gate":
        # During a traffic shift: only an alarm in ALARM stops it; the bake judges missing data later.
        return alarms.bake_step(
            states, elapsed_seconds=0, duration_seconds=0, poll_seconds=1, insufficient_data="ok"
        )
    return alarms.bake_step(
        states,
        elapsed_seconds=request.elapsed_seconds,
        duration_seconds=config.bake.duration_seconds,
        poll_seconds=config.bake.poll_interval_seconds,
        seen_data=request.seen_data,
        insufficient_data=config.bake.insufficient_data,
    )
