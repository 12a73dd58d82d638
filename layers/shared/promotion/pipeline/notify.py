"""Telling people how a promotion ended: email to the pipeline's recipients and an event on the SNS topic.

A failed rollback is the one critical outcome: its message carries the exact commands that put every
function back on its baseline version and then clear the freeze.
"""

from __future__ import annotations

import json
import shlex
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from promotion.adapters.messaging import EventPublisher, Mailer
from promotion.console import execution_console_url
from promotion.models.approver_input import input_text
from promotion.models.config import PipelineConfig
from promotion.models.execution import CanaryAnalysis, EnvironmentBaseline, RollbackResult


class Failure(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    Error: str
    Cause: str = ""


OutcomeKind = Literal["promoted", "failed", "rollback_failed", "cancelled"]


class Outcome(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    outcome: OutcomeKind
    pipeline: str
    sha: str
    execution_name: str
    execution_arn: str
    # An operator's rollback or redeploy, or a promotion; the environment the run ends in.
    mode: Literal["promote", "rollback", "redeploy"] = "promote"
    target: Literal["preprod", "prod"] = "prod"
    failure: Failure | None = None
    approved_by: str | None = None
    # The approver input the approval carried (approval.inputs).
    approval_inputs: dict[str, str | int | bool] | None = None
    # What the target environment runs after a success (prod_versions: prod's, for a prod target).
    prod_versions: dict[str, str] | None = None
    preprod_versions: dict[str, str] | None = None
    rollback: RollbackResult | None = None
    # The canary analysis that let the promotion through (a failed one is in the failure's cause).
    canary_analysis: CanaryAnalysis | None = None
    baseline: EnvironmentBaseline | None = None
    rollback_error: Failure | None = None
    # The freeze after a failed rollback did not confirm (it failed, or timed out after writing): the
    # environment may not be frozen.
    freeze_error: Failure | None = None

    def subject(self) -> str:
        short = f"{self.pipeline}@{self.sha[:12]}"
        error = self.failure.Error if self.failure else "unknown"
        if self.outcome == "promoted":
            if self.mode == "rollback":
                return f"Rolled back {self.target} to {short} (operator rollback)"
            if self.mode == "redeploy":
                return f"Redeployed {short} to {self.target} (operator redeploy)"
            return f"Promoted {short} to prod"
        if self.outcome == "rollback_failed":
            environment = self.baseline.environment if self.baseline else "the environment"
            frozen = "may NOT be frozen" if self.freeze_error else "is frozen"
            return f"CRITICAL: rollback of {environment} failed for {short}; {environment} {frozen}"
        if error == "ApprovalNotVerified":
            return f"CRITICAL: forged approval of {short} blocked; nothing went to prod"
        if self.outcome == "cancelled":
            return f"Promotion of {short} stopped: {error}"
        rolled = f"; {self.rollback.environment} rolled back" if self.rollback else ""
        return f"Promotion of {short} failed: {error}{rolled}"

    def text(self, console_url: str | None = None) -> str:
        lines = [self.subject(), "", f"Execution: {self.execution_name}", f"ARN:       {self.execution_arn}"]
        if console_url:
            lines.append(f"Console:   {console_url}")
        if self.approved_by and self.failure and self.failure.Error == "ApprovalNotVerified":
            # What the forged completion claimed: nobody the control plane verified approved anything.
            lines.append(f"Claimed approver (NOT verified): {self.approved_by}")
        elif self.approved_by:
            lines.append(f"Approved by: {self.approved_by}")
        if self.approval_inputs:
            lines.append(f"Approver input: {input_text(self.approval_inputs)}")
        for label, versions in (("Preprod", self.preprod_versions), ("Prod", self.prod_versions)):
            if versions:
                lines.append(
                    f"{label} now runs: " + ", ".join(f"{k} v{v}" for k, v in sorted(versions.items()))
                )
        if self.canary_analysis:
            lines.append(
                "Canary analysis: " + self.canary_analysis.summary().removeprefix("canary analysis ")
            )
        if self.failure:
            lines += ["", f"Error: {self.failure.Error}", f"Cause: {cause_text(self.failure.Cause)}"]
        if self.failure and self.failure.Error == "ApprovalNotVerified":
            lines += [
                "",
                "Someone completed this promotion's approval task directly (a task-token holder calling",
                "SendTaskSuccess or SendTaskFailure), not through the control plane's approval rules.",
                "The approval audit log has a forged_completion event; find out who from CloudTrail",
                "(states:SendTaskSuccess / SendTaskFailure calls at that time), then start the promotion",
                "again.",
            ]
        if self.rollback:
            restored = ", ".join(f"{k} v{v}" for k, v in sorted(self.rollback.restored.items()))
            lines += ["", f"{self.rollback.environment} is back on the versions it ran before: {restored}"]
        if self.outcome == "rollback_failed":
            if self.rollback_error:
                lines += [
                    "",
                    f"Rollback error: {cause_text(self.rollback_error.Cause) or self.rollback_error.Error}",
                ]
            if self.freeze_error:
                lines += [
                    f"Freeze error: {cause_text(self.freeze_error.Cause) or self.freeze_error.Error}",
                    "If it is not frozen, nothing stops a new promotion from deploying it: freeze it first "
                    "(the first command; harmless if it is frozen already).",
                ]
            lines += ["", "Recover by hand, then clear the freeze:", *recovery_commands(self)]
        return "\n".join(lines)


def recovery_commands(outcome: Outcome) -> list[str]:
    if outcome.baseline is None:
        return ["(no baseline was recorded: inspect each function's alias before unfreezing)"]
    # When the automatic freeze failed, the operator freezes by hand before touching the aliases.
    freeze = (
        [
            f"promote freeze --pipeline {outcome.pipeline} --environment {outcome.baseline.environment} "
            f"--reason {shlex.quote('rollback failed; recovering by hand')}"
        ]
        if outcome.freeze_error
        else []
    )
    commands = freeze + [
        "aws lambda update-alias "
        f"--function-name {shlex.quote(function.function_name)} --name {shlex.quote(function.alias)} "
        f"--function-version {function.version} --routing-config 'AdditionalVersionWeights={{}}'"
        for function in outcome.baseline.functions
    ]
    commands.append(
        f"promote unfreeze --pipeline {outcome.pipeline} --environment {outcome.baseline.environment}"
    )
    return commands


def cause_text(cause: str) -> str:
    """A Lambda error's Cause is JSON (errorType, errorMessage, stackTrace): show the message alone."""
    try:
        parsed: Any = json.loads(cause)
    except (ValueError, TypeError):
        return cause
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])
    return cause


def notify_outcome(
    mailer: Mailer,
    publisher: EventPublisher,
    config: PipelineConfig,
    outcome: Outcome,
    *,
    console_base: str | None = None,
) -> None:
    """``console_base``: the control plane's own console, when it has one (``promotion.console``)."""
    console_url = execution_console_url(outcome.execution_arn, console_base)
    event = outcome.model_dump(mode="json") | {
        "repo": config.repo,
        "subject": outcome.subject(),
        "console_url": console_url,
    }
    if outcome.failure:
        event["failure"]["Cause"] = cause_text(outcome.failure.Cause)
    if outcome.outcome == "rollback_failed":
        event["recovery_commands"] = recovery_commands(outcome)
    publisher.publish(subject=outcome.subject(), event=event)
    if config.notifications.emails:
        mailer.send(
            to=list(config.notifications.emails), subject=outcome.subject(), text=outcome.text(console_url)
        )
