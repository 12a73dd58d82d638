"""``check_github``: the pipeline's GitHub as the control plane sees it, against the local GitHub stand-in:
answered and accepted, the token refused, an outage, nothing listening, no token or an unreadable one. The
token never appears in the report."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import asdict

import pytest
import requests

from promote_cli.local.github_stub import RATE_LIMIT, GitHubStub
from promotion.github.check import GitHubCheck, TokenUnavailable, check_github
from promotion.models.config import PipelineConfig
from tests.support.github import running_stub
from tests.support.pipelines import sample_config_with_github

TOKEN = "ghp_check-token"
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubStub]:
    with running_stub(TOKEN) as stub:
        yield stub


@pytest.fixture(autouse=True)
def answering(github: GitHubStub) -> Iterator[None]:
    yield
    github.set_outage(None)


def config(api_url: str) -> PipelineConfig:
    return sample_config_with_github(api_url=api_url)


def check(api_url: str, token: str | None = TOKEN) -> GitHubCheck:
    return check_github(config(api_url), token_of=lambda _: token, session=requests.Session(), now=NOW)


def never_in(report: GitHubCheck, token: str) -> None:
    assert token not in repr(asdict(report))


def test_github_answering_with_the_token_accepted(github: GitHubStub) -> None:
    report = check(github.url)
    assert (report.reachable, report.ok, report.status, report.error) == (True, True, 200, None)
    assert (report.pipeline, report.repo, report.api_url, report.checked_at) == (
        "sentiment-service",
        config(github.url).repo,
        github.url,
        NOW,
    )
    assert report.permissions is not None
    assert report.permissions["push"]
    assert not report.permissions["admin"]
    assert report.rate_limit is not None
    assert report.rate_limit.limit == RATE_LIMIT
    assert report.rate_limit.remaining is not None
    assert 0 < report.rate_limit.remaining < RATE_LIMIT
    # The stand-in's window is the current hour of the wall clock
    assert report.rate_limit.reset is not None
    assert 0 < report.rate_limit.reset - time.time() <= 3600
    never_in(report, TOKEN)


def test_a_refused_token_is_reachable_but_not_ok(github: GitHubStub) -> None:
    report = check(github.url, token="ghp_revoked")
    assert (report.reachable, report.ok, report.status) == (True, False, 401)
    assert report.error is not None
    assert "refused the pipeline's token" in report.error
    assert "Bad credentials" in report.error
    never_in(report, "ghp_revoked")


def test_an_outage_answers_its_status(github: GitHubStub) -> None:
    github.set_outage(503)
    report = check(github.url)
    assert (report.reachable, report.ok, report.status) == (True, False, 503)
    assert report.error is not None
    assert "HTTP 503" in report.error


def test_nothing_listening_is_unreachable() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    report = check(f"http://127.0.0.1:{port}")
    assert (report.reachable, report.ok, report.status) == (False, False, None)
    assert report.error is not None
    assert report.error.startswith("GitHub did not answer: GET /repos/")


def test_no_token_or_an_unreadable_one_is_said_without_calling_github(github: GitHubStub) -> None:
    before = len(github.requests)
    none = check(github.url, token=None)
    assert (none.reachable, none.ok) == (False, False)
    assert none.error is not None
    assert "names no github.token_secret_id" in none.error

    def unreadable(_: PipelineConfig) -> str:
        raise TokenUnavailable("rp/github/api/sentiment-service: secret not found")

    report = check_github(config(github.url), token_of=unreadable, session=requests.Session(), now=NOW)
    assert (
        report.error
        == "the pipeline's token cannot be read: rp/github/api/sentiment-service: secret not found"
    )
    assert len(github.requests) == before
