"""The execution input: nothing in it can grant a bypass; anything unexpected is refused (fail closed)."""

from __future__ import annotations

from typing import Any

import pytest

from promotion.errors import InvalidExecutionInput
from promotion.models.execution import ExecutionInput, parse_execution_input
from promotion.models.steps import LoadPipelineRequest
from promotion.runtime import parse_request
from tests.support.pipelines import github_push_sha

SHA = github_push_sha()


def valid_input(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "pipeline": "sentiment-service",
        "sha": SHA,
        "attempt": 1,
        "trigger": {"source": "cli", "requested_by": "dev@example.com"},
    }
    document.update(changes)
    return document


def test_a_valid_input_parses() -> None:
    parsed = parse_execution_input(valid_input(commit={"message": "Bump requests", "author_login": "x"}))
    assert parsed == ExecutionInput.model_validate(
        valid_input(commit={"message": "Bump requests", "author_login": "x"})
    )
    assert parsed.attempt == 1
    assert parsed.commit is not None
    assert parsed.commit.verified is False  # a claim unless a verified source says otherwise


def test_attempt_defaults_to_one_and_payload_round_trips() -> None:
    document = valid_input()
    del document["attempt"]
    parsed = parse_execution_input(document)
    assert parsed.attempt == 1
    assert parse_execution_input(parsed.to_payload()) == parsed


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (valid_input(bypass=True), "bypass"),
        (valid_input(approval_path="bypass"), "approval_path"),
        (valid_input(targets={"prod": ["svc-other-prod-api"]}), "targets"),
        (
            valid_input(trigger={"source": "cli", "requested_by": "dev", "approved_by": "boss"}),
            "trigger.approved_by",
        ),
        (valid_input(commit={"message": "m", "dependabot": True}), "commit.dependabot"),
    ],
)
def test_any_extra_key_is_rejected(document: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input(document)
    assert f"{field}: Extra inputs are not permitted" in str(caught.value)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (valid_input(sha=SHA[:12]), "sha"),
        (valid_input(sha=SHA.upper()), "sha"),
        (valid_input(pipeline="../other"), "pipeline"),
        (valid_input(attempt=0), "attempt"),
        (valid_input(trigger={"source": "email", "requested_by": "dev"}), "trigger.source"),
        (valid_input(trigger={"source": "cli", "requested_by": ""}), "trigger.requested_by"),
        ({"pipeline": "sentiment-service", "sha": SHA}, "trigger"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input(document)
    message = str(caught.value)
    assert message.startswith(f"{field}: ")
    assert "\n" not in message


def test_the_load_step_refuses_an_input_with_a_bypass_flag() -> None:
    # The first state validates $$.Execution.Input through the step's request model.
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_request({"input": valid_input(bypass=True)}, LoadPipelineRequest)
    assert str(caught.value) == "LoadPipelineRequest: input.bypass: Extra inputs are not permitted"
    assert parse_request({"input": valid_input()}, LoadPipelineRequest).input.sha == SHA
