"""Every log line of a step names its promotion: execution (correlation id), pipeline, commit, repository."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from promotion.correlation import Correlation, correlation_of, execution_name_of
from promotion.models.steps import (
    FetchArtifactRequest,
    LoadPipelineRequest,
    NotifyRequest,
    ShiftTrafficRequest,
)
from promotion.observability import correlate, correlate_repository, logger
from promotion.pipeline.cleanup import ExecutionStatusChange
from promotion.runtime import parse_request
from tests.support.log_lines import captured_log_lines
from tests.support.paths import REPO_ROOT

ASL = json.loads((REPO_ROOT / "statemachine" / "promotion.asl.json").read_text())
SHA = "0123456789abcdef0123456789abcdef01234567"
NAME = "sentiment-service-0123456789ab-a2"
ARN = f"arn:aws:states:eu-west-1:111111111111:execution:promotion:{NAME}"


def _tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from _tasks(branch["States"])


@pytest.mark.parametrize("name", sorted(name for name, _ in _tasks(ASL["States"])))
def test_every_task_passes_its_execution_to_the_function(name: str) -> None:
    state = dict(_tasks(ASL["States"]))[name]
    parameters = state["Parameters"].get("Payload", state["Parameters"])
    sources = set(parameters.values())
    assert sources & {"$$.Execution.Name", "$$.Execution.Id"}, f"{name} does not name its execution"


def test_a_step_names_its_promotion_from_the_execution_name_alone() -> None:
    request = ShiftTrafficRequest.model_validate(
        {
            "pipeline": "sentiment-service",
            "deployment": {"environment": "prod", "functions": []},
            "execution_name": NAME,
        }
    )
    assert correlation_of(request) == Correlation(NAME, "sentiment-service", "0123456789ab", None)


def test_the_full_commit_and_the_repository_come_from_the_payload_when_it_has_them() -> None:
    request = NotifyRequest.model_validate(
        {
            "outcome": "promoted",
            "execution_arn": ARN,
            "execution_name": NAME,
            "promotion": {
                "pipeline": "sentiment-service",
                "sha": SHA,
                "artifact": {"repo": "acme/sentiment"},
            },
        }
    )
    assert correlation_of(request) == Correlation(NAME, "sentiment-service", SHA, "acme/sentiment")


def test_the_first_states_name_their_execution_too() -> None:
    loaded = LoadPipelineRequest.model_validate(
        {
            "execution_name": NAME,
            "input": {
                "pipeline": "sentiment-service",
                "sha": SHA,
                "attempt": 2,
                "trigger": {"source": "cli", "requested_by": "ops"},
            },
        }
    )
    fetched = FetchArtifactRequest(pipeline="sentiment-service", sha=SHA, execution_name=NAME)
    assert (
        correlation_of(loaded).log_keys()
        == correlation_of(fetched).log_keys()
        == {
            "correlation_id": NAME,
            "pipeline": "sentiment-service",
            "commit": SHA,
        }
    )


def test_the_cleanup_event_names_the_execution_by_its_arn_or_name() -> None:
    change = ExecutionStatusChange.model_validate(
        {
            "executionArn": ARN,
            "stateMachineArn": "arn:aws:states:eu-west-1:1:stateMachine:p",
            "name": NAME,
            "status": "FAILED",
        }
    )
    assert correlation_of(change).execution == NAME
    assert correlation_of({"execution_arn": ARN}).execution == NAME
    assert execution_name_of("arn:aws:states:eu-west-1:1:stateMachine:p") is None


@pytest.fixture
def lines() -> Iterator[list[dict[str, Any]]]:
    with captured_log_lines() as captured:
        yield captured


def test_a_bad_payload_is_logged_under_its_execution_still(lines: list[dict[str, Any]]) -> None:
    with pytest.raises(Exception, match="ShiftTrafficRequest"):
        parse_request({"execution_name": NAME, "pipeline": "sentiment-service"}, ShiftTrafficRequest)
    logger.warning("refused")
    assert lines[-1]["correlation_id"] == NAME
    assert lines[-1]["commit"] == "0123456789ab"


def test_concurrent_requests_keep_their_own_keys_and_a_next_request_drops_the_last_ones(
    lines: list[dict[str, Any]],
) -> None:
    # Two executions' steps at once in one process (the local plane), each with its own repository lookup
    started = threading.Barrier(2)

    def step(name: str, repository: str) -> None:
        correlate(correlation_of({"execution_name": name}))
        started.wait()
        correlate_repository("other-pipeline", "acme/not-this-one")  # a config read about another pipeline
        correlate_repository(name.rsplit("-", 2)[0], repository)
        logger.info("step done")

    threads = [
        threading.Thread(target=step, args=(f"{pipeline}-0123456789ab-a1", f"acme/{pipeline}"))
        for pipeline in ("alpha", "beta")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    by_execution = {line["correlation_id"]: line for line in lines}
    assert by_execution["alpha-0123456789ab-a1"]["repository"] == "acme/alpha"
    assert by_execution["beta-0123456789ab-a1"]["repository"] == "acme/beta"

    # And a later request in this thread that names nothing carries nothing stale
    correlate(correlation_of({"execution_name": NAME}))
    correlate(Correlation())
    logger.info("unrelated")
    assert not {"pipeline", "commit", "repository"} & set(lines[-1])
    # (an HTTP function's correlation id, the API request's, lives apart: Powertools' own key)
    assert not logger.thread_safe_get_current_keys()
