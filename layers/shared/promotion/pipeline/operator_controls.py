"""Operators' controls of a pipeline: freeze it (or one environment), clear a freeze, and let one running
promotion deploy prod outside the deployment windows.

Each is recorded with who did it, ``by``: the caller the control plane verified itself (the operator route
passes the IAM principal API Gateway authenticated), never a name the operator's machine gave. The records
are the audit: a freeze keeps ``frozen_by``, an unfreeze ``unfrozen_by``, an override its item in the
environments table (``promotion.dal.window_overrides``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from promotion.adapters.config_store import PipelineConfigStore
from promotion.dal.environments import EnvironmentStateStore
from promotion.dal.window_overrides import WindowOverride, WindowOverrideStore
from promotion.errors import (
    ExecutionNotFound,
    ExecutionNotRunning,
    NotAnExecutionOfPipeline,
    NotFrozen,
    UnknownPipeline,
)
from promotion.models.config import PipelineConfig
from promotion.naming import parse_execution_name

# "*": the whole pipeline; otherwise one environment.
FreezeScope = Literal["preprod", "prod", "*"]


@dataclass(frozen=True)
class OperatorControls:
    configs: PipelineConfigStore
    environments: EnvironmentStateStore
    overrides: WindowOverrideStore
    # executionArn -> its status ("RUNNING", "SUCCEEDED", ...); None when the state machine has no such one.
    execution_status: Callable[[str], str | None]
    # The promotion state machine: an override names one of its executions.
    state_machine_arn: str


@dataclass(frozen=True)
class Frozen:
    pipeline: str
    environment: str
    reason: str
    by: str
    frozen: bool = True


@dataclass(frozen=True)
class Unfrozen:
    pipeline: str
    environment: str
    # The freeze's reason, as it was.
    was: str
    by: str
    unfrozen: bool = True


@dataclass(frozen=True)
class Overridden:
    pipeline: str
    execution: str
    reason: str
    by: str
    # How soon a promotion waiting for a window sees the override; None: the pipeline has no windows.
    recheck_seconds: int | None
    override: bool = True


def known_pipeline(configs: PipelineConfigStore, pipeline: str) -> PipelineConfig:
    try:
        return configs.get(pipeline)
    except UnknownPipeline as error:
        raise UnknownPipeline(f"unknown pipeline {pipeline!r}") from error


def freeze(
    controls: OperatorControls, pipeline: str, environment: FreezeScope, *, reason: str, by: str, now: int
) -> Frozen:
    """No new promotion of the pipeline (``*``) or into ``environment`` until someone unfreezes it."""
    config = known_pipeline(controls.configs, pipeline)
    controls.environments.freeze(config.name, environment, reason=reason, by=by, at=now)
    return Frozen(pipeline=config.name, environment=environment, reason=reason, by=by)


def unfreeze(
    controls: OperatorControls, pipeline: str, environment: FreezeScope, *, reason: str, by: str, now: int
) -> Unfrozen:
    """Clear a freeze (an operator's, or a failed rollback's, which also frees the environment's lock)."""
    config = known_pipeline(controls.configs, pipeline)
    was = controls.environments.get(config.name, environment)
    if not controls.environments.unfreeze(config.name, environment, by=by, at=now, reason=reason):
        what = "the pipeline" if environment == "*" else environment
        raise NotFrozen(f"{config.name}: {what} is not frozen")
    return Unfrozen(pipeline=config.name, environment=environment, was=was.reason, by=by)


def override_window(
    controls: OperatorControls, pipeline: str, execution: str, *, reason: str, by: str, now: int
) -> Overridden:
    """Let one running promotion (``execution``: its name or ARN) deploy prod outside the pipeline's
    deployment windows: the record its "Check deployment window" reads at its next check."""
    config = known_pipeline(controls.configs, pipeline)
    name = execution.rsplit(":", 1)[-1]
    parsed = parse_execution_name(name)
    if parsed is None or parsed.pipeline != config.name:
        raise NotAnExecutionOfPipeline(f"{name!r} is not an execution of pipeline {config.name!r}")
    arn = controls.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    status = controls.execution_status(arn)
    if status is None:
        raise ExecutionNotFound(f"no execution {name}")
    if status != "RUNNING":
        raise ExecutionNotRunning(f"{name} is already {status}")
    controls.overrides.put(config.name, WindowOverride(execution_name=name, reason=reason, by=by, at=now))
    return Overridden(
        pipeline=config.name,
        execution=name,
        reason=reason,
        by=by,
        recheck_seconds=config.windows.recheck_seconds if config.windows is not None else None,
    )
