"""The bypass policy: only a proof from the prover skips the human approval; anything else fails closed."""

from __future__ import annotations

import pytest

from promotion.approvals.bypass_policy import BypassProof, NoProver, decide_approval_path
from promotion.models.config import PipelineConfig
from promotion.models.execution import CommitIdentity, GitHubAccount
from tests.support.pipelines import github_push_sha, sample_config

SHA = github_push_sha()


class RaisingProver:
    def __init__(self, error: Exception) -> None:
        self._error = error

    def prove(self, config: PipelineConfig, sha: str) -> BypassProof:
        raise self._error


class ProvingProver:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def prove(self, config: PipelineConfig, sha: str) -> BypassProof:
        self.asked.append((config.repo, sha))
        return BypassProof(True, f"{sha[:12]} is a Dependabot update verified with GitHub")


class RefusingProver:
    def prove(self, config: PipelineConfig, sha: str) -> BypassProof:
        return BypassProof(False, "commit author is not dependabot[bot]")


def test_no_prover_means_approval_is_required() -> None:
    path = decide_approval_path(NoProver(), sample_config(), SHA)
    assert path.decision == "approval_required"
    assert path.reason.startswith("no verified evidence source for a Dependabot bypass is configured; ")
    # and with no source of identity, the approvers are told the author is not established
    assert path.reason.endswith("commit author not established: no source of commit identity is configured")


@pytest.mark.parametrize(
    "error", [RuntimeError("GitHub API timed out"), KeyError("user"), ValueError("bad JSON")]
)
def test_a_prover_that_raises_means_approval_is_required(error: Exception) -> None:
    path = decide_approval_path(RaisingProver(error), sample_config(), SHA)
    assert path.decision == "approval_required"
    assert path.reason.startswith(f"bypass not proven: {type(error).__name__}")


def test_a_prover_that_refuses_means_approval_is_required_with_its_reason() -> None:
    path = decide_approval_path(RefusingProver(), sample_config(), SHA, AnsweringIdentities())
    assert (path.decision, path.reason) == ("approval_required", "commit author is not dependabot[bot]")


def test_a_prover_that_proves_means_bypass() -> None:
    prover = ProvingProver()
    path = decide_approval_path(prover, sample_config(), SHA)
    assert path.decision == "bypass"
    assert path.reason == f"{SHA[:12]} is a Dependabot update verified with GitHub"
    assert prover.asked == [("example-org/sentiment-service", SHA)]


class AnsweringIdentities:
    def identify(self, config: PipelineConfig, sha: str) -> CommitIdentity:
        return CommitIdentity(
            author=GitHubAccount(login="dev", id=501, type="User"),
            author_email="dev@example.com",
            signature_verified=True,
        )


class BrokenIdentities:
    def identify(self, config: PipelineConfig, sha: str) -> CommitIdentity:
        raise RuntimeError("boom")


def test_the_commit_identity_is_part_of_the_decision() -> None:
    path = decide_approval_path(RefusingProver(), sample_config(), SHA, AnsweringIdentities())
    assert path.commit is not None
    assert path.commit.author == GitHubAccount(login="dev", id=501, type="User")
    assert "not established" not in path.reason


def test_an_identity_source_that_fails_establishes_nothing_and_fails_nothing() -> None:
    path = decide_approval_path(RefusingProver(), sample_config(), SHA, BrokenIdentities())
    assert path.decision == "approval_required"
    assert path.commit is not None
    assert path.commit.unavailable == "commit identity could not be read (RuntimeError)"
