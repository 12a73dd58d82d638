"""Operator actions against a control plane, on AWS or local: start a promotion, follow it, read its state."""

from __future__ import annotations

import getpass
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
from promotion.pipeline.artifacts import manifest_key

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class ControlError(Exception):
    """An operator-facing failure: printed as one line, exit status 2."""


def stated_operator() -> str:
    """Who this machine says runs the command, for the execution input's ``requested_by`` and a stop's
    cause: a name the control plane shows as a claim (the caller AWS saw is in CloudTrail). A container
    with no user name for its uid still gets a value rather than a traceback."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class Attempt:
    number: int
    name: str
    arn: str
    status: str


@dataclass(frozen=True)
class ControlPlane:
    """How to reach one deployed (or local) control plane."""

    stack_name: str
    sfn: Any
    ssm: Any
    # DynamoDB (a boto3 resource) for the ledger and environment state; optional for start/watch.
    dynamodb: Any = None
    # S3, to check that a commit's build is published before starting its promotion; optional.
    s3: Any = None
    # Where notes for the operator go (not results: those are returned).
    say: Callable[[str], None] = lambda _message: None
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

    def attempts(self, state_machine_arn: str, pipeline: str, sha: str) -> list[Attempt]:
        """The commit's executions of this pipeline, by attempt number."""
        prefix = execution_name_prefix(pipeline, sha)
        found = []
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
            for execution in page["executions"]:
                parsed = parse_execution_name(execution["name"])
                if parsed is not None and execution["name"].startswith(prefix):
                    found.append(
                        Attempt(
                            number=parsed.attempt,
                            name=str(execution["name"]),
                            arn=str(execution["executionArn"]),
                            status=str(execution["status"]),
                        )
                    )
        return sorted(found, key=lambda attempt: attempt.number)

    def refuse_if_unpublished(self, config: PipelineConfig, sha: str) -> None:
        """Refuse a commit whose manifest is not in the artifact bucket, instead of letting the promotion
        wait ``artifacts.wait_seconds`` for a build that may never come. Without read access to the bucket,
        say what will happen instead."""
        if self.s3 is None:
            return
        key = manifest_key(config.artifacts, config.repo, sha)
        where = f"s3://{config.artifacts.bucket}/{key}"
        try:
            self.s3.head_object(Bucket=config.artifacts.bucket, Key=key)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
                raise ControlError(
                    f"no build of {sha[:12]} is published ({where} not found): publish it first "
                    "(promote publish, or CI), or pass --wait-for-build to let the promotion wait "
                    f"up to {config.artifacts.wait_seconds}s for it"
                ) from None
            self.say(
                f"could not check {where} ({code}); if the build is not published, the promotion "
                f"waits up to {config.artifacts.wait_seconds}s for it"
            )

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
        supersede: bool = False,
        wait_for_build: bool = False,
    ) -> dict[str, Any]:
        """Start attempt ``attempt`` (default: the next) of ``sha``'s promotion.

        Refused, with the reason: an attempt that exists (Step Functions would hand back the running one
        as if it were new); the next attempt while an earlier one still runs, unless ``supersede``; a
        commit without a published build, unless ``wait_for_build``."""
        config = self.pipeline(pipeline)
        self.refuse_if_frozen(config.name, target)
        arn = self.state_machine_arn()
        earlier = self.attempts(arn, config.name, sha)
        if attempt is None:
            running = [a for a in earlier if a.status == "RUNNING"]
            if running and not supersede:
                raise ControlError(
                    f"attempt {running[-1].number} of {sha[:12]} is still running ({running[-1].arn}): "
                    "follow it with 'promote watch', stop it with 'promote cancel', or pass --supersede "
                    f"to start attempt {earlier[-1].number + 1}, which takes over from it"
                )
            # An explicit start by an operator is a new attempt: never a redelivery of an earlier one.
            attempt = (earlier[-1].number + 1) if earlier else 1
        else:
            existing = next((a for a in earlier if a.number == attempt), None)
            if existing is not None:
                raise ControlError(
                    f"attempt {attempt} of {sha[:12]} already exists ({existing.name}, {existing.status}): "
                    "leave out --attempt to start the next one"
                )
        if wait_for_build:
            self.say(
                f"the promotion waits up to {config.artifacts.wait_seconds}s for the build of {sha[:12]}"
            )
        else:
            self.refuse_if_unpublished(config, sha)
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
                        # The deployment's last canary analysis, with its numbers (None when off).
                        "canary_analysis": entry.canary_analysis,
                    }
                    for entry in ledger.history(config.name, environment, limit=history)
                ],
            }
        return report

    def redeploy(
        self,
        pipeline: str,
        environment: Literal["preprod", "prod"],
        sha: str | None,
        *,
        requested_by: str,
    ) -> dict[str, Any]:
        """Promote ``sha`` to ``environment`` again through the whole state machine (preprod, checks,
        approval); without ``sha``, the environment's last known-good build."""
        if sha is not None:
            return self.start(
                pipeline,
                sha,
                requested_by=requested_by,
                mode="redeploy",
                target=environment,
                source="operator",
            )
        self.pipeline(pipeline)  # unknown pipeline: say so, not "no known-good deployment"
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

    def require_running(self, execution_arn: str) -> None:
        """Refuse an execution that does not exist or has ended."""
        try:
            status = self.sfn.describe_execution(executionArn=execution_arn)["status"]
        except ClientError as error:
            raise ControlError(f"no execution {execution_arn}") from error
        if status != "RUNNING":
            raise ControlError(f"{execution_arn} is already {status}")

    def cancel(self, execution_arn: str, *, reason: str, requested_by: str) -> dict[str, Any]:
        self.require_running(execution_arn)
        self.sfn.stop_execution(
            executionArn=execution_arn, error="Cancelled", cause=f"{reason} (by {requested_by})"[:32_768]
        )
        return {"execution_arn": execution_arn, "status": "ABORTED", "cleanup": "by the EventBridge rule"}


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
