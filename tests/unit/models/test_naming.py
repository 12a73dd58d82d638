"""The execution-name scheme ``{pipeline}-{sha[:12]}-a{attempt}``."""

from __future__ import annotations

import pytest

from promotion.naming import (
    MAX_EXECUTION_NAME_LENGTH,
    ExecutionName,
    execution_name,
    execution_name_prefix,
    parse_execution_name,
)
from tests.support.pipelines import github_push_sha

SHA = github_push_sha()
LONGEST_PIPELINE = "p" + "-x" * 29 + "z"  # 60 characters, the most the pipeline name pattern allows


def test_the_longest_pipeline_name_and_attempt_fit_step_functions_limit() -> None:
    assert len(LONGEST_PIPELINE) == 60
    name = execution_name(LONGEST_PIPELINE, SHA, 9999)
    assert len(name) <= MAX_EXECUTION_NAME_LENGTH
    assert name == f"{LONGEST_PIPELINE}-{SHA[:12]}-a9999"


def test_same_inputs_give_the_same_name() -> None:
    assert execution_name("sentiment-service", SHA, 1) == execution_name("sentiment-service", SHA, 1)
    assert execution_name("sentiment-service", SHA, 1) == f"sentiment-service-{SHA[:12]}-a1"


def test_a_new_attempt_or_another_commit_gets_a_new_name() -> None:
    first = execution_name("sentiment-service", SHA, 1)
    assert execution_name("sentiment-service", SHA, 2) != first
    other_commit = "f" * 40
    assert execution_name("sentiment-service", other_commit, 1) != first


@pytest.mark.parametrize(
    ("pipeline", "attempt"),
    [("sentiment-service", 1), ("a", 42), (LONGEST_PIPELINE, 9999), ("svc-2-api", 10)],
)
def test_parse_round_trips(pipeline: str, attempt: int) -> None:
    name = execution_name(pipeline, SHA, attempt)
    assert parse_execution_name(name) == ExecutionName(pipeline, SHA[:12], attempt)
    assert name.startswith(execution_name_prefix(pipeline, SHA))


@pytest.mark.parametrize(
    "name",
    [
        "manual-run",
        f"sentiment-service-{SHA[:12]}",  # no attempt
        f"sentiment-service-{SHA[:11]}-a1",  # short SHA
        f"sentiment-service-{SHA[:12].upper()}-a1",
        f"sentiment-service-{SHA[:12]}-a12345",  # attempt beyond 4 digits
        f"Sentiment-{SHA[:12]}-a1",
    ],
)
def test_names_made_elsewhere_do_not_parse(name: str) -> None:
    assert parse_execution_name(name) is None


@pytest.mark.parametrize(
    ("pipeline", "sha", "attempt", "message"),
    [
        ("Sentiment", SHA, 1, "pipeline name"),
        ("-leading-hyphen", SHA, 1, "pipeline name"),
        ("trailing-hyphen-", SHA, 1, "pipeline name"),
        (LONGEST_PIPELINE + "q", SHA, 1, "pipeline name"),
        ("", SHA, 1, "pipeline name"),
        ("sentiment-service", SHA[:12], 1, "40 lowercase hex"),
        ("sentiment-service", SHA.upper(), 1, "40 lowercase hex"),
        ("sentiment-service", "g" * 40, 1, "40 lowercase hex"),
        ("sentiment-service", SHA, 0, "outside 1..9999"),
        ("sentiment-service", SHA, 10_000, "outside 1..9999"),
        ("sentiment-service", SHA, -1, "outside 1..9999"),
    ],
)
def test_bad_inputs_are_rejected(pipeline: str, sha: str, attempt: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        execution_name(pipeline, sha, attempt)
