"""The Dependabot bypass proof: one proven update, and every spoofing route ending in "approval required".

GitHub is the local stand-in (``promote_cli.local.github_stub``) on 127.0.0.1, answering with the fixture
data each case sets; prod's current commit comes from the versions' descriptions, as the deploy step
writes them.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

from promote_cli.local.github_stub import GitHubStub
from promotion.approvals.bypass_policy import decide_approval_path
from promotion.github.client import GitHubClient, GitHubUser
from promotion.github.dependabot import (
    GitHubDependabotProver,
    LambdaProdCommit,
    Unproven,
    is_dependabot,
    matches_manifest,
)
from promotion.models.config import DEFAULT_DEPENDENCY_MANIFESTS, PipelineConfig
from tests.support.github import (
    DEPENDABOT,
    SAMPLE_REPO,
    compare_commit,
    comparison,
    dependabot_commit,
    new_sha,
    pull_request,
    spoofed_dependabot_commit,
    user,
)
from tests.support.pipelines import sample_config_with_github as sample_config

TOKEN = "ghp_unit_test_token"


class ProdFunctions:
    """A Lambda client holding what get_alias / get_function_configuration answer for prod's functions."""

    def __init__(self, descriptions: dict[str, str]) -> None:
        self.descriptions = descriptions

    def get_alias(self, *, FunctionName: str, Name: str) -> dict[str, Any]:
        return {"FunctionVersion": "7", "Name": Name}

    def get_function_configuration(self, *, FunctionName: str, Qualifier: str) -> dict[str, Any]:
        return {
            "FunctionName": FunctionName,
            "Version": Qualifier,
            "Description": self.descriptions[FunctionName],
        }


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubStub]:
    stub = GitHubStub()
    stub.accept_token(TOKEN)
    stub.start()
    yield stub
    stub.stop()


class Case:
    """One promotion to prove: prod runs ``base``; ``sha`` is the new commit."""

    def __init__(self, github: GitHubStub, **github_settings: Any) -> None:
        self.github = github
        self.config: PipelineConfig = sample_config(**{"api_url": github.url, **github_settings})
        self.base = new_sha()
        self.sha = new_sha()
        self.session = requests.Session()
        self.prod = ProdFunctions(
            {name: f"{SAMPLE_REPO}@{self.base}" for name in self.config.environments.prod.functions.values()}
        )
        self.token: str | None = TOKEN

    def clients(self, config: PipelineConfig) -> GitHubClient | None:
        return GitHubClient(config.github.api_url, self.token, self.session) if self.token else None

    def merged_by_dependabot(self, *, number: int = 41, **overrides: Any) -> Case:
        pull = pull_request(number=number, author=DEPENDABOT, merge_commit_sha=self.sha)
        pull.update(overrides)
        self.github.set_pull_requests(SAMPLE_REPO, self.sha, [pull])
        return self

    def compared(self, commits: list[dict[str, Any]], files: list[Any], **kwargs: Any) -> Case:
        self.github.set_comparison(SAMPLE_REPO, self.base, self.sha, comparison(commits, files, **kwargs))
        return self

    def prove(self) -> tuple[bool, str]:
        proof = GitHubDependabotProver(self.clients, LambdaProdCommit(self.prod)).prove(self.config, self.sha)
        return proof.proven, proof.reason


def test_a_proven_dependabot_update_bypasses_with_the_reason(github: GitHubStub) -> None:
    # Given a Dependabot pull request merged as the new commit, changing only a requirements file
    case = Case(github).merged_by_dependabot(number=42)
    case.compared([dependabot_commit(case.sha)], ["requirements.txt", "services/api/requirements-dev.txt"])

    # When the proof is asked of GitHub
    proven, reason = case.prove()

    # Then it bypasses, and the reason names what was proven
    assert proven, reason
    assert "pull request #42 by dependabot[bot]" in reason
    assert case.base[:12] in reason
    assert "requirements.txt" in reason
    path = decide_approval_path(
        GitHubDependabotProver(case.clients, LambdaProdCommit(case.prod)), case.config, case.sha
    )
    assert (path.decision, path.reason) == ("bypass", reason)


