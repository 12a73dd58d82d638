"""Who made a commit: GitHub logins from GitHub's API, never from text someone typed.

"Decide approval path" asks ``GET /repos/{repo}/commits/{sha}`` for the accounts GitHub links the commit's
author and committer to (:class:`GitHubCommitIdentity`); the approval request turns that into the record's
commit facts (:func:`commit_facts`), and the two-person rule compares logins first, emails second.

A GitHub noreply address, ``ID+login@users.noreply.github.com`` or ``login@users.noreply.github.com``, is
what GitHub puts on commits of people who keep their email private: it names a login, so it counts as a
*claim* of that login (:func:`claimed_login`). Anyone can type such an address, so a claim may refuse an
approval (fail closed) but never establishes who the author is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from promotion.models.approval import CommitFacts
from promotion.models.config import PipelineConfig
from promotion.models.execution import CommitIdentity, CommitInfo, GitHubAccount

_NOREPLY = re.compile(r"^(?:[0-9]+\+)?(?P<login>[^@+\s]+)@users\.noreply\.github\.com$", re.IGNORECASE)


def claimed_login(email: str | None) -> str | None:
    """The login a GitHub noreply address names, or None for any other address."""
    found = _NOREPLY.match((email or "").strip())
    return found["login"] if found else None


class CommitReader(Protocol):
    """``GitHubClient.commit``: GitHub's answer for one commit."""

    def commit(self, repo: str, sha: str) -> Any: ...


def _account(user: Any) -> GitHubAccount | None:
    if user is None:
        return None
    return GitHubAccount(login=user.login, id=user.id, type=user.type)


class GitHubCommitIdentity:
    """Asks GitHub's API who authored and committed a commit; never raises (unavailable says why)."""

    def __init__(self, clients: Callable[[PipelineConfig], CommitReader | None]) -> None:
        self._clients = clients

    def identify(self, config: PipelineConfig, sha: str) -> CommitIdentity:
        try:
            github = self._clients(config)
        except Exception as error:  # an unreadable token establishes nothing
            return CommitIdentity(unavailable=f"the GitHub token could not be read ({type(error).__name__})")
        if github is None:
            return CommitIdentity(unavailable="no GitHub token is configured for this pipeline")
        try:
            answer = github.commit(config.repo, sha)
        except Exception as error:  # GitHub down, the commit unknown: nothing established
            return CommitIdentity(unavailable=f"GitHub could not be asked ({error})"[:500])
        detail = answer.commit
        return CommitIdentity(
            author=_account(answer.author),
            committer=_account(answer.committer),
            author_email=detail.author.email if detail.author else None,
            committer_email=detail.committer.email if detail.committer else None,
            signature_verified=bool(detail.verification and detail.verification.verified),
            message=(detail.message or None) and detail.message[:10_000],
        )


def commit_facts(claimed: CommitInfo | None, identity: CommitIdentity | None) -> CommitFacts:
    """The approval record's commit facts: GitHub's API answer when there is one, else the input's words.

    The execution input's facts (``claimed``, already downgraded unless the webhook attested them) only
    fill what the API did not answer; its logins are never taken as confirmed.
    """
    claimed = claimed or CommitInfo()
    if identity is not None and identity.unavailable is None:
        return CommitFacts(
            message=identity.message or claimed.message,
            author_login=identity.author.login if identity.author else None,
            author_email=identity.author_email,
            committer_login=identity.committer.login if identity.committer else None,
            committer_email=identity.committer_email,
            verified=True,
            source="github_api",
            claimed_login=claimed.author_login,
            claimed_email=claimed.author_email,
        )
    return CommitFacts(
        message=claimed.message,
        author_login=claimed.author_login,
        author_email=claimed.author_email,
        verified=claimed.verified,
        source="webhook" if claimed.verified else "claim",
    )


def logins_of(commit: CommitFacts) -> set[str]:
    """Every login known or claimed for the commit's author and committer, lower-cased."""
    found = {
        commit.author_login,
        commit.committer_login,
        commit.claimed_login,
        claimed_login(commit.author_email),
        claimed_login(commit.committer_email),
        claimed_login(commit.claimed_email),
    }
    return {login.lower() for login in found if login}


def emails_of(commit: CommitFacts) -> set[str]:
    emails = (commit.author_email, commit.committer_email, commit.claimed_email)
    return {email.strip().lower() for email in emails if email}
