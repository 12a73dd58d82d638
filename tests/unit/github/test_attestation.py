"""Execution-input attestation: only the webhook's HMAC turns claims into verified facts."""

from __future__ import annotations

from promotion.github.attestation import attest, is_attested, state_machine_of, trusted_input
from promotion.models.execution import CommitInfo, ExecutionInput, Fact, GitHubFacts, Trigger

KEY = b"k" * 48
SHA = "0123456789abcdef0123456789abcdef01234567"
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:release-promotion-promotion"
NAME = "sentiment-service-0123456789ab-a1"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:release-promotion-promotion:" + NAME
HERE = {"execution_arn": EXECUTION, "execution_name": NAME}


def attested_here(execution_input: ExecutionInput, key: bytes = KEY) -> ExecutionInput:
    return attest(execution_input, key, execution_name=NAME, state_machine_arn=STATE_MACHINE)


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
    attested = attested_here(webhook_input())
    assert is_attested(attested, KEY, **HERE)
    assert trusted_input(attested, KEY, **HERE) == attested


def test_an_unattested_input_loses_every_verified_fact() -> None:
    trusted = trusted_input(webhook_input(), KEY, **HERE)
    assert trusted.commit is not None
    assert trusted.commit.verified is False
    assert trusted.commit.author_login == "octocat"  # still shown, as a claim
    github = trusted.trigger.github
    assert github is not None
    assert {github.repo.provenance, github.sha.provenance, github.delivery_id.provenance} == {"claimed"}


def test_any_change_after_attesting_breaks_it() -> None:
    attested = attested_here(webhook_input())
    tampered = attested.model_copy(update={"commit": CommitInfo(author_login="mallory", verified=True)})
    assert not is_attested(tampered, KEY, **HERE)
    assert trusted_input(tampered, KEY, **HERE).commit == CommitInfo(author_login="mallory", verified=False)
    assert not is_attested(attested, b"another key" * 4, **HERE)


def test_an_attested_input_replayed_under_another_execution_name_is_downgraded_to_claims() -> None:
    # Given an input the webhook attested for execution NAME, copied from its history by someone who can
    # start executions, and started under a name of their choosing (attempt 2 of the same commit)
    attested = attested_here(webhook_input())
    other_name = "sentiment-service-0123456789ab-a2"
    elsewhere = {"execution_arn": EXECUTION.replace(NAME, other_name), "execution_name": other_name}

    # Then its verified facts count as claims there
    assert not is_attested(attested, KEY, **elsewhere)
    trusted = trusted_input(attested, KEY, **elsewhere)
    assert trusted.commit is not None
    assert trusted.commit.verified is False
    assert trusted.trigger.github is not None
    assert trusted.trigger.github.sha.provenance == "claimed"


def test_an_attested_input_replayed_on_another_state_machine_is_downgraded_to_claims() -> None:
    attested = attested_here(webhook_input())
    copy_machine = "arn:aws:states:us-east-1:123456789012:execution:my-own-copy:" + NAME
    assert not is_attested(attested, KEY, execution_arn=copy_machine, execution_name=NAME)
    # An execution ARN that does not end in the name it is given is no identity at all
    assert not is_attested(attested, KEY, execution_arn=EXECUTION, execution_name=NAME + "x")
    assert not is_attested(attested, KEY, execution_arn="not-an-arn", execution_name=NAME)


def test_the_state_machine_of_an_execution_arn() -> None:
    assert state_machine_of(EXECUTION, NAME) == STATE_MACHINE
    assert state_machine_of(EXECUTION, "other") is None
    assert state_machine_of("arn:aws:states:us-east-1:1:stateMachine:x", "x") is None


def test_a_malformed_attestation_is_refused_by_the_schema() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        webhook_input().model_validate({**webhook_input().to_payload(), "attestation": "not-hex"})