def test_several_dependabot_updates_since_prod_can_bypass_together(github: GitHubStub) -> None:
    case = Case(github).merged_by_dependabot()
    case.compared(
        [dependabot_commit(new_sha()), dependabot_commit(case.sha)], ["poetry.lock", "package-lock.json"]
    )
    assert case.prove()[0]


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        # 1. the pull request's author: names and types prove nothing, only the app's account does
        (
            lambda c: c.merged_by_dependabot(user=user("dependabot", 1234567)),
            "opened by dependabot (id 1234567",
        ),
        (lambda c: c.merged_by_dependabot(user=user("dependabot[bot]", 49699333, "User")), "type User"),
        (lambda c: c.merged_by_dependabot(user=user("dependabot[bot]", 31337, "Bot")), "id 31337"),
        (lambda c: c.merged_by_dependabot(user=user("mallory", 666)), "opened by mallory"),
        (lambda c: c.merged_by_dependabot(user=None), "opened by no GitHub account"),
        # ... and it must be merged, into the pipeline's branch, as this very commit
        (lambda c: c.merged_by_dependabot(merged_at=None, state="open"), "no pull request merged"),
        (lambda c: c.merged_by_dependabot(merge_commit_sha=new_sha()), "no pull request merged"),
        (
            lambda c: c.merged_by_dependabot(
                base={
                    **pull_request(number=1, author=DEPENDABOT, merge_commit_sha=None)["base"],
                    "ref": "release",
                }
            ),
            "no pull request merged into main",
        ),
        (lambda c: c, "no pull request merged"),  # a direct push: no pull request at all
    ],
)
def test_the_pull_request_must_be_dependabots_and_merged_as_this_commit(
    github: GitHubStub, setup: Any, reason: str
) -> None:
    case = Case(github)
    case.compared([dependabot_commit(case.sha)], ["requirements.txt"])
    setup(case)
    proven, said = case.prove()
    assert not proven
    assert said.startswith("approval required: ")
    assert reason in said


def test_two_pull_requests_claiming_the_commit_prove_nothing(github: GitHubStub) -> None:
    case = Case(github)
    pulls = [pull_request(number=n, author=DEPENDABOT, merge_commit_sha=case.sha) for n in (1, 2)]
    github.set_pull_requests(SAMPLE_REPO, case.sha, pulls)
    case.compared([dependabot_commit(case.sha)], ["requirements.txt"])
    assert "2 pull requests" in case.prove()[1]


@pytest.mark.parametrize(
    ("commits", "reason"),
    [
        # 2. a person's commit on top of (or under) the Dependabot update spoils it
        (
            lambda c: [
                dependabot_commit(new_sha()),
                compare_commit(c.sha, user("alice", 501), name="a", email="a@x"),
            ],
            "authored by alice",
        ),
        (
            lambda c: [
                compare_commit(new_sha(), user("bob", 502), name="b", email="b@x"),
                dependabot_commit(c.sha),
            ],
            "authored by bob",
        ),
        # free-text name and email claiming to be Dependabot, with no or another GitHub account behind them
        (
            lambda c: [
                compare_commit(
                    c.sha,
                    None,
                    name="dependabot[bot]",
                    email="49699333+dependabot[bot]@users.noreply.github.com",
                )
            ],
            "authored by no GitHub account",
        ),
        (
            lambda c: [
                compare_commit(
                    c.sha, user("mallory", 666), name="dependabot[bot]", email="support@github.com"
                )
            ],
            "authored by mallory",
        ),
        # a merge commit is authored by whoever pressed the button
        (
            lambda c: [
                dependabot_commit(new_sha()),
                compare_commit(c.sha, user("carol", 503), name="c", email="c@x"),
            ],
            "authored by carol",
        ),
    ],
)
def test_every_commit_since_prod_must_be_dependabots(github: GitHubStub, commits: Any, reason: str) -> None:
    case = Case(github).merged_by_dependabot()
    case.compared(commits(case), ["requirements.txt"])
    proven, said = case.prove()
    assert not proven
    assert reason in said


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (["requirements.txt", "src/app.py"], "src/app.py changed and is not a dependency manifest"),
        ([".github/workflows/build.yml"], ".github/workflows/build.yml changed"),
        (["package.json", "package-lock.json"], "package.json changed"),  # scripts live there: not by default
        (
            [{"filename": "requirements.txt", "status": "renamed", "previous_filename": "setup.py"}],
            "setup.py changed",
        ),
        ([{"filename": "requirements.txt.py", "status": "added"}], "requirements.txt.py changed"),
        ([], "could not all be listed"),
        ([f"requirements-{n}.txt" for n in range(300)], "could not all be listed"),
    ],
)
def test_every_changed_file_must_be_a_dependency_manifest(
    github: GitHubStub, files: list[Any], reason: str
) -> None:
    case = Case(github).merged_by_dependabot()
    case.compared([dependabot_commit(case.sha)], files)
    proven, said = case.prove()
    assert not proven
    assert reason in said


