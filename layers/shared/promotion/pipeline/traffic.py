"""Moving prod's traffic to the new versions step by step, with Lambda alias weighted routing.

Stateless: the current step is read from the aliases themselves, so a retried or resumed step continues
from what is really routed. Every alias update carries the RevisionId it read, so a concurrent change
(a rollback, an operator) is refused, not overwritten.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from promotion.errors import DeployFailed
from promotion.models.config import RolloutSettings
from promotion.models.execution import EnvironmentDeployment


class TrafficStep(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    weight: float
    done: bool
    wait_seconds: int

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def routed_weight(alias: dict[str, Any], new_version: str) -> float:
    """Share of the alias's traffic on ``new_version``."""
    if str(alias["FunctionVersion"]) == new_version:
        return 1.0
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return float(weights.get(new_version, 0.0))


def next_weight(rollout: RolloutSettings, current: float) -> float:
    for weight in rollout.weights():
        if weight > current + 1e-9:
            return weight
    return 1.0


def shift_traffic(
    lambda_client: Any, deployment: EnvironmentDeployment, rollout: RolloutSettings
) -> TrafficStep:
    aliases = {
        f.key: lambda_client.get_alias(FunctionName=f.function_name, Name=f.alias)
        for f in deployment.functions
    }
    # The functions move together, so the least-shifted one says where the rollout is.
    current = min(routed_weight(aliases[f.key], f.version) for f in deployment.functions)
    if current >= 1.0:
        return TrafficStep(weight=1.0, done=True, wait_seconds=0)
    weight = next_weight(rollout, current)
    for function in deployment.functions:
        alias = aliases[function.key]
        if weight >= 1.0:
            routing: dict[str, Any] = {
                "FunctionVersion": function.version,
                "RoutingConfig": {"AdditionalVersionWeights": {}},
            }
        else:
            routing = {
                "FunctionVersion": function.previous_version,
                "RoutingConfig": {"AdditionalVersionWeights": {function.version: round(weight, 4)}},
            }
        try:
            lambda_client.update_alias(
                FunctionName=function.function_name,
                Name=function.alias,
                RevisionId=alias["RevisionId"],
                **routing,
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            raise DeployFailed(
                f"{function.function_name}:{function.alias} could not move to {weight:.0%} ({code}); "
                "it changed under the rollout or the update failed"
            ) from error
    done = weight >= 1.0
    return TrafficStep(weight=weight, done=done, wait_seconds=0 if done else rollout.interval_seconds)
