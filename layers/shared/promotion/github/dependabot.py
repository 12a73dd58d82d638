"""Proof that a commit is nothing but a Dependabot dependency update, gathered from GitHub's REST API.

A bypass needs all of these, each asked of GitHub itself (never of the webhook payload or execution input,
where names, emails, ``sender`` and ``github.actor`` are whatever someone typed):

1. the pull request that produced the commit was opened by the Dependabot app — login ``dependabot[bot]``,
   user id 49699333, type ``Bot`` — was merged into the pipeline's branch, and its merge commit is this SHA;
2. every commit between what prod runs now and this SHA is a *Dependabot commit*: GitHub verified its
   signature (``commit.verification.verified``), and GitHub's API names that same account as its author
   AND its committer. GitHub attributes a commit to an account by its email, which anyone with push access
   can type, so the account alone proves nothing: the signature does, and the committer (a person's commit
   on top, or a merge commit made by whoever pressed the button, spoils it);
3. nobody else pushed to the pull request's branch: every commit the pull request lists is a Dependabot
   commit too;
4. every file those commits change matches the pipeline's dependency-manifest globs.

What prod runs now is read from prod's functions: the deploy step publishes each version with the
description ``{repo}@{sha}``. Anything unproven — no token, GitHub unreachable, prod's commit unknown,
more commits or files than one answer holds — is a refusal with the reason, never a bypass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any, Protocol

from promotion.approvals.bypass_policy import BypassProof
from promotion.github.client import (
    COMPARE_FILES_LIMIT,
    PULL_COMMITS_LIMIT,
    CompareCommit,
    GitHubClient,
    GitHubUnavailable,
    GitHubUser,
)
from promotion.models.config import PipelineConfig

DEPENDABOT_LOGIN = "dependabot[bot]"
DEPENDABOT_USER_ID = 49699333
DEPENDABOT_USER_TYPE = "Bot"
_DESCRIPTION = re.compile(r"^(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)@(?P<sha>[0-9a-f]{40})$")


class Unproven(Exception):
    """One condition of the bypass does not hold or cannot be checked; the message says which."""


def is_dependabot(user: GitHubUser | None) -> bool:
    """The Dependabot app's account, by the three facts only GitHub sets (a login alone can be imitated)."""
    return (
        user is not None
        and user.login == DEPENDABOT_LOGIN
        and user.id == DEPENDABOT_USER_ID
        and user.type == DEPENDABOT_USER_TYPE
    )


def not_dependabots(commit: CompareCommit) -> str | None:
    """Why the commit is not a Dependabot commit (signed, authored and committed by the app), or None."""
    verification = commit.commit.verification
    if verification is None or not verification.verified:
        why = verification.reason if verification is not None else "no verification answer"
        return f"is not verified by GitHub ({why})"
    if not is_dependabot(commit.author):
        return f"was authored by {describe_user(commit.author)}, not {DEPENDABOT_LOGIN}"
    if not is_dependabot(commit.committer):
        return f"was committed by {describe_user(commit.committer)}, not {DEPENDABOT_LOGIN}"
    return None


def describe_user(user: GitHubUser | None) -> str:
    if user is None:
        return "no GitHub account"
    return f"{user.login} (id {user.id}, type {user.type})"


