"""``promote graph``: the diagram is the ASL's, state for state and edge for edge, and the one in
docs/architecture.md is the one the ASL generates today."""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest
import yaml

from promote_cli import graph
from tests.support.paths import REPO_ROOT

ASL = graph.load_definition()

# A definition with what the promotion's ASL does not use today: Parallel, Map, End, nested Choice rules.
NESTED: dict[str, Any] = {
    "StartAt": "Fan out",
    "States": {
        "Fan out": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                {
                    "StartAt": "Right",
                    "States": {
                        "Right": {"Type": "Wait", "Seconds": 1, "Next": "Right done"},
                        "Right done": {"Type": "Succeed"},
                    },
                },
            ],
            "Catch": [{"ErrorEquals": ["Boom", "Bang"], "Next": "Broken"}],
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Item",
                "States": {"Item": {"Type": "Task", "Resource": "x", "End": True}},
            },
            "Next": "Pick",
        },
        "Pick": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.n", "NumericGreaterThanEquals": 2},
                        {"Not": {"Variable": "$.skip", "IsPresent": True}},
                    ],
                    "Next": "Finish",
                },
                {"Variable": "$.a", "StringEqualsPath": "$.b", "Next": "Broken"},
            ],
            "Default": "Finish",
        },
        "Finish": {"Type": "Pass", "End": True},
        "Broken": {"Type": "Fail", "Error": "Broken"},
    },
}


def labelled(built: graph.Graph) -> set[tuple[str, str, str, str]]:
    names = {node.id: node.label for node in built.nodes}
    return {(names[e.source], names[e.target], e.kind, e.label) for e in built.edges}


def test_the_template_deploys_the_file_the_diagram_is_drawn_from() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((REPO_ROOT / "template.yaml").read_text(), Loader=Loader)  # noqa: S506 - SafeLoader
    uri = template["Resources"]["PromotionStateMachine"]["Properties"]["DefinitionUri"]
    assert REPO_ROOT / uri == graph.ASL_FILE


def test_every_state_is_a_node_under_its_own_name_and_every_transition_an_edge() -> None:
    built = graph.build_graph(ASL)
    assert [node.label for node in built.nodes if node.kind not in ("start", "end")] == list(ASL["States"])
    expected: set[tuple[str, str, str, str]] = {("start", ASL["StartAt"], "start", "")}
    for name, state in ASL["States"].items():
        if "Next" in state:
            expected.add((name, state["Next"], "next", ""))
        for rule in state.get("Choices", []):
            expected.add((name, rule["Next"], "choice", graph.condition(rule)))
        if "Default" in state:
            expected.add((name, state["Default"], "default", "otherwise"))
        for catch in state.get("Catch", []):
            expected.add((name, catch["Next"], "catch", ", ".join(catch["ErrorEquals"])))
        if state["Type"] == "Succeed" or state.get("End"):
            expected.add((name, "end", "end", ""))
    assert labelled(built) == expected
    assert len(built.edges) == len(expected)


def test_a_catch_edge_names_the_errors_it_catches_and_a_choice_edge_its_condition() -> None:
    edges = labelled(graph.build_graph(ASL))
    assert ("Wait for approval", "Approval timed out", "catch", "States.Timeout") in edges
    assert ("Wait for approval", "Close approval request", "catch", "States.ALL") in edges
    assert ("Going to prod?", "Record success", "choice", '$.settings.target == "preprod"') in edges
    assert ("Bake complete?", "Bake", "default", "otherwise") in edges


def test_parallel_branches_and_map_items_are_clusters_joined_before_next() -> None:
    built = graph.build_graph(NESTED)
    edges = labelled(built)
    clusters = {cluster.id: cluster.label for cluster in built.clusters}
    in_cluster = {node.label: clusters.get(node.cluster or "") for node in built.nodes}
    assert in_cluster["Left"] == "Fan out: branch 1"
    assert in_cluster["Right done"] == "Fan out: branch 2"
    assert in_cluster["Item"] == "Each: each item"
    assert {
        ("Fan out", "Left", "branch", "branch 1"),
        ("Fan out", "Right", "branch", "branch 2"),
        ("Left", "Fan out done", "next", ""),
        ("Right done", "Fan out done", "next", ""),
        ("Fan out done", "Each", "next", ""),
        ("Fan out", "Broken", "catch", "Boom, Bang"),
        ("Each", "Item", "branch", "each item"),
        ("Item", "Each done", "next", ""),
        ("Each done", "Pick", "next", ""),
        ("Pick", "Finish", "choice", "($.n >= 2) and (not ($.skip is present))"),
        ("Pick", "Broken", "choice", "$.a == $.b"),
        ("Finish", "end", "end", ""),
    } <= edges


def test_mermaid_quotes_every_label_and_uses_no_reserved_id() -> None:
    text = graph.render(NESTED, "mermaid")
    assert text.startswith("flowchart TD\n")
    ids = {node.id for node in graph.build_graph(NESTED).nodes}
    assert "end" not in ids
    assert all(re.fullmatch(r"s_[a-z0-9_]+", node_id) for node_id in ids)
    assert 'subgraph s_fan_out_branch_1["Fan out: branch 1"]' in text
    assert '-.->|"Boom, Bang"|' in text
    # a quote inside a label becomes a single quote, so the label's own quotes still delimit it
    assert "|\"$.settings.target == 'preprod'\"|" in graph.render(ASL, "mermaid")


def test_dot_escapes_labels_and_draws_catches_dashed() -> None:
    text = graph.render(ASL, "dot")
    assert text.startswith("digraph promotion {")
    assert text.rstrip().endswith("}")
    assert 'label="$.settings.target == \\"preprod\\""' in text
    catch = next(line for line in text.splitlines() if 'label="States.Timeout"' in line)
    assert "style=dashed" in catch


def test_svg_without_graphviz_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    with pytest.raises(graph.GraphError, match=r"dot -Tsvg"):
        graph.render(ASL, "svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_is_graphviz_layout_of_the_dot() -> None:
    svg = graph.render(ASL, "svg")
    assert "<svg" in svg
    assert all(f">{name.replace('&', '&amp;')}</text>" in svg for name in ASL["States"])


def test_the_diagram_in_the_architecture_doc_is_the_one_the_asl_generates() -> None:
    text = graph.DOC_FILE.read_text()
    assert graph.doc_with_diagram(text, ASL) == text, (
        "docs/architecture.md's state machine diagram is out of date: run `make diagrams`"
    )


def test_a_changed_asl_changes_the_doc_block() -> None:
    text = graph.DOC_FILE.read_text()
    changed = {**ASL, "States": {**ASL["States"], "Promoted": {"Type": "Pass", "End": True}}}
    rewritten = graph.doc_with_diagram(text, changed)
    assert rewritten != text
    assert graph.doc_with_diagram(rewritten, ASL) == text


def test_a_transition_to_no_state_is_a_clear_error() -> None:
    broken = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}
    with pytest.raises(graph.GraphError, match="A goes to 'Nowhere', which is not a state of its machine"):
        graph.build_graph(broken)
