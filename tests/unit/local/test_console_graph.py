"""The console's graph, read from the promotion's own ASL file."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promote_cli.graph import GraphError, condition
from promote_cli.local.console.graph import state_graph
from tests.support.paths import REPO_ROOT

ASL = REPO_ROOT / "statemachine" / "promotion.asl.json"


def test_the_graph_has_every_state_and_every_way_out_of_each() -> None:
    definition = json.loads(ASL.read_text())

    graph = state_graph(ASL.read_text())

    assert graph.start_at == definition["StartAt"]
    assert [state.name for state in graph.states] == list(definition["States"])
    for name, state in definition["States"].items():
        targets = {t.target for t in graph.transitions if t.source == name}
        expected = {state.get("Next"), state.get("Default")} | {c["Next"] for c in state.get("Catch", [])}
        expected |= {rule["Next"] for rule in state.get("Choices", [])}
        assert targets == expected - {None}, name
    terminal = {state.name for state in graph.states if state.terminal}
    assert terminal == {
        n for n, s in definition["States"].items() if s["Type"] in ("Succeed", "Fail") or s.get("End")
    }


def test_transitions_say_why_they_are_taken() -> None:
    graph = state_graph(ASL.read_text())
    out_of = {(t.source, t.target): t for t in graph.transitions}

    assert out_of[("Bake complete?", "Record success")].label == "$.bake.done == true"
    assert out_of[("Bake complete?", "Bake")].kind == "default"
    assert out_of[("Wait for approval", "Approval timed out")].kind == "catch"
    assert out_of[("Wait for approval", "Approval timed out")].label == "States.Timeout"
    assert out_of[("Load pipeline config", "Fetch artifact")].kind == "next"


def test_choice_transitions_read_as_the_conditions_promote_graph_draws() -> None:
    rules: list[dict[str, Any]] = [
        {"Variable": "$.n", "NumericGreaterThanEquals": 3, "Next": "Done"},
        {"Variable": "$.s", "StringEqualsPath": "$.t", "Next": "Done"},
        {"Variable": "$.x", "IsPresent": False, "Next": "Done"},
        {
            "And": [{"Variable": "$.a", "BooleanEquals": True}, {"Not": {"Variable": "$.b", "IsNull": True}}],
            "Next": "Done",
        },
    ]
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {"Type": "Choice", "Choices": rules, "Default": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }

    labels = [t.label for t in state_graph(definition).transitions if t.kind == "choice"]

    assert labels == [condition(rule) for rule in rules]
    assert labels == [
        "$.n >= 3",
        "$.s == $.t",
        "$.x is not present",
        "($.a == true) and (not ($.b is null))",
    ]


def test_a_parallel_or_map_state_is_one_node_whose_way_out_leaves_the_state() -> None:
    branch = {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": True}}}
    definition = {
        "StartAt": "Fan out",
        "States": {
            "Fan out": {
                "Type": "Parallel",
                "Comment": "both at once",
                "Branches": [branch, branch],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Broken"}],
                "Next": "Each",
            },
            "Each": {"Type": "Map", "ItemProcessor": branch, "End": True},
            "Broken": {"Type": "Fail"},
        },
    }

    graph = state_graph(json.dumps(definition))

    assert graph.start_at == "Fan out"
    assert [(s.name, s.type, s.comment, s.terminal) for s in graph.states] == [
        ("Fan out", "Parallel", "both at once", False),
        ("Each", "Map", "", True),
        ("Broken", "Fail", "", True),
    ]
    assert [(t.source, t.target, t.kind, t.label) for t in graph.transitions] == [
        ("Fan out", "Each", "next", ""),
        ("Fan out", "Broken", "catch", "States.ALL"),
    ]


def test_a_definition_that_is_not_asl_or_leads_nowhere_is_refused() -> None:
    with pytest.raises(GraphError, match="StartAt and States are required"):
        state_graph({"States": {}})
    with pytest.raises(GraphError, match="Nowhere"):
        state_graph({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}})
