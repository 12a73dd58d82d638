"""Recording what an environment runs right before a promotion deploys it: the rollback target.

The same step refuses to deploy a frozen environment, and for prod one whose alarms already fire (a
deploy on top of a firing alarm would be blamed for it, or hide it).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from promotion.dal.environments import EnvironmentStateStore
from promotion.errors import AlarmsAlreadyFiring, EnvironmentFrozen, EnvironmentNotBootstrapped
from promotion.models.config import Environment, PipelineConfig
from promotion.models.execution import BaselineFunction, EnvironmentBaseline
from promotion.pipeline.alarms import alarm_states


def ensure_not_frozen(
    environments: EnvironmentStateStore, config: PipelineConfig, environment: Environment
) -> None:
    """Refuse a pipeline an operator froze, or an environment frozen since a failed rollback."""
    pipeline_state = environments.get(config.name, "*")
    if pipeline_state.frozen:
        raise EnvironmentFrozen(
            f"{config.name} is frozen by an operator ({pipeline_state.reason}); "
            f"clear it with: promote unfreeze --pipeline {config.name}"
        )
    state = environments.get(config.name, environment)
    if state.frozen:
        raise EnvironmentFrozen(
            f"{config.name} {environment} is frozen since a failed rollback ({state.reason}); "
            f"check it, then run: promote unfreeze --pipeline {config.name} --environment {environment}"
        )


def ensure_prod_alarms_quiet(cloudwatch: Any, config: PipelineConfig) -> None:
    """Refuse to deploy prod while one of its alarms is already in ALARM."""
    firing = sorted(
        name
        for name, value in alarm_states(cloudwatch, config.environments.prod.alarms).items()
        if value == "ALARM"
    )
    if firing:
        raise AlarmsAlreadyFiring(f"prod alarms already in ALARM before deploy: {', '.join(firing)}")


def capture_baseline(
    lambda_client: Any,
    cloudwatch: Any,
    environments: EnvironmentStateStore,
    config: PipelineConfig,
    environment: Environment,
) -> EnvironmentBaseline:
    ensure_not_frozen(environments, config, environment)
    if environment == "prod":
        ensure_prod_alarms_quiet(cloudwatch, config)
    target = config.environments.target(environment)
    functions = []
    for key, name in sorted(target.functions.items()):
        try:
            alias = lambda_client.get_alias(FunctionName=name, Name=target.alias)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise EnvironmentNotBootstrapped(
                    f"{name} has no alias {target.alias!r}: deploy the service's own template once "
                    "(AutoPublishAlias) so the environment has a first version to return to"
                ) from error
            raise
        version = str(alias["FunctionVersion"])
        code = lambda_client.get_function_configuration(FunctionName=name, Qualifier=version)["CodeSha256"]
        functions.append(
            BaselineFunction(
                key=key, function_name=name, alias=target.alias, version=version, code_sha256=code
            )
        )
    return EnvironmentBaseline(environment=environment, functions=functions)
