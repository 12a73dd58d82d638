"""The step behind functions/shift_traffic: typed request in, typed result out."""

from __future__ import annotations

from typing import Any

from promotion.adapters.config_store import PipelineConfigStore
from promotion.models.steps import (
    ShiftTrafficRequest,
)
from promotion.pipeline.traffic import TrafficStep, shift_traffic


def shift_prod_traffic(
    configs: PipelineConfigStore, lambda_client: Any, request: ShiftTrafficRequest
) -> TrafficStep:
    return shift_traffic(lambda_client, request.deployment, configs.get(request.pipeline).rollout)
