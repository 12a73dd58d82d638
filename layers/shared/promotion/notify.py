"""Telling people how a promotion ended: email to the pipeline's recipients and an event on the SNS topic."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from promotion.adapters.messaging import EventPublisher, Mailer
from promotion.models.config import PipelineConfig


class Failure(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    Error: str
    Cause: str = ""


class Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: Literal["promoted", "failed"]
    pipeline: str
    sha: str
    execution_name: str
    execution_arn: str
    failure: Failure | None = None
    approved_by: str | None = None
    prod_versions: dict[str, str] | None = None

    def subject(self) -> str:
        if self.outcome == "promoted":
            return f"Promoted {self.pipeline}@{self.sha[:12]} to prod"
        error = self.failure.Error if self.failure else "unknown"
        return f"Promotion of {self.pipeline}@{self.sha[:12]} failed: {error}"

    def text(self) -> str:
        lines = [self.subject(), "", f"Execution: {self.execution_name}", f"ARN:       {self.execution_arn}"]
        if self.approved_by:
            lines.append(f"Approved by: {self.approved_by}")
        if self.prod_versions:
            lines.append(
                "Prod now runs: " + ", ".join(f"{k} v{v}" for k, v in sorted(self.prod_versions.items()))
            )
        if self.failure:
            lines += ["", f"Error: {self.failure.Error}", f"Cause: {cause_text(self.failure.Cause)}"]
        return "\n".join(lines)


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
    mailer: Mailer, publisher: EventPublisher, config: PipelineConfig, outcome: Outcome
) -> None:
    event = outcome.model_dump(mode="json") | {"repo": config.repo}
    if outcome.failure:
        event["failure"]["Cause"] = cause_text(outcome.failure.Cause)
    publisher.publish(subject=outcome.subject(), event=event)
    if config.notifications.emails:
        mailer.send(to=list(config.notifications.emails), subject=outcome.subject(), text=outcome.text())
