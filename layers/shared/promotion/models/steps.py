"""What each state passes its Lambda (the ASL's ``Parameters``), parsed by the handlers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from promotion.models.config import Environment
from promotion.models.execution import (
    CheckReport,
    EnvironmentDeployment,
    ExecutionInput,
    PinnedArtifact,
)
from promotion.notify import Failure


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoadPipelineRequest(_Request):
    input: ExecutionInput


class FetchArtifactRequest(_Request):
    pipeline: str
    sha: str


class DeployRequest(_Request):
    pipeline: str
    environment: Environment
    artifact: PinnedArtifact
    # For prod: what preprod runs, which prod must equal byte for byte.
    must_match: EnvironmentDeployment | None = None


class RunChecksRequest(_Request):
    pipeline: str
    suite: Literal["integration", "canary"]
    # For the canary: the new prod versions, which the checks call directly.
    deployment: EnvironmentDeployment | None = None


class DecideApprovalPathRequest(_Request):
    pipeline: str
    sha: str


class RequestApprovalRequest(_Request):
    task_token: str = Field(min_length=1, max_length=2048)
    execution_arn: str
    execution_name: str
    pipeline: str
    artifact: PinnedArtifact
    integration: CheckReport
    # The execution's input as given to StartExecution (who asked, the commit as far as it is known).
    execution_input: ExecutionInput


class CheckAlarmsRequest(_Request):
    pipeline: str
    environment: Environment = "prod"
    elapsed_seconds: int = Field(ge=0)


class NotifyRequest(_Request):
    outcome: Literal["promoted", "failed"]
    execution_arn: str
    execution_name: str
    pipeline: str
    sha: str
    failure: Failure | None = None
    approval: dict[str, str] | None = None
    prod: EnvironmentDeployment | None = None
