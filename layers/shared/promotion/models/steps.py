"""What each state passes its Lambda (the ASL's ``Parameters``), parsed by the handlers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from promotion.models.config import Environment
from promotion.models.execution import (
    ApprovalPath,
    CanaryAnalysis,
    CheckReport,
    EnvironmentBaseline,
    EnvironmentDeployment,
    ExecutionInput,
    PinnedArtifact,
    RollbackResult,
)
from promotion.pipeline.notify import Failure


class _Request(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class LoadPipelineRequest(_Request):
    input: ExecutionInput
    # $$.Execution.Name: the logs' correlation id (promotion.correlation).
    execution_name: str = ""


class FetchArtifactRequest(_Request):
    pipeline: str
    sha: str
    # When this state was entered ($$.State.EnteredTime, ISO 8601); Retry attempts keep it, so it
    # measures how long the promotion has waited for CI to publish the build.
    entered_at: str | None = None
    # $$.Execution.Name: the logs' correlation id (promotion.correlation).
    execution_name: str = ""


class DeployRequest(_Request):
    pipeline: str
    environment: Environment
    artifact: PinnedArtifact
    # For prod: what preprod runs, which prod must equal byte for byte.
    must_match: EnvironmentDeployment | None = None
    # From "Check and lock": the deployment's ledger entry, which records the new versions.
    baseline: EnvironmentBaseline | None = None
    # $$.Execution.Name: the session name of the environment's deployer role (CloudTrail names it).
    execution_name: str = Field(min_length=1, max_length=80)


class PrepareRequest(_Request):
    pipeline: str
    environment: Environment
    execution_arn: str
    execution_name: str
    sha: str
    mode: Literal["promote", "rollback", "redeploy"] = "promote"
    artifact: PinnedArtifact
    # $$.State.EnteredTime: stable across retries, so a retried step writes the same ledger entry.
    entered_at: str


class WindowState(BaseModel):
    """What "Check deployment window" needs of the execution's data (``$``): the run's mode and the
    previous check's answer (absent at the first check)."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    pipeline: str
    sha: str
    settings: RunSettings
    # The previous check's answer: prod's ($.window) or preprod's ($.preprod_window).
    window: dict[str, Any] | None = None
    preprod_window: dict[str, Any] | None = None


class CheckWindowRequest(_Request):
    environment: Environment = "prod"
    execution_arn: str
    execution_name: str
    # $$.State.EnteredTime: "now" for this check, the same on a Retry.
    checked_at: str
    promotion: WindowState


class ShiftTrafficRequest(_Request):
    pipeline: str
    deployment: EnvironmentDeployment
    # $$.Execution.Name: the session name of the environment's deployer role (CloudTrail names it).
    execution_name: str = Field(min_length=1, max_length=80)


class FinishRequest(_Request):
    outcome: Literal["succeeded", "failed", "rollback_failed"]
    execution_arn: str
    promotion: PromotionState


class ReleaseLockRequest(_Request):
    pipeline: str
    environment: Environment
    execution_arn: str


class RunChecksRequest(_Request):
    pipeline: str
    suite: Literal["integration", "canary"]
    # For the canary: the new prod versions, which the checks call directly. For the integration tests:
    # preprod's new versions (the service's own test Lambda and hook are invoked at theirs).
    deployment: EnvironmentDeployment | None = None
    # $.sha: the commit under test, for the service's own test Lambda and hook.
    sha: str | None = Field(default=None, max_length=64)
    # $$.Execution.Name: the session name of the environment's deployer role (CloudTrail names it).
    execution_name: str = Field(min_length=1, max_length=80)


class DecideApprovalPathRequest(_Request):
    pipeline: str
    sha: str
    # $.settings.mode: only "promote" is held to never-backwards (as in "Check and lock prod").
    mode: Literal["promote", "rollback", "redeploy"] = "promote"
    # $$.Execution.Name: the session name of the environment's deployer role (CloudTrail names it).
    execution_name: str = Field(min_length=1, max_length=80)


