"""The console's graph, read from the promotion's own ASL file."""

from __future__ import annotations

import json

import pytest

from promote_cli.local.console.graph import DefinitionError, choice_label, state_graph
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


def test_choice_rules_read_as_conditions() -> None:
    assert choice_label({"Variable": "$.n", "NumericGreaterThanEquals": 3}) == "$.n >= 3"
    assert choice_label({"Variable": "$.s", "StringEqualsPath": "$.t"}) == '$.s == "$.t"'
    assert choice_label({"Variable": "$.x", "IsPresent": False}) == "$.x not present"
    rule = {"And": [{"Variable": "$.a", "BooleanEquals": True}, {"Not": {"Variable": "$.b", "IsNull": True}}]}
    assert choice_label(rule) == "($.a == true) and (not ($.b null))"


def test_a_definition_that_is_not_asl_or_leads_nowhere_is_refused() -> None:
    with pytest.raises(DefinitionError):
        state_graph({"States": {}})
    with pytest.raises(DefinitionError, match="Nowhere"):
        state_graph({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}})
