"""The execution input and the results each state adds to the execution's data.

Every step writes its result under its own key (``$.artifact``, ``$.preprod``, ...), so the execution's
data reads as the promotion's record in the console. docs/contracts.md shows a full example.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promotion.errors import InvalidExecutionInput
from promotion.models.config import Environment
from promotion.models.validation import describe_validation_error
from promotion.naming import PIPELINE_NAME_PATTERN, SHA_PATTERN


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Fact(_Model):
    """One value and where it came from.

    ``verified``: it was inside a webhook body whose signature checked out, so GitHub said it. ``claimed``:
    nothing vouches for it (a header the signature does not cover, an operator's word).
    """

    value: str | int
    provenance: Literal["verified", "claimed"]


class GitHubFacts(_Model):
    """What the GitHub delivery that started this promotion said, fact by fact."""

    event: str = Field(max_length=100)
    repo: Fact
    sha: Fact
    ref: Fact | None = None
    pull_request: Fact | None = None
    delivery_id: Fact


class Trigger(_Model):
    """Who or what asked for this promotion."""

    source: Literal["cli", "webhook", "operator"]
    requested_by: str = Field(min_length=1, max_length=200)
    # Set when a GitHub webhook started the promotion.
    github: GitHubFacts | None = None

    def requester_text(self) -> str:
        """Who asked, saying whose word it is. The webhook wrote ``requested_by`` from a delivery whose
        signature it checked (GitHub's word); any other value is whatever the caller of StartExecution
        wrote (CloudTrail has who that really was), so it is shown as a claim."""
        if self.source == "webhook":
            return self.requested_by
        return f"{self.requested_by} (stated by whoever started the execution; not verified)"


class CommitInfo(_Model):
    """What is known of the commit being promoted.

    ``verified`` is true only when the values came from a signature-checked webhook or from GitHub's API;
    anything else is a claim and must not drive a security decision.
    """

    message: str | None = Field(default=None, max_length=10_000)
    author_login: str | None = None
    author_email: str | None = None
    verified: bool = False


class ExecutionInput(_Model):
    """What StartExecution receives. Nothing in it grants a bypass or picks targets: config does that."""

    pipeline: str = Field(pattern=PIPELINE_NAME_PATTERN)
    sha: str = Field(pattern=SHA_PATTERN)
    attempt: int = Field(default=1, ge=1, le=9999)
    trigger: Trigger
    commit: CommitInfo | None = None
    # "promote": the normal path, never backwards. "rollback" / "redeploy": an operator's explicit request
    # to run an older build again (promote redeploy without / with a SHA); still locked, audited, approved.
    # (promote rollback, the emergency rollback, starts no execution: pipeline.emergency_rollback.)
    mode: Literal["promote", "rollback", "redeploy"] = "promote"
    # How far this execution goes: "prod" (the whole promotion) or "preprod" (stops after its checks).
    target: Literal["preprod", "prod"] = "prod"
    # The webhook's HMAC over everything above (promotion.attestation); without it, "verified" facts
    # count as claims.
    attestation: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


def parse_execution_input(raw: dict[str, Any]) -> ExecutionInput:
    try:
        return ExecutionInput.model_validate(raw)
    except ValidationError as error:
        raise InvalidExecutionInput(describe_validation_error(error)) from error


class WindowsHeld(_Model):
    """Which environments the pipeline's deployment windows hold: a Choice skips the window check (a
    Lambda invocation and its Choice) of an environment they do not hold."""

    preprod: bool = False
    prod: bool = False


class PipelineSettings(_Model):
    """The few config values the state machine itself needs (Wait and timeout paths, Choices)."""

    pipeline: str
    repo: str
    approval_timeout_seconds: int
    bake_seconds: int
    poll_seconds: int
    mode: str = "promote"
    target: str = "prod"
    windows: WindowsHeld = WindowsHeld()


class PinnedArtifact(_Model):
    """One build, pinned to exact S3 object versions and checked against its manifest."""

    repo: str
    sha: str
    bucket: str
    key: str
    version_id: str
    sha256: str
    size: int
    manifest_key: str
    manifest_version_id: str


class FunctionDeployment(_Model):
    key: str
    function_name: str
    alias: str
    previous_version: str
    version: str
    code_sha256: str


class EnvironmentDeployment(_Model):
    environment: Environment
    functions: list[FunctionDeployment]

    def by_key(self) -> dict[str, FunctionDeployment]:
        return {function.key: function for function in self.functions}


class BaselineFunction(_Model):
    key: str
    function_name: str
    alias: str
    version: str
    code_sha256: str


class EnvironmentBaseline(_Model):
    """What an environment served right before this promotion deployed it: the rollback target."""

    environment: Environment
    functions: list[BaselineFunction]
    # The commit the environment ran (from the ledger; None for a bootstrap version) and this
    # deployment's ledger entry, which the rollback and the outcome update.
    previous_sha: str | None = None
    ledger_key: str | None = None


class RollbackResult(_Model):
    environment: Environment
    # key -> version each function's alias points at after the rollback
    restored: dict[str, str]
    # key -> version the rollback moved away from (absent when the alias was already on the baseline)
    moved_from: dict[str, str]


class CheckResult(_Model):
    name: str
    passed: bool
    status: int | None
    duration_ms: int
    detail: str
    # Who judged it: one of the pipeline's HTTP checks, a case of the service's own test Lambda, or a case
    # of its pre-traffic hook (promotion.pipeline.service_tests).
    source: Literal["http", "test_function", "pre_traffic_hook"] = "http"


class CheckReport(_Model):
    suite: Literal["integration", "canary"]
    environment: Environment
    target: str
    passed: bool
    results: list[CheckResult]

    def summary(self) -> str:
        failed = [result for result in self.results if not result.passed]
        if not failed:
            return f"{len(self.results)}/{len(self.results)} {self.suite} checks passed on {self.target}"
        details = "; ".join(f"{result.name}: {result.detail}" for result in failed)
        return f"{len(failed)}/{len(self.results)} {self.suite} checks failed on {self.target}: {details}"

    def joined(self, results: list[CheckResult]) -> CheckReport:
        """This report with more results (the service's own test cases) judged with it."""
        merged = [*self.results, *results]
        return self.model_copy(
            update={"results": merged, "passed": self.passed and all(result.passed for result in results)}
        )


class GitHubAccount(_Model):
    """A GitHub account as GitHub's API names it: login, numeric id and type are set by GitHub, unlike a
    commit's author name and email, which are free text."""

    login: str = Field(max_length=100)
    id: int
    type: str = Field(max_length=40)


class CommitIdentity(_Model):
    """Who made the commit, as GitHub's API answered ``GET /repos/{repo}/commits/{sha}`` in "Decide approval
    path" (a task result: nothing in the execution input can set it).

    ``author`` / ``committer`` are the accounts GitHub links the commit's emails to (None: no account, or
    GitHub could not be asked). GitHub links by email, so an account here says whose address it is, not
    who pushed; ``signature_verified`` is GitHub's check of the commit's signature. ``unavailable`` says
    why nothing could be asked (no token, GitHub down): then nothing here is established.
    """

    author: GitHubAccount | None = None
    committer: GitHubAccount | None = None
    author_email: str | None = Field(default=None, max_length=320)
    committer_email: str | None = Field(default=None, max_length=320)
    signature_verified: bool = False
    message: str | None = Field(default=None, max_length=10_000)
    unavailable: str | None = Field(default=None, max_length=500)


class ApprovalPath(_Model):
    decision: Literal["approval_required", "bypass"]
    reason: str
    # The commit's author and committer per GitHub's API; the approval request's two-person rule uses it.
    commit: CommitIdentity | None = None


class ApprovalOutcome(_Model):
    """What SendTaskSuccess hands back to the state machine."""

    approval_id: str
    # Every distinct approver, comma-separated, when the pipeline needs more than one.
    approved_by: str
    channel: Literal["email", "slack", "operator"]
    decided_at: str
    approvers: list[str] = Field(default_factory=list)
    # The control plane's KMS HMAC over the decision (promotion.decision_proof); "Verify approval" checks it.
    decision_mac: str


class VersionMetrics(_Model):
    """One version's metrics for invocations through the alias, over the analysis window."""

    version: str
    invocations: int
    errors: int
    throttles: int
    # errors / invocations (None without invocations); p99 Duration in ms (None without datapoints).
    error_rate: float | None
    p99_ms: float | None


class FunctionAnalysis(_Model):
    key: str
    function_name: str
    alias: str
    new: VersionMetrics
    previous: VersionMetrics
    verdict: Literal["pass", "fail", "inconclusive"]
    reason: str


class CanaryAnalysis(_Model):
    """The new versions judged against the previous ones on Lambda's per-version metrics."""

    verdict: Literal["pass", "fail", "inconclusive"]
    window_seconds: int
    functions: list[FunctionAnalysis]
    # With inconclusive=hold, a bake kept going past its duration awaiting a verdict.
    held: bool = False

    def summary(self) -> str:
        lines = [f"canary analysis {self.verdict}"]
        for f in self.functions:
            lines.append(
                f"{f.key} v{f.new.version} vs v{f.previous.version}: {f.verdict} ({f.reason}); "
                f"invocations {f.new.invocations}/{f.previous.invocations}, "
                f"error rate {_rate(f.new.error_rate)}/{_rate(f.previous.error_rate)}, "
                f"p99 {_ms(f.new.p99_ms)}/{_ms(f.previous.p99_ms)}"
            )
        return "; ".join(lines)


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


class BakeProgress(_Model):
    elapsed_seconds: int
    duration_seconds: int
    poll_seconds: int
    wait_seconds: int
    done: bool
    alarms: dict[str, str]
    # Alarms that have reported OK or ALARM at least once during this bake.
    seen_data: list[str] = Field(default_factory=list)
    # The pipeline's canary analysis at this check (None when it is off).
    analysis: CanaryAnalysis | None = None
