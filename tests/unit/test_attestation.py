"""Execution-input attestation: only the webhook's HMAC turns claims into verified facts."""

from __future__ import annotations

from promotion.attestation import attest, is_attested, trusted_input
from promotion.models.execution import CommitInfo, ExecutionInput, Fact, GitHubFacts, Trigger

KEY = b"k" * 48
SHA = "0123456789abcdef0123456789abcdef01234567"


def webhook_input() -> ExecutionInput:
    return ExecutionInput(
        pipeline="sentiment-service",
        sha=SHA,
        trigger=Trigger(
            source="webhook",
            requested_by="GitHub push (octocat)",
            github=GitHubFacts(
                event="push",
                repo=Fact(value="example-org/sentiment-service", provenance="verified"),
                sha=Fact(value=SHA, provenance="verified"),
                delivery_id=Fact(value="d-1", provenance="claimed"),
            ),
        ),
        commit=CommitInfo(author_login="octocat", author_email="o@example.com", verified=True),
    )


def test_an_attested_input_is_trusted_as_it_is() -> None:
    attested = attest(webhook_input(), KEY)
    assert is_attested(attested, KEY)
    assert trusted_input(attested, KEY) == attested


def test_an_unattested_input_loses_every_verified_fact() -> None:
    trusted = trusted_input(webhook_input(), KEY)
    assert trusted.commit is not None
    assert trusted.commit.verified is False
    assert trusted.commit.author_login == "octocat"  # still shown, as a claim
    github = trusted.trigger.github
    assert github is not None
    assert {github.repo.provenance, github.sha.provenance, github.delivery_id.provenance} == {"claimed"}


def test_any_change_after_attesting_breaks_it() -> None:
    attested = attest(webhook_input(), KEY)
    tampered = attested.model_copy(update={"commit": CommitInfo(author_login="mallory", verified=True)})
    assert not is_attested(tampered, KEY)
    assert trusted_input(tampered, KEY).commit == CommitInfo(author_login="mallory", verified=False)
    assert not is_attested(attested, b"another key" * 4)


def test_a_malformed_attestation_is_refused_by_the_schema() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        webhook_input().model_validate({**webhook_input().to_payload(), "attestation": "not-hex"})