def test_the_manifest_globs_are_the_pipelines_to_choose(github: GitHubStub) -> None:
    case = Case(github, dependency_manifests=["package.json", "package-lock.json"]).merged_by_dependabot()
    case.compared([dependabot_commit(case.sha)], ["web/package.json", "web/package-lock.json"])
    assert case.prove()[0]
    case.compared([dependabot_commit(case.sha)], ["requirements.txt"])  # no longer on the list
    assert "requirements.txt changed" in case.prove()[1]


@pytest.mark.parametrize(
    ("status", "total", "reason"),
    [
        ("diverged", None, "not ahead of prod's"),
        ("behind", None, "not ahead of prod's"),
        ("identical", None, "not ahead of prod's"),
        ("ahead", 300, "300 commits since prod's"),
    ],
)
def test_the_history_since_prod_must_be_fully_listed_and_ahead(
    github: GitHubStub, status: str, total: int | None, reason: str
) -> None:
    case = Case(github).merged_by_dependabot()
    answer = comparison([dependabot_commit(case.sha)], ["requirements.txt"], status=status)
    if total is not None:
        answer["total_commits"] = total
    github.set_comparison(SAMPLE_REPO, case.base, case.sha, answer)
    proven, said = case.prove()
    assert not proven
    assert reason in said


def test_no_token_configured_proves_nothing(github: GitHubStub) -> None:
    case = Case(github).merged_by_dependabot().compared([dependabot_commit(new_sha())], ["requirements.txt"])
    case.token = None
    proven, said = case.prove()
    assert not proven
    assert "no GitHub token is configured" in said


def test_a_rejected_token_proves_nothing(github: GitHubStub) -> None:
    case = Case(github).merged_by_dependabot().compared([dependabot_commit(new_sha())], ["requirements.txt"])
    case.token = "ghp_revoked"
    proven, said = case.prove()
    assert not proven
    assert "GitHub could not be asked" in said
    assert "HTTP 401" in said


def test_github_down_or_unreachable_proves_nothing(github: GitHubStub) -> None:
    case = Case(github).merged_by_dependabot()
    case.compared([dependabot_commit(case.sha)], ["requirements.txt"])
    github.set_outage(503)
    try:
        proven, said = case.prove()
    finally:
        github.set_outage(None)
    assert not proven
    assert "HTTP 503" in said

    unreachable = Case(github, api_url="http://127.0.0.1:9")  # nothing listens on the discard port
    unreachable.merged_by_dependabot()
    proven, said = unreachable.prove()
    assert not proven
    assert "ConnectionError" in said


def test_an_unreadable_token_secret_proves_nothing(github: GitHubStub) -> None:
    case = Case(github).merged_by_dependabot()

    def broken(config: PipelineConfig) -> GitHubClient | None:
        raise RuntimeError("AccessDenied")

    proof = GitHubDependabotProver(broken, LambdaProdCommit(case.prod)).prove(case.config, case.sha)
    assert not proof.proven
    assert "token could not be read" in proof.reason


@pytest.mark.parametrize(
    ("descriptions", "reason"),
    [
        (
            {
                "svc-sentiment-prod-api": "bootstrap",
                "svc-sentiment-prod-worker": "bootstrap",
                "svc-sentiment-prod-tests": "bootstrap",
            },
            "not deployed from a known",
        ),
        (
            {
                "svc-sentiment-prod-api": "mallory/fork@" + "a" * 40,
                "svc-sentiment-prod-worker": "x",
                "svc-sentiment-prod-tests": "x",
            },
            "not deployed",
        ),
        (
            {
                "svc-sentiment-prod-api": f"{SAMPLE_REPO}@{'a' * 40}",
                "svc-sentiment-prod-worker": f"{SAMPLE_REPO}@{'b' * 40}",
                "svc-sentiment-prod-tests": f"{SAMPLE_REPO}@{'a' * 40}",
            },
            "run different commits",
        ),
    ],
)
def test_prods_commit_must_be_known_for_certain(
    github: GitHubStub, descriptions: dict[str, str], reason: str
) -> None:
    case = Case(github).merged_by_dependabot()
    case.prod = ProdFunctions(descriptions)
    proven, said = case.prove()
    assert not proven
    assert reason in said


def test_prod_already_running_the_commit_proves_nothing(github: GitHubStub) -> None:
    case = Case(github).merged_by_dependabot()
    case.base = case.sha
    case.prod = ProdFunctions(
        {n: f"{SAMPLE_REPO}@{case.sha}" for n in case.config.environments.prod.functions.values()}
    )
    assert "prod already runs" in case.prove()[1]


