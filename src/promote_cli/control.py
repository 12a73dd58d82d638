"""Operator actions against a control plane, on AWS or local: start a promotion, follow it, read its state."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from promotion.console import execution_console_url
from promotion.models.config import PipelineConfig, parse_pipeline_config
from promotion.models.execution import ExecutionInput, Trigger
from promotion.naming import execution_name, execution_name_prefix, parse_execution_name

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class ControlError(Exception):
    """An operator-facing failure: printed as one line, exit status 2."""


@dataclass(frozen=True)
class ControlPlane:
    """How to reach one deployed (or local) control plane."""

    stack_name: str
    sfn: Any
    ssm: Any
    # DynamoDB (a boto3 resource) for the ledger and environment state; optional for start/watch.
    dynamodb: Any = None
    # The control plane's own console (the local plane's ready line names it); None: the AWS console.
    console_base: str | None = None

    def state_machine_arn(self) -> str:
        wanted = f"{self.stack_name}-promotion"
        for page in self.sfn.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                if machine["name"] == wanted:
                    return str(machine["stateMachineArn"])
        raise ControlError(f"no state machine named {wanted}: is stack {self.stack_name!r} deployed here?")

    def pipeline(self, name: str) -> PipelineConfig:
        parameter = f"/{self.stack_name}/pipelines/{name}"
        try:
            raw = self.ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ParameterNotFound":
                raise ControlError(f"unknown pipeline {name!r} (no SSM parameter {parameter})") from error
            raise
        return parse_pipeline_config(raw, source=parameter)

    def attempts(self, state_machine_arn: str, pipeline: str, sha: str) -> list[int]:
        prefix = execution_name_prefix(pipeline, sha)
        found = []
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
            for execution in page["executions"]:
                parsed = parse_execution_name(execution["name"])
                if parsed is not None and execution["name"].startswith(prefix):
                    found.append(parsed.attempt)
        return sorted(found)

    def start(
        self,
        pipeline: str,
        sha: str,
        *,
        requested_by: str,
        attempt: int | None = None,
        mode: Literal["promote", "rollback", "redeploy"] = "promote",
        target: Literal["preprod", "prod"] = "prod",
        source: Literal["cli", "operator"] = "cli",
    ) -> dict[str, Any]:
        config = self.pipeline(pipeline)
        self.refuse_if_frozen(config.name, target)
        arn = self.state_machine_arn()
        if attempt is None:
            # An explicit start by an operator is a new attempt: never a redelivery of an earlier one.
            earlier = self.attempts(arn, config.name, sha)
            attempt = (earlier[-1] + 1) if earlier else 1
        request = ExecutionInput(
            pipeline=config.name,
            sha=sha,
            attempt=attempt,
            trigger=Trigger(source=source, requested_by=requested_by),
            mode=mode,
            target=target,
        )
        name = execution_name(config.name, sha, attempt)
        try:
            response = self.sfn.start_execution(
                stateMachineArn=arn, name=name, input=json.dumps(request.to_payload())
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
                raise ControlError(f"attempt {attempt} of {sha[:12]} already exists ({name})") from error
            raise
        return {
            "execution_arn": response["executionArn"],
            "name": name,
            "attempt": attempt,
            "console_url": execution_console_url(response["executionArn"], self.console_base),
        }

    # ---- environments: freeze, ledger, operator rollback and redeploy -----------------------------------
    def environments(self) -> Any:
        from promotion.dal.environments import DynamoEnvironmentStateStore

        if self.dynamodb is None:
            raise ControlError("no DynamoDB access configured")
        return DynamoEnvironmentStateStore(self.dynamodb.Table(f"{self.stack_name}-environments"))

    def ledger(self) -> Any:
        from promotion.dal.ledger import DynamoLedger

        if self.dynamodb is None:
            raise ControlError("no DynamoDB access configured")
        return DynamoLedger(self.dynamodb.Table(f"{self.stack_name}-deployments"))

    def refuse_if_frozen(self, pipeline: str, target: str) -> None:
        """A frozen pipeline or target environment starts nothing new, and says why."""
        if self.dynamodb is None:
            return  # the state machine's "Check and lock" refuses it anyway
        environments = self.environments()
        for environment in ("*", "preprod", "prod") if target == "prod" else ("*", "preprod"):
            state = environments.get(pipeline, environment)
            if state.frozen:
                what = "the pipeline" if environment == "*" else environment
                raise ControlError(
                    f"{pipeline}: {what} is frozen ({state.reason or 'no reason given'}); "
                    f"clear it with: promote unfreeze --pipeline {pipeline}"
                    + ("" if environment == "*" else f" --environment {environment}")
                )

    def freeze(self, pipeline: str, environment: str, *, reason: str, by: str) -> dict[str, Any]:
        self.pipeline(pipeline)
        self.environments().freeze(pipeline, environment, reason=reason, by=by, at=int(time.time()))
        return {"pipeline": pipeline, "environment": environment, "frozen": True, "reason": reason}

    def status(self, lambda_clients: Mapping[str, Any], pipeline: str, *, history: int = 5) -> dict[str, Any]:
        """``lambda_clients``: environment -> a Lambda client that can read it (its account's)."""
        config = self.pipeline(pipeline)
        ledger = self.ledger()
        environments = self.environments()
        report: dict[str, Any] = {"pipeline": config.name, "repo": config.repo, "environments": {}}
        pipeline_state = environments.get(config.name, "*")
        report["frozen"] = pipeline_state.reason if pipeline_state.frozen else None
        for environment in ("preprod", "prod"):
            state = environments.get(config.name, environment)
            current = ledger.pointer(config.name, environment, "current")
            known_good = ledger.pointer(config.name, environment, "known_good")
            report["environments"][environment] = {
                "serving": serving(lambda_clients[environment], config, environment),
                "sha": current.sha if current else None,
                "known_good_sha": known_good.sha if known_good else None,
                "frozen": state.reason if state.frozen else None,
                "locked_by": state.lock_owner.rsplit(":", 1)[-1] if state.lock_owner else None,
                "history": [
                    {
                        "execution": entry.execution_name,
                        "sha": entry.sha,
                        "mode": entry.mode,
                        "outcome": entry.outcome,
                        "started_at": entry.started_at,
                        "finished_at": entry.finished_at,
                        "approver": entry.approver,
                        "versions": {f.key: f.version for f in entry.functions if f.version},
                    }
                    for entry in ledger.history(config.name, environment, limit=history)
                ],
            }
        return report

    def rollback(
        self, pipeline: str, environment: Literal["preprod", "prod"], *, requested_by: str
    ) -> dict[str, Any]:
        """Run the last known-good build of ``environment`` again, through the whole state machine."""
        known_good = self.ledger().pointer(pipeline, environment, "known_good")
        if known_good is None or known_good.sha is None:
            raise ControlError(f"{pipeline} {environment} has no known-good deployment in the ledger yet")
        started = self.start(
            pipeline,
            known_good.sha,
            requested_by=requested_by,
            mode="rollback",
            target=environment,
            source="operator",
        )
        return {**started, "sha": known_good.sha}

    def redeploy(
        self, pipeline: str, environment: Literal["preprod", "prod"], sha: str, *, requested_by: str
    ) -> dict[str, Any]:
        return self.start(
            pipeline, sha, requested_by=requested_by, mode="redeploy", target=environment, source="operator"
        )

    def cancel(self, execution_arn: str, *, reason: str, requested_by: str) -> dict[str, Any]:
        try:
            status = self.sfn.describe_execution(executionArn=execution_arn)["status"]
        except ClientError as error:
            raise ControlError(f"no execution {execution_arn}") from error
        if status != "RUNNING":
            raise ControlError(f"{execution_arn} is already {status}")
        self.sfn.stop_execution(
            executionArn=execution_arn, error="Cancelled", cause=f"{reason} (by {requested_by})"[:32_768]
        )
        return {"execution_arn": execution_arn, "status": "ABORTED", "cleanup": "by the EventBridge rule"}

    def unfreeze(self, dynamodb: Any, pipeline: str, environment: str, *, by: str) -> dict[str, Any]:
        from promotion.dal.environments import DynamoEnvironmentStateStore

        self.pipeline(pipeline)  # unknown pipeline: a clear error rather than a silent no-op
        store = DynamoEnvironmentStateStore(dynamodb.Table(f"{self.stack_name}-environments"))
        state = store.get(pipeline, environment)
        if not store.unfreeze(pipeline, environment, by=by, at=int(time.time())):
            raise ControlError(f"{pipeline} {environment} is not frozen")
        return {"pipeline": pipeline, "environment": environment, "unfrozen": True, "was": state.reason}


@dataclass(frozen=True)
class StateEvent:
    kind: str  # "entered", "failed", "succeeded", ...
    state: str | None
    detail: str


def follow(
    sfn: Any,
    execution_arn: str,
    *,
    poll_seconds: float = 0.25,
    timeout_seconds: float = 300,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[StateEvent]:
    """Yield each state the execution enters, then its end; stops at the first terminal status."""
    seen = 0
    deadline = time.monotonic() + timeout_seconds
    while True:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        for event in events[seen:]:
            kind = event["type"]
            if kind.endswith("StateEntered"):
                yield StateEvent("entered", event["stateEnteredEventDetails"]["name"], "")
            elif kind in ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut"):
                details: dict[str, Any] = next(
                    (v for k, v in event.items() if k.endswith("EventDetails")), {}
                )
                yield StateEvent(
                    "task-failed", None, f"{details.get('error', '')}: {details.get('cause', '')}"
                )
        seen = len(events)
        if status in TERMINAL:
            yield StateEvent(status.lower(), None, status)
            return
        if time.monotonic() > deadline:
            raise ControlError(f"{execution_arn} still {status} after {timeout_seconds:.0f}s")
        sleep(poll_seconds)


def serving(lambda_client: Any, config: PipelineConfig, environment: str) -> dict[str, dict[str, str]]:
    """alias -> version -> CodeSha256 for each function of an environment."""
    target = config.environments.preprod if environment == "preprod" else config.environments.prod
    result = {}
    for key, function in sorted(target.functions.items()):
        alias = lambda_client.get_alias(FunctionName=function, Name=target.alias)
        version = alias["FunctionVersion"]
        code = lambda_client.get_function_configuration(FunctionName=function, Qualifier=version)[
            "CodeSha256"
        ]
        result[key] = {
            "function": function,
            "alias": target.alias,
            "version": str(version),
            "code_sha256": code,
        }
    return result