def matches_manifest(path: str, globs: list[str]) -> bool:
    """A glob without "/" matches the file name in any directory; one with "/" matches the whole path."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatchcase(path if "/" in glob else name, glob) for glob in globs)


class ProdCommitSource(Protocol):
    def current_commit(self, config: PipelineConfig) -> str:
        """The commit prod runs now; raises ``Unproven`` when that is not known for certain."""
        ...


class LambdaProdCommit:
    """Reads the commit from the description the deploy step gives each version: ``{repo}@{sha}``."""

    def __init__(self, lambda_client: Any) -> None:
        self._lambda = lambda_client

    def current_commit(self, config: PipelineConfig) -> str:
        prod = config.environments.prod
        commits: dict[str, str] = {}
        for key, function in sorted(prod.functions.items()):
            try:
                alias = self._lambda.get_alias(FunctionName=function, Name=prod.alias)
                described = self._lambda.get_function_configuration(
                    FunctionName=function, Qualifier=alias["FunctionVersion"]
                )
            except Exception as error:
                raise Unproven(f"prod's {key} function could not be read ({type(error).__name__})") from error
            found = _DESCRIPTION.match(str(described.get("Description") or ""))
            if found is None or found["repo"].lower() != config.repo.lower():
                raise Unproven(
                    f"prod's {key} function (version {alias['FunctionVersion']}) was not deployed from a "
                    f"known {config.repo} commit"
                )
            commits[key] = found["sha"]
        if len(set(commits.values())) != 1:
            raise Unproven("prod's functions run different commits: " + ", ".join(sorted(commits.values())))
        return next(iter(commits.values()))


GitHubClients = Callable[[PipelineConfig], GitHubClient | None]


class GitHubDependabotProver:
    """``DependabotProver`` backed by the GitHub REST API (``promotion.approval_policy``)."""

    def __init__(self, clients: GitHubClients, prod: ProdCommitSource) -> None:
        self._clients = clients
        self._prod = prod

    def prove(self, config: PipelineConfig, sha: str) -> BypassProof:
        try:
            return BypassProof(True, self._prove(config, sha))
        except Unproven as refusal:
            return BypassProof(False, f"approval required: {refusal}")
        except GitHubUnavailable as error:
            return BypassProof(False, f"approval required: GitHub could not be asked ({error})")

    def _prove(self, config: PipelineConfig, sha: str) -> str:
        try:
            github = self._clients(config)
        except Exception as error:
            raise Unproven(f"the GitHub token could not be read ({type(error).__name__})") from error
        if github is None:
            raise Unproven("no GitHub token is configured for this pipeline, so nothing can be proven")
        pull = self._dependabot_pull_request(github, config, sha)
        base = self._prod.current_commit(config)
        if base == sha:
            raise Unproven(f"prod already runs {sha[:12]}: there is no change to prove")
        comparison = github.compare(config.repo, base, sha)
        if comparison.status != "ahead":
            raise Unproven(f"{sha[:12]} is not ahead of prod's {base[:12]} (GitHub says {comparison.status})")
        if comparison.total_commits < 1 or comparison.total_commits != len(comparison.commits):
            raise Unproven(
                f"{comparison.total_commits} commits since prod's {base[:12]}: more than one answer lists, "
                "so not every author can be checked"
            )
        for commit in comparison.commits:
            if (why := not_dependabots(commit)) is not None:
                raise Unproven(f"commit {commit.sha[:12]} since prod's {base[:12]} {why}")
        pushed = github.pull_commits(config.repo, pull)
        if not pushed or len(pushed) >= PULL_COMMITS_LIMIT:
            raise Unproven(f"the commits of pull request #{pull} could not all be listed")
        for commit in pushed:
            if (why := not_dependabots(commit)) is not None:
                raise Unproven(f"commit {commit.sha[:12]} of pull request #{pull} {why}")
        files = comparison.files
        if files is None or not files or len(files) >= COMPARE_FILES_LIMIT:
            raise Unproven("the changed files could not all be listed")
        globs = list(config.github.dependency_manifests)
        for changed in files:
            for path in filter(None, (changed.filename, changed.previous_filename)):
                if not matches_manifest(path, globs):
                    raise Unproven(f"{path} changed and is not a dependency manifest ({', '.join(globs)})")
        names = sorted({changed.filename for changed in files})
        return (
            f"Dependabot update: pull request #{pull} by {DEPENDABOT_LOGIN} merged as {sha[:12]}; "
            f"{len(comparison.commits)} commit(s) since prod's {base[:12]} and {len(pushed)} on the pull "
            f"request, all signed, authored and committed by {DEPENDABOT_LOGIN}; "
            f"only dependency manifests changed: {', '.join(names)}"
        )[:1000]

    @staticmethod
    def _dependabot_pull_request(github: GitHubClient, config: PipelineConfig, sha: str) -> int:
        pulls = github.pulls_for_commit(config.repo, sha)
        merged_here = [
            pull
            for pull in pulls
            if pull.merged_at and pull.merge_commit_sha == sha and pull.base.ref == config.branch
        ]
        if not merged_here:
            seen = ", ".join(f"#{p.number} ({'merged' if p.merged_at else p.state})" for p in pulls) or "none"
            raise Unproven(
                f"no pull request merged into {config.branch} as {sha[:12]} (pull requests with it: {seen})"
            )
        if len(merged_here) > 1:
            raise Unproven(f"{len(merged_here)} pull requests claim {sha[:12]} as their merge commit")
        pull = merged_here[0]
        if not is_dependabot(pull.user):
            raise Unproven(
                f"pull request #{pull.number} was opened by {describe_user(pull.user)}, "
                f"not {DEPENDABOT_LOGIN} (id {DEPENDABOT_USER_ID}, type {DEPENDABOT_USER_TYPE})"
            )
        return pull.number
