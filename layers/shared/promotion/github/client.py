"""The few GitHub REST API calls the control plane makes, with the answers it reads typed.

Used by "Decide approval path" (a commit's author and committer), the Dependabot proof (pull requests of a
commit and their commits, compare two commits) and by the deployment statuses
(deployments and their statuses). The API root is configurable per pipeline, so GitHub Enterprise Server
(``https://HOST/api/v3``) and the local plane's stand-in work the same way. Every failure — no answer, a
non-2xx answer, an answer of the wrong shape — is one exception, ``GitHubUnavailable``: callers treat it as
"nothing proven" or "status not posted", never as a reason to fail a promotion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promotion.models.validation import describe_validation_error

API_VERSION = "2022-11-28"
USER_AGENT = "release-promotion"
# Short enough that a hanging GitHub cannot hold a step near its Lambda timeout.
DEFAULT_TIMEOUT = (3.05, 5.0)
# GitHub's compare API lists at most this many files; a longer diff is cut short.
COMPARE_FILES_LIMIT = 300
# One page of a pull request's commits; a pull request with this many or more is not fully listed.
PULL_COMMITS_LIMIT = 100
DeploymentState = Literal["error", "failure", "inactive", "in_progress", "queued", "pending", "success"]


class GitHubUnavailable(Exception):
    """GitHub did not answer usably (network error, non-2xx status, unexpected shape)."""


class _Answer(BaseModel):
    # GitHub adds fields over time; only the ones read here are declared.
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)


class GitHubUser(_Answer):
    login: str
    id: int
    type: str


class BranchRef(_Answer):
    ref: str


class PullRequest(_Answer):
    number: int
    state: str
    user: GitHubUser | None = None
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    base: BranchRef


class GitActor(_Answer):
    """A commit's author or committer as git records it: free text."""

    name: str | None = None
    email: str | None = None


class Verification(_Answer):
    """GitHub's check of the commit's signature (``verified``: signed by a key GitHub ties to the committer,
    or by GitHub itself for commits it made)."""

    verified: bool = False
    reason: str = "unsigned"


class CommitDetail(_Answer):
    message: str = ""
    author: GitActor | None = None
    committer: GitActor | None = None
    verification: Verification | None = None


class CompareCommit(_Answer):
    """One commit as the commits, compare and pull-request-commits APIs answer it."""

    sha: str
    # The GitHub accounts the commit's author and committer emails belong to; null when they belong to none.
    # GitHub links by email, which anyone can type: only ``commit.verification`` says who signed it.
    author: GitHubUser | None = None
    committer: GitHubUser | None = None
    commit: CommitDetail = Field(default_factory=CommitDetail)
    parents: list[dict[str, Any]] = Field(default_factory=list)


class ChangedFile(_Answer):
    filename: str
    status: str = "modified"
    previous_filename: str | None = None


class Comparison(_Answer):
    status: Literal["ahead", "behind", "diverged", "identical"]
    ahead_by: int
    behind_by: int
    total_commits: int
    commits: list[CompareCommit]
    files: list[ChangedFile] | None = None


class Deployment(_Answer):
    id: int
    sha: str
    environment: str
    task: str = "deploy"
    payload: dict[str, Any] | str | None = None

    def payload_value(self, key: str) -> Any:
        return self.payload.get(key) if isinstance(self.payload, dict) else None


class DeploymentStatus(_Answer):
    id: int
    state: str


def _segment(value: str) -> str:
    return quote(value, safe="")


def repo_path(repo: str) -> str:
    owner, _, name = repo.partition("/")
    return f"/repos/{_segment(owner)}/{_segment(name)}"


@dataclass(frozen=True)
class Probe:
    """GitHub's answer to a GET, whatever its status: ``document`` None when the body is not JSON."""

    status: int
    headers: Mapping[str, str]
    document: Any


