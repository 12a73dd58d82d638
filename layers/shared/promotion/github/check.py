"""GitHub as the control plane sees it, for one pipeline: ``GET /operator/pipelines/{pipeline}/github``.

With the pipeline's own API token (``github.token_secret_id``, the one the steps use), from where the steps
run, ask GitHub for the pipeline's repository and for the rate limit left. The answer says whether GitHub
answered, whether it accepted the token and showed the repository, and what GitHub said about both; it
never carries the token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import requests

from promotion.github.client import GitHubClient, GitHubUnavailable, Probe, repo_path
from promotion.models.config import PipelineConfig


class TokenUnavailable(Exception):
    """The pipeline's token could not be read (a secret missing, or named outside the stack's prefix)."""


@dataclass(frozen=True)
class RateLimit:
    limit: int | None
    remaining: int | None
    # Epoch seconds when the window resets.
    reset: int | None


@dataclass(frozen=True)
class GitHubCheck:
    pipeline: str
    repo: str
    api_url: str
    checked_at: int
    # GitHub answered the repository request (any HTTP status).
    reachable: bool = False
    # It answered 200: the token is valid and sees the repository.
    ok: bool = False
    status: int | None = None
    error: str | None = None
    # The token's rights on the repository, when GitHub says (``permissions`` of the repository).
    permissions: dict[str, bool] | None = None
    # A classic token's scopes (``X-OAuth-Scopes``); None when GitHub sends none (fine-grained tokens).
    token_scopes: list[str] | None = None
    rate_limit: RateLimit | None = None
    notes: list[str] = field(default_factory=list)


# The pipeline's token, or None when it names none; raises ``TokenUnavailable``.
TokenOf = Callable[[PipelineConfig], str | None]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _message(probe: Probe) -> str:
    document = probe.document
    message = str(document.get("message", "")) if isinstance(document, dict) else ""
    return f"HTTP {probe.status}" + (f" {message[:200]}" if message else "")


def _rate_limit(probe: Probe) -> RateLimit | None:
    core = probe.document.get("resources", {}).get("core") if isinstance(probe.document, dict) else None
    if isinstance(core, dict):
        return RateLimit(_int(core.get("limit")), _int(core.get("remaining")), _int(core.get("reset")))
    headers = probe.headers
    if "x-ratelimit-remaining" not in headers:
        return None
    return RateLimit(
        _int(headers.get("x-ratelimit-limit")),
        _int(headers.get("x-ratelimit-remaining")),
        _int(headers.get("x-ratelimit-reset")),
    )


def _repository(probe: Probe, check: GitHubCheck) -> GitHubCheck:
    scopes = probe.headers.get("x-oauth-scopes")
    document = probe.document if isinstance(probe.document, dict) else {}
    permissions = document.get("permissions")
    return replace(
        check,
        reachable=True,
        ok=probe.status == 200,
        status=probe.status,
        error=None if probe.status == 200 else _refusal(probe),
        permissions=(
            {str(k): bool(v) for k, v in permissions.items()} if isinstance(permissions, dict) else None
        ),
        token_scopes=[s.strip() for s in scopes.split(",") if s.strip()] if scopes is not None else None,
        rate_limit=_rate_limit(probe),
    )


def _refusal(probe: Probe) -> str:
    if probe.status == 401:
        return f"GitHub refused the pipeline's token ({_message(probe)})"
    if probe.status in (403, 404):
        return f"the token does not see the repository ({_message(probe)})"
    return f"GitHub answered {_message(probe)}"


def check_github(
    config: PipelineConfig, *, token_of: TokenOf, session: requests.Session, now: int
) -> GitHubCheck:
    check = GitHubCheck(pipeline=config.name, repo=config.repo, api_url=config.github.api_url, checked_at=now)
    try:
        token = token_of(config)
    except TokenUnavailable as error:
        return replace(check, error=f"the pipeline's token cannot be read: {error}")
    if token is None:
        return replace(
            check,
            error="the pipeline names no github.token_secret_id: the control plane does not call GitHub "
            "for it",
        )
    client = GitHubClient(config.github.api_url, token, session)
    try:
        check = _repository(client.probe(repo_path(config.repo)), check)
    except GitHubUnavailable as error:
        return replace(check, error=f"GitHub did not answer: {error}")
    try:
        limits = client.probe("/rate_limit")
    except GitHubUnavailable as error:
        return replace(check, notes=[f"the rate limit is unknown: {error}"])
    if limits.status == 200 and (rate := _rate_limit(limits)) is not None:
        return replace(check, rate_limit=rate)
    return check
