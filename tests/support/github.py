"""GitHub test data built from real payloads: webhook deliveries and REST answers, edited field by field.

The webhook payloads are the captured examples in ``../shared/fixtures/github/`` (octokit/webhooks); each
case loads one and changes only what it needs (repository, SHA, branch, workflow). The REST answers follow
GitHub's documented shapes; pull requests start from the real ``pull_request`` object of
``pull_request.closed.json``.
"""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from promote_cli.local.github_stub import GitHubStub
from promotion.github.webhook import sign

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "github"
SAMPLE_REPO = "example-org/sentiment-service"
BUILD_WORKFLOW = ".github/workflows/build.yml"
DEPENDABOT = {
    "login": "dependabot[bot]",
    "id": 49699333,
    "node_id": "MDM6Qm90NDk2OTkzMzM=",
    "avatar_url": "https://avatars.githubusercontent.com/in/29110?v=4",
    "html_url": "https://github.com/apps/dependabot",
    "type": "Bot",
    "site_admin": False,
}


@cache
def _raw(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of one captured payload (``workflow_run.completed.json``, ...)."""
    return dict(json.loads(_raw(name)))


def webhook_fixture_names() -> list[str]:
    """Every captured webhook payload (the signature vector is not one)."""
    return sorted(p.name for p in FIXTURES.glob("*.json") if p.name != "signature-vector.json")


def event_of(fixture_name: str) -> str:
    return fixture_name.split(".", 1)[0]


def signature_vector() -> dict[str, str]:
    return dict(json.loads(_raw("signature-vector.json")))


def new_sha() -> str:
    return secrets.token_hex(20)


def _set_repo(repository: dict[str, Any], full_name: str) -> None:
    owner, _, name = full_name.partition("/")
    repository["full_name"] = full_name
    repository["name"] = name
    if isinstance(repository.get("owner"), dict):
        repository["owner"]["login"] = owner


def workflow_run_payload(
    *,
    sha: str,
    repo: str = SAMPLE_REPO,
    branch: str = "main",
    workflow_path: str = BUILD_WORKFLOW,
    action: str = "completed",
    conclusion: str | None = "success",
    event: str = "push",
    head_repo: str | None = None,
    fixture_name: str = "workflow_run.completed.json",
) -> dict[str, Any]:
    """The real ``workflow_run`` payload, for ``repo``'s build of ``sha`` on ``branch``."""
    payload = fixture(fixture_name)
    payload["action"] = action
    run = payload["workflow_run"]
    run.update(head_sha=sha, head_branch=branch, path=workflow_path, event=event, conclusion=conclusion)
    run["status"] = "completed" if action == "completed" else run["status"]
    run["head_commit"]["id"] = sha
    payload["workflow"]["path"] = workflow_path
    _set_repo(payload["repository"], repo)
    _set_repo(run["repository"], repo)
    _set_repo(run["head_repository"], head_repo or repo)
    if head_repo and head_repo != repo:
        run["head_repository"]["fork"] = True
    return payload


def push_payload(
    *,
    sha: str,
    repo: str = SAMPLE_REPO,
    ref: str = "refs/heads/main",
    fixture_name: str = "push.with-new-branch.json",
) -> dict[str, Any]:
    """The real ``push`` payload, pushing ``sha`` to ``ref`` of ``repo``."""
    payload = fixture(fixture_name)
    payload.update(ref=ref, after=sha)
    if payload.get("head_commit"):
        payload["head_commit"]["id"] = sha
    _set_repo(payload["repository"], repo)
    return payload


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def delivery_headers(
    body: bytes,
    *,
    secret: str | None,
    event: str,
    delivery: str | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    """The headers GitHub sends with a delivery (lower-case, as API Gateway passes them on)."""
    headers = {
        "content-type": content_type,
        "x-github-event": event,
        "x-github-delivery": delivery or str(uuid.uuid4()),
        "user-agent": "GitHub-Hookshot/0d2a1a7",
    }
    if secret is not None:
        headers["x-hub-signature-256"] = sign(secret.encode(), body)
    return headers


# ---- REST answers --------------------------------------------------------------------------------------
def user(login: str, user_id: int, kind: str = "User") -> dict[str, Any]:
    return {"login": login, "id": user_id, "node_id": f"U_{user_id}", "type": kind, "site_admin": False}


def pull_request(
    *,
    number: int,
    author: dict[str, Any],
    merge_commit_sha: str | None,
    merged: bool = True,
    base_ref: str = "main",
    repo: str = SAMPLE_REPO,
) -> dict[str, Any]:
    """``pull_request.closed.json``'s real ``pull_request``, as ``/commits/{sha}/pulls`` lists it."""
    pull = copy.deepcopy(fixture("pull_request.closed.json")["pull_request"])
    pull.update(
        number=number,
        user=author,
        state="closed",
        merged_at="2026-11-20T10:00:00Z" if merged else None,
        merge_commit_sha=merge_commit_sha,
    )
    pull["base"]["ref"] = base_ref
    _set_repo(pull["base"]["repo"], repo)
    return dict(pull)


WEB_FLOW = user("web-flow", 19864447)
DEPENDABOT_EMAIL = "49699333+dependabot[bot]@users.noreply.github.com"


def compare_commit(
    sha: str,
    author: dict[str, Any] | None,
    *,
    name: str,
    email: str,
    committer: dict[str, Any] | None = WEB_FLOW,
    committer_email: str = "noreply@github.com",
    verified: bool = True,
) -> dict[str, Any]:
    """One commit as the commits, compare and pull-request-commits APIs answer it: ``author`` and
    ``committer`` are the GitHub accounts GitHub links the emails to, ``commit.author`` free text, and
    ``commit.verification`` GitHub's signature check."""
    return {
        "sha": sha,
        "author": author,
        "committer": committer,
        "commit": {
            "author": {"name": name, "email": email, "date": "2026-11-20T10:00:00Z"},
            "committer": {"name": "GitHub", "email": committer_email, "date": "2026-11-20T10:00:00Z"},
            "message": "Bump requests from 2.32.3 to 2.32.4",
            "verification": (
                {"verified": True, "reason": "valid"}
                if verified
                else {"verified": False, "reason": "unsigned"}
            ),
        },
        "parents": [{"sha": "0" * 40}],
    }


def dependabot_commit(sha: str) -> dict[str, Any]:
    """A commit Dependabot made: signed by GitHub, authored and committed by the app's account."""
    return compare_commit(
        sha,
        DEPENDABOT,
        name="dependabot[bot]",
        email=DEPENDABOT_EMAIL,
        committer=DEPENDABOT,
        committer_email=DEPENDABOT_EMAIL,
    )


def spoofed_dependabot_commit(sha: str, pusher: dict[str, Any]) -> dict[str, Any]:
    """A commit someone with push access made with Dependabot's author email: GitHub's API attributes its
    author to dependabot[bot] (it follows the email), but ``pusher`` committed it and nothing signed it."""
    return compare_commit(
        sha,
        DEPENDABOT,
        name="dependabot[bot]",
        email=DEPENDABOT_EMAIL,
        committer=pusher,
        committer_email=f"{pusher['login']}@example.com",
        verified=False,
    )


def comparison(
    commits: list[dict[str, Any]], files: list[str] | list[dict[str, Any]], *, status: str = "ahead"
) -> dict[str, Any]:
    """A ``/compare/{base}...{head}`` answer."""
    listed = [f if isinstance(f, dict) else {"filename": f, "status": "modified"} for f in files]
    return {
        "status": status,
        "ahead_by": len(commits),
        "behind_by": 0,
        "total_commits": len(commits),
        "commits": commits,
        "files": listed,
    }


@contextmanager
def running_stub(*tokens: str) -> Iterator[GitHubStub]:
    """The local GitHub stand-in, serving on 127.0.0.1 and accepting ``tokens``, until the block ends."""
    stub = GitHubStub()
    for token in tokens:
        stub.accept_token(token)
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()
