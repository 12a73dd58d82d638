"""The promotion as the console draws it: its top-level states and the transitions between them.

The definition is the one the execution runs (``DescribeStateMachine``, created from
statemachine/promotion.asl.json), so the drawing can never drift from the ASL. Reading the ASL is
:func:`promote_cli.graph.build_graph`'s, the same reading ``promote graph`` draws; this module only says it
in the console's terms. Layout is the browser's (the vendored dagre).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from promote_cli.graph import EdgeKind, build_graph

# Edges of build_graph the console does not draw: its start and end markers, and the way into a Parallel
# state's branches or a Map state's items (the console shows the Parallel or Map state as one node).
_NOT_DRAWN: frozenset[EdgeKind] = frozenset({"start", "end", "branch"})


@dataclass(frozen=True)
class StateNode:
    name: str
    type: str
    comment: str
    # The state ends the execution (End: true, Succeed or Fail).
    terminal: bool


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    kind: EdgeKind  # "next", "choice", "default" or "catch"
    label: str


@dataclass(frozen=True)
class StateGraph:
    start_at: str
    states: tuple[StateNode, ...]
    transitions: tuple[Transition, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "start_at": self.start_at,
            "states": [asdict(state) for state in self.states],
            "transitions": [asdict(transition) for transition in self.transitions],
        }


def state_graph(definition: str | Mapping[str, Any]) -> StateGraph:
    """The top-level states of an ASL definition (JSON text or parsed) and every way out of each.

    Raises :class:`promote_cli.graph.GraphError` for a definition that is not ASL or leads nowhere.
    """
    graph = build_graph(json.loads(definition) if isinstance(definition, str) else definition)
    top_level = [node for node in graph.nodes if node.cluster is None]
    states = [node for node in top_level if node.kind not in ("start", "end", "join")]
    name_of = {node.id: node.label for node in states}
    # What leaves a Parallel or Map state's join (its Next, its End) leaves the state itself.
    name_of |= {node.id: name_of[node.gathers] for node in top_level if node.gathers is not None}
    drawn = [
        edge
        for edge in graph.edges
        if edge.kind not in _NOT_DRAWN and edge.source in name_of and edge.target in name_of
    ]
    ending = {name_of[edge.source] for edge in graph.edges if edge.kind == "end"}
    start = next(edge.target for edge in graph.edges if edge.kind == "start")
    return StateGraph(
        start_at=name_of[start],
        states=tuple(
            StateNode(node.label, node.kind, node.comment, node.label in ending or node.kind == "Fail")
            for node in states
        ),
        transitions=tuple(
            Transition(name_of[edge.source], name_of[edge.target], edge.kind, edge.label) for edge in drawn
        ),
    )
