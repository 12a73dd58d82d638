"""The promotion state machine as a diagram, generated from the one ASL (``promote graph``).

Every state of ``statemachine/promotion.asl.json`` is a node under its own name; edges are its ``Next``, a
Choice's rules (labelled with the condition) and ``Default``, each ``Catch`` (dashed, labelled with the
errors it catches) and ``End``. A Parallel state's branches and a Map state's item processor are drawn as
clusters, entered from the state and joined at a "done" node that goes on to the state's ``Next``.

Formats: Mermaid (GitHub renders it; docs/architecture.md embeds it, see :func:`doc_with_diagram`), DOT,
and SVG, which is DOT laid out by Graphviz's ``dot`` program when it is installed.

    python -m promote_cli.graph --write-doc docs/architecture.md   # what `make diagrams` runs
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

REPO_ROOT = Path(__file__).resolve().parents[2]
# template.yaml's PromotionStateMachine DefinitionUri.
ASL_FILE = REPO_ROOT / "statemachine" / "promotion.asl.json"
DOC_FILE = REPO_ROOT / "docs" / "architecture.md"
DOC_START = (
    "<!-- promotion-graph:start: generated from statemachine/promotion.asl.json by `make diagrams` -->"
)
DOC_END = "<!-- promotion-graph:end -->"
FORMATS = ("mermaid", "dot", "svg")

EdgeKind = Literal["start", "next", "choice", "default", "catch", "end", "branch"]


class GraphError(Exception):
    """The diagram cannot be made as asked: one line for the person who asked."""


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    kind: str  # the state's Type; "start", "end", or "join" for the markers this module adds
    cluster: str | None = None
    comment: str = ""  # the state's Comment
    # A join: the id of the Parallel or Map state whose branches it gathers (and whose Next, End it carries).
    gathers: str | None = None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: EdgeKind
    label: str = ""


@dataclass(frozen=True)
class Cluster:
    id: str
    label: str
    parent: str | None = None


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    _ids: set[str] = field(default_factory=set, repr=False)

    def new_id(self, text: str) -> str:
        # Prefixed, so no id is a reserved word of either language (Mermaid's "end", DOT's "node").
        base = "s_" + (re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "state")
        candidate, number = base, 2
        while candidate in self._ids:
            candidate, number = f"{base}_{number}", number + 1
        self._ids.add(candidate)
        return candidate


def load_definition(path: Path = ASL_FILE) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise GraphError(f"no state machine definition at {path}") from None
    except ValueError as error:
        raise GraphError(f"{path} is not JSON: {error}") from None
    if not isinstance(document, dict) or "States" not in document or "StartAt" not in document:
        raise GraphError(f"{path} is not an ASL definition (no StartAt and States)")
    return document


def build_graph(definition: Mapping[str, Any]) -> Graph:
    """Every state of the definition as a node and every way out of it as an edge: the one reading of the
    ASL's transitions, drawn by ``promote graph`` and by the local console (promote_cli.local.console.graph).
    """
    if (
        not isinstance(definition, Mapping)
        or not isinstance(definition.get("States"), Mapping)
        or not isinstance(definition.get("StartAt"), str)
    ):
        raise GraphError("not an ASL definition: StartAt and States are required")
    graph = Graph()
    start = Node(graph.new_id("start"), "start", "start")
    graph.nodes.append(start)
    ends: list[str] = []
    entry = _add_machine(graph, definition, cluster=None, exits=ends)
    graph.edges.insert(0, Edge(start.id, entry, "start"))
    if ends:
        end = Node(graph.new_id("end"), "end", "end")
        graph.nodes.append(end)
        graph.edges += [Edge(source, end.id, "end") for source in ends]
    return graph


def _add_machine(graph: Graph, machine: Mapping[str, Any], *, cluster: str | None, exits: list[str]) -> str:
    """Add one (sub-)state machine's states; returns the id of its StartAt. ``exits`` collects the states
    that end it (``End``, ``Succeed``)."""
    states: Mapping[str, Any] = machine["States"]
    ids = {name: graph.new_id(name) for name in states}

    def target(name: str, source: str) -> str:
        if name not in ids:
            raise GraphError(f"{source} goes to {name!r}, which is not a state of its machine")
        return ids[name]

    joins: dict[str, str] = {}
    for name, state in states.items():
        graph.nodes.append(Node(ids[name], name, str(state["Type"]), cluster, str(state.get("Comment", ""))))
    for name, state in states.items():
        source = ids[name]
        kind = state["Type"]
        if kind in ("Parallel", "Map"):
            join = Node(graph.new_id(f"{name} done"), f"{name} done", "join", cluster, gathers=source)
            graph.nodes.append(join)
            joins[name] = join.id
            inner_exits: list[str] = []
            if kind == "Parallel":
                for number, branch in enumerate(state.get("Branches", []), start=1):
                    inner = Cluster(
                        graph.new_id(f"{name} branch {number}"), f"{name}: branch {number}", cluster
                    )
                    graph.clusters.append(inner)
                    entry = _add_machine(graph, branch, cluster=inner.id, exits=inner_exits)
                    graph.edges.append(Edge(source, entry, "branch", f"branch {number}"))
            else:
                processor = state.get("ItemProcessor") or state.get("Iterator") or {}
                inner = Cluster(graph.new_id(f"{name} items"), f"{name}: each item", cluster)
                graph.clusters.append(inner)
                entry = _add_machine(graph, processor, cluster=inner.id, exits=inner_exits)
                graph.edges.append(Edge(source, entry, "branch", "each item"))
            graph.edges += [Edge(exit_id, join.id, "next") for exit_id in inner_exits]
            source = join.id
        if kind == "Choice":
            for rule in state.get("Choices", []):
                graph.edges.append(Edge(ids[name], target(rule["Next"], name), "choice", condition(rule)))
            if "Default" in state:
                graph.edges.append(Edge(ids[name], target(state["Default"], name), "default", "otherwise"))
        if "Next" in state:
            graph.edges.append(Edge(source, target(state["Next"], name), "next"))
        if state.get("End") or kind == "Succeed":
            exits.append(source)
        for catch in state.get("Catch", []):
            graph.edges.append(
                Edge(ids[name], target(catch["Next"], name), "catch", ", ".join(catch["ErrorEquals"]))
            )
    return target(machine["StartAt"], "StartAt")


# Longest suffix first: "NumericGreaterThanEquals" ends with "Equals" too.
_OPERATORS = {
    "GreaterThanEquals": ">=",
    "LessThanEquals": "<=",
    "GreaterThan": ">",
    "LessThan": "<",
    "Equals": "==",
    "Matches": "matches",
}


def condition(rule: Mapping[str, Any]) -> str:
    """A Choice rule as a short expression: ``$.settings.target == "preprod"``."""
    if "And" in rule:
        return " and ".join(f"({condition(inner)})" for inner in rule["And"])
    if "Or" in rule:
        return " or ".join(f"({condition(inner)})" for inner in rule["Or"])
    if "Not" in rule:
        return f"not ({condition(rule['Not'])})"
    if "Condition" in rule:  # JSONata
        return str(rule["Condition"])
    variable = str(rule.get("Variable", ""))
    for key, value in rule.items():
        if key in ("Variable", "Next", "Comment", "Assign", "Output"):
            continue
        if key in ("IsPresent", "IsNull", "IsBoolean", "IsNumeric", "IsString", "IsTimestamp"):
            test = key[2:].lower()
            return f"{variable} is {'' if value else 'not '}{test}"
        path = key.endswith("Path")
        operator = key[: -len("Path")] if path else key
        symbol = next((s for suffix, s in _OPERATORS.items() if operator.endswith(suffix)), operator)
        shown = str(value) if path else json.dumps(value)
        return f"{variable} {symbol} {shown}"
    return variable


# ---- Mermaid ---------------------------------------------------------------------------------------
_MERMAID_SHAPES = {
    "Task": ('["', '"]'),
    "Choice": ('{"', '"}'),
    "Pass": ('[/"', '"/]'),
    "Wait": ('{{"', '"}}'),
    "Succeed": ('(["', '"])'),
    "Fail": ('(["', '"])'),
    "Parallel": ('[["', '"]]'),
    "Map": ('[["', '"]]'),
    "join": ('(["', '"])'),
    "start": ("((", "))"),
    "end": ("((", "))"),
}


def _mermaid_text(text: str) -> str:
    # Inside a quoted label only '"' ends it early. Mermaid's entity codes (#quot;) come out garbled in edge
    # labels (mermaid 11), so a quote inside a label is written as a single quote.
    return text.replace('"', "'")


def render_mermaid(graph: Graph) -> str:
    lines = ["flowchart TD"]

    def node_lines(cluster: str | None, indent: str) -> None:
        for node in graph.nodes:
            if node.cluster != cluster:
                continue
            left, right = _MERMAID_SHAPES.get(node.kind, ('["', '"]'))
            label = node.label if node.kind not in ("start", "end") else node.kind
            lines.append(f"{indent}{node.id}{left}{_mermaid_text(label)}{right}")
        for inner in graph.clusters:
            if inner.parent == cluster:
                lines.append(f'{indent}subgraph {inner.id}["{_mermaid_text(inner.label)}"]')
                node_lines(inner.id, indent + "    ")
                lines.append(f"{indent}end")

    node_lines(None, "    ")
    for edge in graph.edges:
        arrow = "-.->" if edge.kind == "catch" else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {edge.source} {arrow}{label} {edge.target}")
    styles = {
        "Fail": "fill:#fde2e2,stroke:#c0392b",
        "Succeed": "fill:#e3f6e3,stroke:#2e7d32",
        "Choice": "fill:#fff7d6,stroke:#b7950b",
    }
    for kind, style in styles.items():
        members = [node.id for node in graph.nodes if node.kind == kind]
        if members:
            lines.append(f"    classDef {kind.lower()} {style}")
            lines.append(f"    class {','.join(members)} {kind.lower()}")
    return "\n".join(lines) + "\n"


# ---- DOT / SVG -------------------------------------------------------------------------------------
_DOT_SHAPES = {
    "Task": 'shape=box, style="rounded"',
    "Choice": 'shape=diamond, style="filled", fillcolor="#fff7d6"',
    "Pass": "shape=parallelogram",
    "Wait": "shape=hexagon",
    "Succeed": 'shape=box, style="rounded,filled", fillcolor="#e3f6e3"',
    "Fail": 'shape=box, style="rounded,filled", fillcolor="#fde2e2"',
    "Parallel": "shape=box, peripheries=2",
    "Map": "shape=box, peripheries=2",
    "join": 'shape=box, style="rounded,dashed"',
    "start": 'shape=circle, label="", width=0.25, style=filled, fillcolor=black',
    "end": 'shape=doublecircle, label="", width=0.2, style=filled, fillcolor=black',
}


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(graph: Graph) -> str:
    lines = [
        "digraph promotion {",
        '    graph [rankdir=TB, fontname="Helvetica"];',
        '    node [fontname="Helvetica", fontsize=11];',
        '    edge [fontname="Helvetica", fontsize=9];',
    ]

    def node_lines(cluster: str | None, indent: str) -> None:
        for node in graph.nodes:
            if node.cluster == cluster:
                shape = _DOT_SHAPES.get(node.kind, "shape=box")
                label = "" if node.kind in ("start", "end") else f", label={_dot_text(node.label)}"
                lines.append(f"{indent}{node.id} [{shape}{label}];")
        for inner in graph.clusters:
            if inner.parent == cluster:
                lines.append(f"{indent}subgraph cluster_{inner.id} {{")
                lines.append(f"{indent}    label={_dot_text(inner.label)}; style=dashed;")
                node_lines(inner.id, indent + "    ")
                lines.append(f"{indent}}}")

    node_lines(None, "    ")
    for edge in graph.edges:
        attributes = [f"label={_dot_text(edge.label)}"] if edge.label else []
        if edge.kind == "catch":
            attributes += ["style=dashed", 'color="#c0392b"', 'fontcolor="#c0392b"']
        shown = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"    {edge.source} -> {edge.target}{shown};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(graph: Graph) -> str:
    """SVG laid out by Graphviz's ``dot`` program (not a dependency of this project: install Graphviz)."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphError(
            "svg needs Graphviz's dot program on PATH (apt-get install graphviz, brew install graphviz); "
            "or run: promote graph --format dot | dot -Tsvg > promotion.svg"
        )
    done = subprocess.run(
        [dot, "-Tsvg"], input=render_dot(graph), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise GraphError(f"dot failed: {' '.join(done.stderr.split())}")
    return done.stdout


def render(definition: Mapping[str, Any], output_format: str) -> str:
    graph = build_graph(definition)
    if output_format == "mermaid":
        return render_mermaid(graph)
    if output_format == "dot":
        return render_dot(graph)
    if output_format == "svg":
        return render_svg(graph)
    raise GraphError(f"unknown format {output_format!r}: one of {', '.join(FORMATS)}")


# ---- the diagram in docs/architecture.md -------------------------------------------------------------
def doc_block(definition: Mapping[str, Any]) -> str:
    return f"{DOC_START}\n```mermaid\n{render(definition, 'mermaid')}```\n{DOC_END}"


def doc_with_diagram(text: str, definition: Mapping[str, Any]) -> str:
    """``text`` with the block between the markers replaced by the diagram the definition generates."""
    start, end = text.find(DOC_START), text.find(DOC_END)
    if start < 0 or end < start:
        raise GraphError(f"the document has no {DOC_START!r} ... {DOC_END!r} block")
    return text[:start] + doc_block(definition) + text[end + len(DOC_END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m promote_cli.graph", description=__doc__.splitlines()[0])
    parser.add_argument("--asl", type=Path, default=ASL_FILE)
    parser.add_argument("--write-doc", type=Path, metavar="MARKDOWN", help="rewrite the diagram block in it")
    parser.add_argument("--format", choices=FORMATS, default="mermaid")
    args = parser.parse_args(argv)
    try:
        definition = load_definition(args.asl)
        if args.write_doc:
            before = args.write_doc.read_text()
            after = doc_with_diagram(before, definition)
            if after != before:
                args.write_doc.write_text(after)
            print(f"{args.write_doc}: {'updated' if after != before else 'already up to date'}")
        else:
            sys.stdout.write(render(definition, args.format))
    except (GraphError, OSError) as error:
        print(f"promote graph: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
