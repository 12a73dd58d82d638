"""The bypass policy: which changes may skip the human approval, and who made the commit.

Only a change proven to be a Dependabot dependency update may bypass, and the proof is gathered by this
task from GitHub itself, never taken from the execution input. Until a prover is configured nothing is
proven, so every change needs approval (fail closed).

The same task establishes the commit's author and committer through GitHub's API (``promotion.identity``)
and returns them in its result, ``$.approval_path.commit``: a task result, which nothing in the execution
input can set. The approval request's two-person rule relies on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from promotion.models.config import PipelineConfig
from promotion.models.execution import ApprovalPath, CommitIdentity


@dataclass(frozen=True)
class BypassProof:
    proven: bool
    reason: str


class DependabotProver(Protocol):
    def prove(self, config: PipelineConfig, sha: str) -> BypassProof: ...


class NoProver:
    """No source of proof is configured: nothing can be proven."""

    def prove(self, config: PipelineConfig, sha: str) -> BypassProof:
        return BypassProof(False, "no verified evidence source for a Dependabot bypass is configured")


class CommitIdentitySource(Protocol):
    def identify(self, config: PipelineConfig, sha: str) -> CommitIdentity: ...


class NoIdentitySource:
    """No way to ask GitHub is configured: nobody's identity is established."""

    def identify(self, config: PipelineConfig, sha: str) -> CommitIdentity:
        return CommitIdentity(unavailable="no source of commit identity is configured")


def _identify(identities: CommitIdentitySource, config: PipelineConfig, sha: str) -> CommitIdentity:
    try:
        return identities.identify(config, sha)
    except Exception as error:  # not knowing the author is "unverified", never a reason to fail
        return CommitIdentity(unavailable=f"commit identity could not be read ({type(error).__name__})")


def decide_approval_path(
    prover: DependabotProver,
    config: PipelineConfig,
    sha: str,
    identities: CommitIdentitySource | None = None,
) -> ApprovalPath:
    identity = _identify(identities or NoIdentitySource(), config, sha)
    try:
        proof = prover.prove(config, sha)
    except Exception as error:  # Any failure to prove is a refusal, never a bypass.
        proof = BypassProof(False, f"bypass not proven: {type(error).__name__}")
    if proof.proven:
        return ApprovalPath(decision="bypass", reason=proof.reason, commit=identity)
    reason = proof.reason
    if identity.unavailable is not None:
        reason = f"{reason}; commit author not established: {identity.unavailable}"
    return ApprovalPath(decision="approval_required", reason=reason[:2000], commit=identity)
