"""``promote executions``, ``promote describe NAME|ARN``: the promotions a control plane has run.

An execution is named by its ARN or by its name alone; a name is resolved against the stack's state machine,
whose ARN comes from the stack (its ``StateMachineArn`` output, or the local plane's ready line), never from
a pattern written here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from promote_cli.control import ControlError, ControlPlane
from promote_cli.execution_history import (
    cause_message,
    describe_view,
    format_seconds,
    latest_window,
    read_history,
    window_summary,
)
from promotion.naming import parse_execution_name

STATE_MACHINE_OUTPUT = "StateMachineArn"  # template.yaml Outputs
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# Step Functions' execution names: 1-80 characters, none of these (nor whitespace or control characters).
_NAME = re.compile(r"^[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$")
_MISSING = {"ExecutionDoesNotExist", "InvalidArn", "ResourceNotFound", "StateMachineDoesNotExist"}


@dataclass(frozen=True)
class StateMachineLocator:
    """Where the stack's state machine ARN comes from: the local plane's ready line (``local_arn``), else
    the stack's output, read with ``cloudformation``; failing that, the state machine the template names."""

    control: ControlPlane
    cloudformation: Any = None
    local_arn: str | None = None

    def arn(self) -> str:
        if self.local_arn:
            return self.local_arn
        if self.cloudformation is not None:
            try:
                stacks = self.cloudformation.describe_stacks(StackName=self.control.stack_name)["Stacks"]
            except (ClientError, BotoCoreError):
                stacks = []  # no stack here (an endpoint without CloudFormation), or no right to read it
            for output in stacks[0].get("Outputs", []) if stacks else []:
                if output.get("OutputKey") == STATE_MACHINE_OUTPUT:
                    return str(output["OutputValue"])
        return self.control.state_machine_arn()


def execution_arn_for(state_machine_arn: str, name_or_arn: str) -> str:
    """The ARN of an execution of ``state_machine_arn`` named ``name_or_arn`` (an ARN is returned as is)."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    if not _NAME.match(name_or_arn):
        raise ControlError(f"{name_or_arn!r} is neither an execution name nor an execution ARN")
    prefix, marker, machine = state_machine_arn.partition(":stateMachine:")
    if not marker:
        raise ControlError(f"{state_machine_arn} is not a state machine ARN")
    return f"{prefix}:execution:{machine}:{name_or_arn}"


def describe_execution(sfn: Any, execution_arn: str, *, shown_as: str | None = None) -> dict[str, Any]:
    """DescribeExecution; an execution that does not exist is a :class:`ControlError` naming it."""
    try:
        return dict(sfn.describe_execution(executionArn=execution_arn))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _MISSING:
            raise ControlError(f"no execution {shown_as or execution_arn}") from None
        raise


def resolve(sfn: Any, locator: StateMachineLocator, name_or_arn: str) -> dict[str, Any]:
    """The execution named by ``name_or_arn`` (a name of the stack's state machine, or an ARN), described."""
    if name_or_arn.startswith("arn:"):
        return describe_execution(sfn, name_or_arn)
    machine = locator.arn()
    arn = execution_arn_for(machine, name_or_arn)
    return describe_execution(sfn, arn, shown_as=f"named {name_or_arn!r} on {machine}")


def history_events(sfn: Any, execution_arn: str, *, after_event_id: int = 0) -> list[dict[str, Any]]:
    """The execution's events with an id above ``after_event_id``, oldest first.

    Read newest first, page by page, stopping at the first page that reaches an event already seen: a
    watcher that polls a long bake reads only what is new, not the whole history each time.
    """
    found: dict[int, dict[str, Any]] = {}
    arguments: dict[str, Any] = {"executionArn": execution_arn, "reverseOrder": True, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**arguments)
        events = page.get("events", [])
        for event in events:
            if int(event["id"]) > after_event_id:
                found[int(event["id"])] = event
        if not page.get("nextToken") or any(int(event["id"]) <= after_event_id for event in events):
            break
        arguments["nextToken"] = page["nextToken"]
    return [found[event_id] for event_id in sorted(found)]


def latest_state(sfn: Any, execution_arn: str) -> str | None:
    """The state the execution entered last (one page of its newest events)."""
    page = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=100)
    for event in sorted(page.get("events", []), key=lambda e: -int(e["id"])):
        if str(event["type"]).endswith("StateEntered"):
            return str(event["stateEnteredEventDetails"]["name"])
    return None


def _seconds(started: datetime, stopped: datetime | None, now: datetime) -> float:
    return ((stopped or now) - started).total_seconds()


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _executions(sfn: Any, state_machine_arn: str, status: str | None) -> Iterator[dict[str, Any]]:
    arguments: dict[str, Any] = {"stateMachineArn": state_machine_arn}
    if status:
        arguments["statusFilter"] = status
    for page in sfn.get_paginator("list_executions").paginate(**arguments):
        yield from page["executions"]