class GitHubClient:
    def __init__(
        self,
        api_url: str,
        token: str,
        session: requests.Session,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self._root = api_url.rstrip("/")
        self._session = session
        self._timeout = timeout
        self._headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        }

    # ---- transport ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        try:
            response = self._session.request(
                method,
                self._root + path,
                params=params,
                json=body,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise GitHubUnavailable(f"{method} {path}: {type(error).__name__}") from error
        if not 200 <= response.status_code < 300:
            raise GitHubUnavailable(f"{method} {path}: HTTP {response.status_code} {_message(response)}")
        if response.status_code == 204:  # No Content (a ping, for one)
            return None
        try:
            return response.json()
        except ValueError as error:
            raise GitHubUnavailable(f"{method} {path}: answer is not JSON") from error

    def probe(self, path: str) -> Probe:
        """``GET path`` answered as it came (a 401 or 404 included); ``GitHubUnavailable`` only when GitHub
        did not answer at all."""
        try:
            response = self._session.get(
                self._root + path, headers=self._headers, timeout=self._timeout, allow_redirects=False
            )
        except requests.RequestException as error:
            raise GitHubUnavailable(f"GET {path}: {type(error).__name__}") from error
        try:
            document = response.json()
        except ValueError:
            document = None
        return Probe(response.status_code, {k.lower(): v for k, v in response.headers.items()}, document)

    def _typed(self, model: type[Any], document: Any, what: str) -> Any:
        try:
            return model.model_validate(document)
        except ValidationError as error:
            raise GitHubUnavailable(
                f"{what}: unexpected answer: {describe_validation_error(error)}"
            ) from error

    def _typed_list(self, model: type[Any], document: Any, what: str) -> list[Any]:
        if not isinstance(document, list):
            raise GitHubUnavailable(f"{what}: expected a list")
        return [self._typed(model, item, what) for item in document]

    # ---- reads ----------------------------------------------------------------------------------
    def pulls_for_commit(self, repo: str, sha: str) -> list[PullRequest]:
        path = f"{repo_path(repo)}/commits/{_segment(sha)}/pulls"
        return self._typed_list(PullRequest, self._call("GET", path, params={"per_page": 100}), path)

    def commit(self, repo: str, sha: str) -> CompareCommit:
        path = f"{repo_path(repo)}/commits/{_segment(sha)}"
        # The files are not read here: one page is enough for the author, committer and signature.
        commit: CompareCommit = self._typed(
            CompareCommit, self._call("GET", path, params={"per_page": 1}), path
        )
        return commit

    def pull_commits(self, repo: str, number: int) -> list[CompareCommit]:
        path = f"{repo_path(repo)}/pulls/{number}/commits"
        params = {"per_page": PULL_COMMITS_LIMIT}
        return self._typed_list(CompareCommit, self._call("GET", path, params=params), path)

    def compare(self, repo: str, base: str, head: str) -> Comparison:
        path = f"{repo_path(repo)}/compare/{_segment(base)}...{_segment(head)}"
        # One page of up to 250 commits; callers refuse a comparison that does not fit (total_commits).
        comparison: Comparison = self._typed(
            Comparison, self._call("GET", path, params={"per_page": 250}), path
        )
        return comparison

    def deployments(self, repo: str, *, sha: str, environment: str, task: str) -> list[Deployment]:
        path = f"{repo_path(repo)}/deployments"
        params = {"sha": sha, "environment": environment, "task": task, "per_page": 30}
        return self._typed_list(Deployment, self._call("GET", path, params=params), path)

    def deployment_statuses(self, repo: str, deployment_id: int) -> list[DeploymentStatus]:
        path = f"{repo_path(repo)}/deployments/{deployment_id}/statuses"
        return self._typed_list(DeploymentStatus, self._call("GET", path, params={"per_page": 1}), path)

    # ---- writes ---------------------------------------------------------------------------------
    def create_deployment(
        self,
        repo: str,
        *,
        sha: str,
        environment: str,
        task: str,
        description: str,
        payload: dict[str, Any],
        production: bool,
    ) -> Deployment:
        path = f"{repo_path(repo)}/deployments"
        body = {
            "ref": sha,
            "task": task,
            "environment": environment,
            "description": description[:140],
            "payload": payload,
            # The promotion itself is the gate: no merge of the default branch, no required status checks.
            "auto_merge": False,
            "required_contexts": [],
            "production_environment": production,
            "transient_environment": False,
        }
        deployment: Deployment = self._typed(Deployment, self._call("POST", path, body=body), path)
        return deployment

    def create_deployment_status(
        self,
        repo: str,
        deployment_id: int,
        *,
        state: DeploymentState,
        description: str,
        log_url: str | None,
        environment_url: str | None,
    ) -> DeploymentStatus:
        path = f"{repo_path(repo)}/deployments/{deployment_id}/statuses"
        # auto_inactive keeps its default (true): a new success makes the older ones inactive.
        body: dict[str, Any] = {"state": state, "description": description[:140]}
        if log_url:
            body["log_url"] = log_url
        if environment_url:
            body["environment_url"] = environment_url
        status: DeploymentStatus = self._typed(DeploymentStatus, self._call("POST", path, body=body), path)
        return status


def _message(response: requests.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return ""
    return str(document.get("message", ""))[:200] if isinstance(document, dict) else ""
