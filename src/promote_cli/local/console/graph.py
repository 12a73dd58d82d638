"""The promotion as a graph: its states and transitions, read from the state machine's own definition.

The definition is the one the execution runs (``DescribeStateMachine``, created from
statemachine/promotion.asl.json), so the drawing can never drift from the ASL. Layout is the browser's
(the vendored dagre); this module says only what is connected to what, and why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

TransitionKind = Literal["next", "choice", "default", "catch"]
# Comparison operators of a Choice rule, as they read on an edge.
_COMPARISONS = {
    "Equals": "==",
    "EqualsPath": "==",
    "LessThan": "<",
    "LessThanPath": "<",
    "LessThanEquals": "<=",
    "LessThanEqualsPath": "<=",
    "GreaterThan": ">",
    "GreaterThanPath": ">",
    "GreaterThanEquals": ">=",
    "GreaterThanEqualsPath": ">=",
    "Matches": "matches",
}


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
    kind: TransitionKind
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


class DefinitionError(ValueError):
    """The definition is not an ASL state machine this console can draw."""


def state_graph(definition: str | Mapping[str, Any]) -> StateGraph:
    """The top-level states of an ASL definition (JSON text or parsed) and every way out of each."""
    document = json.loads(definition) if isinstance(definition, str) else definition
    states = document.get("States") if isinstance(document, Mapping) else None
    if not isinstance(states, Mapping) or not isinstance(document.get("StartAt"), str):
        raise DefinitionError("not an ASL definition: StartAt and States are required")
    nodes: list[StateNode] = []
    transitions: list[Transition] = []
    for name, state in states.items():
        kind = str(state.get("Type", ""))
        nodes.append(
            StateNode(
                name=name,
                type=kind,
                comment=str(state.get("Comment", "")),
                terminal=bool(state.get("End")) or kind in ("Succeed", "Fail"),
            )
        )
        transitions.extend(_ways_out(name, state))
    names = {node.name for node in nodes}
    dangling = sorted({t.target for t in transitions} - names)
    if document["StartAt"] not in names or dangling:
        raise DefinitionError(
            f"transitions to states the definition lacks: {[document['StartAt'], *dangling]}"
        )
    return StateGraph(start_at=document["StartAt"], states=tuple(nodes), transitions=tuple(transitions))


def _ways_out(name: str, state: Mapping[str, Any]) -> list[Transition]:
    found: list[Transition] = []
    for rule in state.get("Choices") or []:
        found.append(Transition(name, str(rule["Next"]), "choice", choice_label(rule)))
    if state.get("Default"):
        found.append(Transition(name, str(state["Default"]), "default", "otherwise"))
    if state.get("Next"):
        found.append(Transition(name, str(state["Next"]), "next", ""))
    for catcher in state.get("Catch") or []:
        errors = ", ".join(str(error) for error in catcher.get("ErrorEquals") or [])
        found.append(Transition(name, str(catcher["Next"]), "catch", errors))
    return found


def choice_label(rule: Mapping[str, Any]) -> str:
    """A Choice rule as it reads on its edge: ``$.bake.done == true``, ``not (...)``, ``... and ...``."""
    if "And" in rule:
        return " and ".join(f"({choice_label(inner)})" for inner in rule["And"])
    if "Or" in rule:
        return " or ".join(f"({choice_label(inner)})" for inner in rule["Or"])
    if "Not" in rule:
        return f"not ({choice_label(rule['Not'])})"
    variable = str(rule.get("Variable", ""))
    for key, value in rule.items():
        if key in ("Variable", "Next"):
            continue
        if key.startswith("Is"):
            return f"{variable} {key[2:].lower()}" if value else f"{variable} not {key[2:].lower()}"
        for suffix, operator in sorted(_COMPARISONS.items(), key=lambda item: -len(item[0])):
            if key.endswith(suffix):
                return f"{variable} {operator} {json.dumps(value)}"
    return variable