class RequestApprovalRequest(_Request):
    task_token: str = Field(min_length=1, max_length=2048)
    execution_arn: str
    execution_name: str
    pipeline: str
    artifact: PinnedArtifact
    integration: CheckReport
    # The execution's input as given to StartExecution (who asked, the commit as far as it is known).
    execution_input: ExecutionInput
    # Why no bypass ("Decide approval path"), shown to the approvers.
    approval_path: ApprovalPath | None = None


class CheckAlarmsRequest(_Request):
    pipeline: str
    environment: Environment = "prod"
    elapsed_seconds: int = Field(default=0, ge=0)
    seen_data: list[str] = Field(default_factory=list)
    # "bake": the timed bake; "gate": one look during a traffic shift (ALARM fails, nothing else counts).
    mode: Literal["bake", "gate"] = "bake"
    # $.prod: the versions the canary analysis compares (new against previous), when it is on.
    deployment: EnvironmentDeployment | None = None
    # $.prod_baseline.ledger_key: the ledger entry the analysis is recorded on.
    ledger_key: str | None = None
    # $$.Execution.Name: the session name of the environment's deployer role (CloudTrail names it).
    execution_name: str = Field(min_length=1, max_length=80)


class EnvironmentRequest(_Request):
    """For the steps that act on one environment as a whole (baseline, freeze)."""

    pipeline: str
    environment: Environment
    execution_arn: str = ""
    reason: str = ""


class RollbackRequest(_Request):
    pipeline: str
    baseline: EnvironmentBaseline
    # $.failure: why the environment is rolled back, kept in its ledger entry (failed checks by name).
    failure: Failure | None = None
    execution_arn: str = ""
    # $$.Execution.Name: the session name of the environment's deployer role (CloudTrail names it).
    execution_name: str = Field(min_length=1, max_length=80)


class ExpireApprovalRequest(_Request):
    execution_arn: str
    pipeline: str
    execution_name: str = ""
    # Set when the wait ended with an error other than the timeout ("Close approval request").
    failure: Failure | None = None


class VerifyApprovalRequest(_Request):
    pipeline: str
    execution_arn: str
    execution_name: str
    # The output that resumed "Wait for approval": a claim, whatever it says (any JSON value).
    approval: Any = None


class RunSettings(BaseModel):
    """``$.settings`` as the notify states need it: what kind of run this is, and where it ends."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    mode: Literal["promote", "rollback", "redeploy"] = "promote"
    target: Literal["preprod", "prod"] = "prod"


class PromotionState(BaseModel):
    """The execution's data as the notify states see it (``$``): whatever the promotion got to."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    pipeline: str
    sha: str
    # The pinned build ("Fetch artifact"), read here for its repository only: absent when the build was never
    # found.
    artifact: dict[str, Any] | None = None
    # Absent when the pipeline config never loaded.
    settings: RunSettings = RunSettings()
    failure: Failure | None = None
    approval: dict[str, Any] | None = None
    preprod: EnvironmentDeployment | None = None
    prod: EnvironmentDeployment | None = None
    preprod_baseline: EnvironmentBaseline | None = None
    prod_baseline: EnvironmentBaseline | None = None
    rollback: RollbackResult | None = None
    rollback_error: Failure | None = None
    # The last poll of the bake ("Check prod alarms"; only "Start bake"'s two fields before the first),
    # with the canary analysis when it is on.
    bake: dict[str, Any] | None = None

    def canary_analysis(self) -> CanaryAnalysis | None:
        analysis = (self.bake or {}).get("analysis")
        return CanaryAnalysis.model_validate(analysis) if analysis else None

    # "Freeze preprod/prod" failed after a failed rollback (its Catch's ResultPath).
    freeze_error: Failure | None = None

    def failed_environment_baseline(self) -> EnvironmentBaseline | None:
        # Preprod is only ever rolled back before prod's baseline is recorded, so a recorded prod
        # baseline means the rollback that failed was prod's.
        return self.prod_baseline or self.preprod_baseline


class NotifyRequest(_Request):
    outcome: Literal["promoted", "failed", "rollback_failed"]
    execution_arn: str
    execution_name: str
    promotion: PromotionState
