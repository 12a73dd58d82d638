"""The fault-injection matrix of docs/fault-matrix.md on the real state machine and handlers.

Every Task state x {transient error then success, permanent error, timeout}: the fault is injected at
the Lambda level of the local plane (time scale 0.1), the promotion runs to its end, and what it left
behind (terminal status and error, the state after the fault, what preprod and prod serve, locks, the
frozen flag, the notices) is compared with the expected table, which is one Python structure
(tests/support/fault_matrix.py) that also renders the doc.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from promote_cli.local.plane import LocalControlPlane
from tests.support.fault_matrix import (
    APPROVAL_TIMEOUT_ERROR,
    DOC_FILE,
    EXPECTED,
    KINDS,
    Cell,
    MatrixRunner,
    ambiguous_targets,
    deployed_definition,
    environment_store,
    load_definition,
    matrix_pipeline_document,
    next_state,
    render_block,
    state_targets,
    task_states,
)
from tests.support.faults import AwsFault, aws_fault
from tests.support.promotion import (
    decide_via_link,
    history,
    outbox,
    publish_and_start,
    wait_for_approval_links,
    wait_for_end,
)


# ---- the table (no plane) -------------------------------------------------------------------------
def test_the_matrix_has_one_cell_per_task_state_and_fault_kind() -> None:
    wanted = [(state, kind) for state in task_states(load_definition()) for kind in KINDS]
    assert sorted((cell.state, cell.kind) for cell in EXPECTED) == sorted(wanted)


def test_the_committed_doc_shows_the_expected_table() -> None:
    assert render_block() in DOC_FILE.read_text(), (
        "regenerate it: .venv/bin/python bench/fault_matrix.py --write-doc"
    )


def test_next_state_applies_the_first_matching_retrier_then_the_catch() -> None:
    definition = {
        "States": {
            "Step": {
                "Type": "Task",
                "Next": "Ok",
                "Retry": [
                    {"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2},
                    {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5},
                ],
                "Catch": [
                    {"ErrorEquals": ["States.Timeout"], "Next": "Timed out"},
                    {"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"},
                ],
            }
        }
    }
    assert next_state(definition, "Step", "Lambda.ServiceException", failures=2) == "Ok"
    # The first matching retrier is the only one applied: the States.ALL one never sees this error.
    assert next_state(definition, "Step", "Lambda.ServiceException", failures=3) == "Failed"
    assert next_state(definition, "Step", "InjectedFault", failures=5) == "Ok"
    assert next_state(definition, "Step", "InjectedFault", failures=None) == "Failed"
    # States.TaskFailed matches every error but the States.* ones.
    assert next_state(definition, "Step", "States.Timeout", failures=None) == "Timed out"


# ---- the ASL on the plane -------------------------------------------------------------------------
def test_every_task_state_maps_to_a_control_function_and_a_payload_filter(plane: LocalControlPlane) -> None:
    targets = state_targets(deployed_definition(plane))
    functions = plane.runtime.control_functions()
    assert sorted(targets) == sorted(task_states(load_definition()))
    assert all(target.function_name in functions for target in targets.values())
    # One function serves several states; the payload tells them apart, except the two rollbacks, which
    # never run in one execution (preprod's ends the promotion before prod is touched).
    assert ambiguous_targets(targets) == [("Roll back preprod", "Roll back prod")]
    gate = {
        "pipeline": "p",
        "environment": "prod",
        "mode": "gate",
        "execution_name": "e",
        "deployment": {"environment": "prod", "functions": []},
        "ledger_key": "k",
    }
    assert targets["Check alarms during rollout"].matches(gate)
    assert not targets["Check prod alarms"].matches(gate)


# ---- the matrix -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runner(plane: LocalControlPlane) -> MatrixRunner:
    return MatrixRunner(plane)


@pytest.mark.parametrize("cell", EXPECTED, ids=[cell.label for cell in EXPECTED])
def test_fault_matrix_cell(runner: MatrixRunner, cell: Cell) -> None:
    # Given the path that reaches the cell's state, and the fault injected into that state
    # When the promotion runs to its end
    result = runner.run(cell)

    # Then the fault really hit that state, and the promotion ended as the table says
    if cell.error != APPROVAL_TIMEOUT_ERROR:
        assert result.fault_hits >= 1, f"the fault never fired: {result.actual}"
    assert result.actual == cell.expected, "\n".join(result.differences())


# ---- a rollback that fails twice, then succeeds -----------------------------------------------------
@pytest.fixture
def all_at_once_pipeline(plane: LocalControlPlane) -> Iterator[str]:
    """A pipeline whose prod deploy moves the aliases at once, so a failing canary leaves prod moved."""
    name = plane.put_pipeline(
        matrix_pipeline_document("rollback-retried", rollout={"strategy": "all_at_once"}),
        source="test_fault_matrix",
    )
    store = environment_store(plane)
    yield name
    assert not store.get(name, "prod").frozen


def results_in(events: list[dict[str, Any]], state: str) -> list[dict[str, Any]]:
    """The Lambda results (succeeded or failed) of every attempt of ``state``."""
    current, found = "", []
    for event in events:
        if event["type"].endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
        elif current == state and event["type"] in ("LambdaFunctionSucceeded", "LambdaFunctionFailed"):
            found.append(event)
    return found


def test_a_rollback_that_fails_twice_then_succeeds_ends_on_the_previous_version(
    plane: LocalControlPlane, all_at_once_pipeline: str
) -> None:
    # Given a build that fails the canary after prod's aliases moved to it, and prod's api alias refusing
    # the first two moves back to the version it served before (the rollback's moves, not the deploy's)
    promotion = publish_and_start(plane, variant="fails-in-prod", pipeline=all_at_once_pipeline)
    before = {value["function"]: value["version"] for value in promotion.before["prod"].values()}
    api = promotion.before["prod"]["api"]
    fault = AwsFault(
        "lambda",
        "UpdateAlias",
        when=lambda params: (
            (params["FunctionName"], params["FunctionVersion"]) == (api["function"], api["version"])
        ),
        times=2,
    )

    # When it is approved, fails its canary and is rolled back
    with aws_fault(fault):
        links = wait_for_approval_links(plane, promotion)
        assert decide_via_link(links[0], "approve", "ok").status_code == 200
        described = wait_for_end(plane, promotion.execution_arn, timeout=90)

    # Then the third rollback attempt put prod back: the canary failure is the named cause, prod serves
    # exactly what it served before, nothing is frozen or locked, and the team is told prod was rolled back
    assert described["status"] == "FAILED"
    assert described["error"] == "CanaryFailed"
    assert fault.hits == 2
    events = history(plane, promotion.execution_arn)
    (deployed,) = results_in(events, "Deploy to prod")
    new_versions = json.loads(deployed["lambdaFunctionSucceededEventDetails"]["output"])["functions"]
    assert {f["function_name"]: f["version"] for f in new_versions} != before  # prod had moved
    attempts = results_in(events, "Roll back prod")
    assert [event["type"] for event in attempts] == [
        "LambdaFunctionFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionSucceeded",
    ]
    assert "Freeze prod" not in promotion.states()
    assert promotion.after()["prod"] == promotion.before["prod"]
    state = environment_store(plane).get(all_at_once_pipeline, "prod")
    assert (state.frozen, state.lock_owner) == (False, "")
    (notice,) = [
        m
        for m in outbox(plane)
        if m["recipient"] == "team@example.com" and promotion.sha[:12] in m["subject"]
    ]
    assert "CanaryFailed; prod rolled back" in notice["subject"]