def list_executions(
    sfn: Any,
    state_machine_arn: str,
    *,
    pipeline: str | None = None,
    status: str | None = None,
    limit: int = 20,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The newest ``limit`` executions (of ``pipeline``, in ``status``), each as plain data."""
    now = now or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for execution in _executions(sfn, state_machine_arn, status):
        parsed = parse_execution_name(execution["name"])
        if pipeline is not None and (parsed is None or parsed.pipeline != pipeline):
            continue
        started: datetime = execution["startDate"]
        stopped: datetime | None = execution.get("stopDate")
        rows.append(
            {
                "name": execution["name"],
                "execution_arn": execution["executionArn"],
                "pipeline": parsed.pipeline if parsed else None,
                "commit": parsed.short_sha if parsed else None,
                "attempt": parsed.attempt if parsed else None,
                "status": execution["status"],
                "started": started.isoformat(),
                "stopped": stopped.isoformat() if stopped else None,
                "seconds": round(_seconds(started, stopped, now), 3),
                "state": latest_state(sfn, execution["executionArn"])
                if execution["status"] == "RUNNING"
                else None,
            }
        )
        if len(rows) >= limit:
            break
    return rows


def _json_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def describe(
    sfn: Any, described: Mapping[str, Any], *, now: datetime | None = None, console_url: str | None = None
) -> dict[str, Any]:
    """Everything ``promote describe`` shows, as plain data: the execution, its input and output, the states
    it visited with their durations and retries, the state it is in, how it failed, and ``console_url``
    (where the console shows its graph)."""
    now = now or datetime.now(UTC)
    view = read_history(history_events(sfn, described["executionArn"]))
    parsed = parse_execution_name(described["name"])
    started: datetime = described["startDate"]
    stopped: datetime | None = described.get("stopDate")
    error = described.get("error") or view.error
    cause = described.get("cause") or view.cause
    current = view.current
    return {
        "name": described["name"],
        "execution_arn": described["executionArn"],
        "state_machine_arn": described["stateMachineArn"],
        "console_url": console_url,
        "pipeline": parsed.pipeline if parsed else None,
        "commit": parsed.short_sha if parsed else None,
        "attempt": parsed.attempt if parsed else None,
        "status": described["status"],
        "started": started.isoformat(),
        "stopped": stopped.isoformat() if stopped else None,
        "seconds": round(_seconds(started, stopped, now), 3),
        "current_state": current.name if current and described["status"] == "RUNNING" else None,
        "input": _json_or_text(described.get("input")),
        "output": _json_or_text(described.get("output")),
        # A Succeed or Fail state has no exit event: it lasts until the execution stops.
        "states": describe_view(view, stopped or now),
        "error": error,
        "cause": cause_message(cause) if cause else None,
        # The newest deployment window answer: why it is closed, when it opens (and whether it waits now).
        "window": latest_window(view),
    }


def render_executions(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("name", "pipeline", "commit", "status", "started", "duration", "state"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        started = datetime.fromisoformat(row["started"])
        table.add_row(
            row["name"],
            row["pipeline"] or "-",
            row["commit"] or "-",
            _styled_status(row["status"]),
            _when(started),
            format_seconds(row["seconds"]),
            row["state"] or "",
        )
    return table


def _styled_status(status: str) -> str:
    style = {"SUCCEEDED": "green", "RUNNING": "cyan"}.get(status, "red")
    return f"[{style}]{status}[/]"


def render_description(report: Mapping[str, Any]) -> list[Any]:
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    header = Text.assemble((report["name"], "bold"), "  ", Text.from_markup(_styled_status(report["status"])))
    parts.append(header)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column()
    facts.add_row("execution", report["execution_arn"])
    if report.get("console_url"):
        facts.add_row("console", report["console_url"])
    if report["pipeline"]:
        facts.add_row("promotion", f"{report['pipeline']} @ {report['commit']}, attempt {report['attempt']}")
    stopped = datetime.fromisoformat(report["stopped"]) if report["stopped"] else None
    facts.add_row("started", _when(datetime.fromisoformat(report["started"])))
    facts.add_row(
        "stopped" if stopped else "running for", _when(stopped) or format_seconds(report["seconds"])
    )
    if stopped:
        facts.add_row("duration", format_seconds(report["seconds"]))
    if report["current_state"]:
        facts.add_row("current state", report["current_state"])
    window = report.get("window")
    if window:
        summary = window_summary(window)
        if window["waiting"]:
            summary = f"waiting: {summary}"
        facts.add_row(
            f"{window['environment']} window", Text(summary, style="yellow" if not window["open"] else "")
        )
    if report["error"]:
        facts.add_row("error", Text(report["error"], style="red"))
        facts.add_row("cause", Text(report["cause"] or ""))
    parts.append(facts)
    # Whole documents, each on one line (never wrapped: copy it, or pipe --json to jq).
    for label in ("input", "output"):
        if report[label] is not None:
            line = Text(f"{label:<11}", style="dim")
            line.append(json.dumps(report[label], separators=(",", ":")))
            parts.append(line)
    states = Table(box=None, pad_edge=False, header_style="bold", title_justify="left")
    for column in ("entered", "state", "took", "attempts", "outcome"):
        states.add_column(column, no_wrap=column != "outcome")
    for visit in report["states"]:
        running = visit["exited"] is None and report["status"] == "RUNNING"
        outcome = Text("running", style="cyan") if running else Text("")
        if visit["retries"]:
            outcome.append(
                "retried: "
                + ", ".join(f"{r['error']} (attempt {r['attempt']})" for r in visit["retries"])
                + " ",
                style="yellow",
            )
        if visit["error"]:
            outcome.append(f"{visit['error']['error']}: {visit['error']['cause']}", style="red")
        states.add_row(
            datetime.fromisoformat(visit["entered"]).astimezone(UTC).strftime("%H:%M:%S"),
            visit["state"],
            format_seconds(visit["seconds"]),
            str(visit["attempts"]) if visit["attempts"] else "",
            outcome,
        )
    parts.append(Text("states visited", style="bold"))
    parts.append(states)
    return parts
