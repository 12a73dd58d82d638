"""The bypass policy: which changes may skip the human approval.

Only a change proven to be a Dependabot dependency update may bypass, and the proof is gathered by this
task from GitHub itself, never taken from the execution input. Until a prover is configured nothing is
proven, so every change needs approval (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from promotion.models.config import PipelineConfig
from promotion.models.execution import ApprovalPath


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


def decide_approval_path(prover: DependabotProver, config: PipelineConfig, sha: str) -> ApprovalPath:
    try:
        proof = prover.prove(config, sha)
    except Exception as error:  # Any failure to prove is a refusal, never a bypass.
        return ApprovalPath(decision="approval_required", reason=f"bypass not proven: {type(error).__name__}")
    if proof.proven:
        return ApprovalPath(decision="bypass", reason=proof.reason)
    return ApprovalPath(decision="approval_required", reason=proof.reason)