def test_prods_commit_is_read_from_the_deployed_versions_description() -> None:
    # Given prod's functions on versions published by the deploy step (description "{repo}@{sha}")
    sha = new_sha()
    config = sample_config()
    with mock_aws():
        lam = boto3.client("lambda", region_name="us-east-1")
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )["Role"]["Arn"]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
        for name in config.environments.prod.functions.values():
            lam.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": buffer.getvalue()},
            )
            version = lam.publish_version(FunctionName=name, Description=f"{SAMPLE_REPO}@{sha}")["Version"]
            lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)

        # Then that is the commit prod runs
        assert LambdaProdCommit(lam).current_commit(config) == sha
        # And a function it cannot read proves nothing
        missing = sample_config()
        lam.delete_function(FunctionName=config.environments.prod.functions["worker"])
        with pytest.raises(Unproven, match="could not be read"):
            LambdaProdCommit(lam).current_commit(missing)


def test_dependabot_is_the_app_account_not_a_name() -> None:
    assert is_dependabot(GitHubUser(login="dependabot[bot]", id=49699333, type="Bot"))
    assert not is_dependabot(GitHubUser(login="dependabot[bot]", id=49699333, type="User"))
    assert not is_dependabot(GitHubUser(login="Dependabot[bot]", id=49699333, type="Bot"))
    assert not is_dependabot(GitHubUser(login="dependabot", id=49699333, type="Bot"))
    assert not is_dependabot(None)


@pytest.mark.parametrize(
    ("path", "globs", "matches"),
    [
        ("requirements.txt", list(DEFAULT_DEPENDENCY_MANIFESTS), True),
        ("services/api/requirements-dev.txt", list(DEFAULT_DEPENDENCY_MANIFESTS), True),
        ("a/b/poetry.lock", list(DEFAULT_DEPENDENCY_MANIFESTS), True),
        ("requirements.txt/evil.py", list(DEFAULT_DEPENDENCY_MANIFESTS), False),
        ("src/requirements.py", list(DEFAULT_DEPENDENCY_MANIFESTS), False),
        ("pyproject.toml", list(DEFAULT_DEPENDENCY_MANIFESTS), False),
        ("web/package.json", ["web/package.json"], True),
        ("api/package.json", ["web/package.json"], False),
        ("Requirements.txt", list(DEFAULT_DEPENDENCY_MANIFESTS), False),  # case matters, as in git
    ],
)
def test_manifest_globs(path: str, globs: list[str], matches: bool) -> None:
    assert matches_manifest(path, globs) is matches


def test_a_commit_made_with_dependabots_email_proves_nothing(github: GitHubStub) -> None:
    # Given Dependabot's merged pull request, and on its branch a commit by a person using Dependabot's
    # author email, which GitHub's API attributes to dependabot[bot]
    case = Case(github).merged_by_dependabot()
    case.compared([spoofed_dependabot_commit(case.sha, user("mallory", 666))], ["requirements.txt"])

    # When the proof is asked, then approval is required, with the reason
    proven, said = case.prove()
    assert not proven
    assert "not verified by GitHub" in said or "committed by mallory" in said


def test_someone_else_pushing_to_the_pull_request_branch_proves_nothing(github: GitHubStub) -> None:
    # Given Dependabot's pull request fast-forwarded as the new commit, but a person pushed to its branch
    # before (their commit was later undone by Dependabot's rebase, so the compare looks clean)
    case = Case(github).merged_by_dependabot(number=44)
    case.compared([dependabot_commit(case.sha)], ["requirements.txt"])
    pushed = compare_commit(new_sha(), user("mallory", 666), name="m", email="m@example.com")
    github.set_pull_commits(SAMPLE_REPO, 44, [pushed, dependabot_commit(case.sha)])

    proven, said = case.prove()

    assert not proven
    assert f"commit {pushed['sha'][:12]} of pull request #44 was authored by mallory" in said


def test_a_merge_commit_made_by_the_merge_button_is_not_dependabots(github: GitHubStub) -> None:
    # GitHub commits a squash or merge as web-flow: the author may be Dependabot, the committer is not.
    case = Case(github).merged_by_dependabot()
    squashed = compare_commit(
        case.sha,
        DEPENDABOT,
        name="dependabot[bot]",
        email="49699333+dependabot[bot]@users.noreply.github.com",
    )
    case.compared([squashed], ["requirements.txt"])
    proven, said = case.prove()
    assert not proven
    assert "committed by web-flow" in said
