"""Signed GitHub deliveries for the local plane, built from a real captured payload (``payloads/``).

``promote demo`` starts its promotions this way: the same route, signature check and idempotency a
GitHub delivery meets on AWS.
"""

from __future__ import annotations

import copy
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from promotion.github.webhook import sign

PAYLOADS = Path(__file__).resolve().parent / "payloads"


@cache
def _captured(name: str) -> dict[str, Any]:
    return dict(json.loads((PAYLOADS / name).read_text()))


def _move_repository(repository: dict[str, Any], full_name: str) -> None:
    owner, _, name = full_name.partition("/")
    repository.update(full_name=full_name, name=name)
    if isinstance(repository.get("owner"), dict):
        repository["owner"]["login"] = owner


def build_run_completed(*, repo: str, sha: str, branch: str, workflow: str) -> dict[str, Any]:
    """The captured ``workflow_run`` ``completed`` payload, as for a successful push build of ``sha``."""
    payload = copy.deepcopy(_captured("workflow_run.completed.json"))
    run = payload["workflow_run"]
    run.update(head_sha=sha, head_branch=branch, event="push", conclusion="success", status="completed")
    run["path"] = payload["workflow"]["path"] = workflow
    run["head_commit"]["id"] = sha
    for repository in (payload["repository"], run["repository"], run["head_repository"]):
        _move_repository(repository, repo)
    return payload


def hook_ping(*, repo: str, hook: dict[str, Any]) -> dict[str, Any]:
    """The captured ``ping`` payload, as GitHub sends it to a repository webhook (``hook``, as the hooks API
    shows it) when the hook is created or pinged."""
    payload = copy.deepcopy(_captured("ping.json"))
    payload["hook_id"] = hook["id"]
    payload["hook"] = {**payload["hook"], **copy.deepcopy(hook)}
    _move_repository(payload["repository"], repo)
    return payload


def signed_delivery(payload: dict[str, Any], *, event: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers GitHub sends for ``payload`` with a webhook secret set."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret.encode(), body),
        "User-Agent": "GitHub-Hookshot/local",
    }
    return body, headers
