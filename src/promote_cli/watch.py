"""``promote watch NAME|ARN``: follow one promotion until it ends.

A log, one line per event worth a person's attention (each state entered and how long it took, each retry
as its error and attempt, the bake's polls, the approval: who is asked, until when, and on the local plane
the emailed link), and on a terminal a live footer with the current state and how long it has been in it.
It polls until the execution is SUCCEEDED, FAILED, TIMED_OUT or ABORTED (an approval may wait for hours),
or until ``--timeout``. Exit status: 0 when the execution SUCCEEDED, 1 when it ended otherwise or the
timeout passed first, 2 when there is no such execution.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from promote_cli.execution_history import (
    ExecutionView,
    TimelineLine,
    cause_message,
    format_seconds,
    read_history,
    timeline,
)
from promote_cli.executions import TERMINAL_STATUSES, describe_execution, history_events
from promotion.models.approval import ApprovalRecord
from promotion.naming import parse_execution_name

# execution ARN -> the approval records its approval task opened (the approvals table, through the store).
ApprovalLookup = Callable[[str], list[ApprovalRecord]]
# approval id -> recipient -> the link that was sent to them (the local plane's outbox).
LinkLookup = Callable[[str], dict[str, str]]
INDENT = " " * 12

_STYLES = {
    "entered": "bold",
    "retry": "yellow",
    "done": "dim",
    "failed": "red",
    "bake": "cyan",
    "waiting": "magenta",
}


def make_console(file: IO[str] | None = None) -> Console:
    """Rich's console; when the output is not a terminal (a CI log, a pipe), lines are never wrapped."""
    console = Console(file=file, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(file=file, highlight=False, soft_wrap=True, width=240)
    return console


def print_all(console: Console, parts: list[Any]) -> None:
    """Print renderables; off a terminal, without the spaces a table pads its last column with."""
    if console.is_terminal:
        for part in parts:
            console.print(part)
        return
    with console.capture() as captured:
        for part in parts:
            console.print(part)
    console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S")


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_line(line: TimelineLine) -> Text:
    text = Text(_clock(line.at) + "  ", style="dim")
    if line.kind == "entered":
        text.append(line.text, style=_STYLES["entered"])
    else:
        mark = {"retry": "↻ ", "done": "✓ ", "failed": "✗ ", "bake": "· ", "waiting": "… "}[line.kind]
        text.append("  " + mark + line.text, style=_STYLES[line.kind])
    return text


def approval_lines(record: ApprovalRecord, now: datetime, links: Mapping[str, str]) -> list[Text]:
    """Who is asked, until when, how to decide; and the link each approver was sent, when it is known."""
    needed = record.rules.required_approvals
    left = record.expires_at - now.timestamp()
    until = f"{_utc(record.expires_at)} (in {format_seconds(left)})" if left > 0 else _utc(record.expires_at)
    votes = f", {len(record.votes)} so far" if record.votes else ""
    lines = [
        Text(f"{INDENT}asked: {', '.join(record.approvers)} ({needed} approval(s) needed{votes})", "magenta"),
        Text(f"{INDENT}until: {until}", "magenta"),
        Text(
            f"{INDENT}decide: promote approve {record.approval_id}  |  "
            f"promote reject {record.approval_id} --reason ...",
            "magenta",
        ),
    ]
    lines += [Text(f"{INDENT}link for {who}: {link}", "magenta") for who, link in sorted(links.items())]
    return lines


def final_line(described: Mapping[str, Any], now: datetime) -> Text:
    status = str(described["status"])
    stopped: datetime = described.get("stopDate") or now
    took = format_seconds((stopped - described["startDate"]).total_seconds())
    text = Text(_clock(stopped) + "  ", style="dim")
    text.append(f"{status} after {took}", style="bold green" if status == "SUCCEEDED" else "bold red")
    if described.get("error") or described.get("cause"):
        cause = cause_message(described.get("cause"))
        text.append(f": {described.get('error') or ''}" + (f": {cause}" if cause else ""), style="red")
    return text


@dataclass
class _Footer:
    """What a terminal shows below the log while the execution runs, redrawn in place."""

    view: ExecutionView
    now: Callable[[], datetime]
    approval: str = ""
    spinner: Spinner = field(default_factory=lambda: Spinner("dots"))

    def __rich__(self) -> RenderableType:
        now = self.now()
        current = self.view.current
        parts = []
        if current is not None:
            parts.append(f"{current.name} for {format_seconds(current.seconds(now))}")
        if self.view.started is not None:
            parts.append(f"running {format_seconds((now - self.view.started).total_seconds())}")
        bake = self.view.bake()
        if bake is not None and bake.polls_done < bake.polls_total:
            parts.append(f"bake poll {bake.polls_done}/{bake.polls_total}")
        if self.approval and current is not None and current.waits_for_callback:
            parts.append(self.approval)
        self.spinner.update(text=Text(" · ".join(parts)))
        return self.spinner


@dataclass
class Watcher:
    sfn: Any
    described: Mapping[str, Any]
    console: Console
    approvals: ApprovalLookup | None = None
    links: LinkLookup | None = None
    # Where the console draws the execution's graph (printed under the header).
    console_link: str | None = None
    interval: float = 2.0
    timeout: float | None = None
    errors: IO[str] = field(default_factory=lambda: sys.stderr)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    view: ExecutionView = field(default_factory=ExecutionView)
    _printed: set[tuple[int, int]] = field(default_factory=set)
    _approvals_shown: dict[str, int] = field(default_factory=dict)  # approval id -> votes shown
    _links_shown: set[str] = field(default_factory=set)
    _approvals_unreadable: bool = False

    def run(self) -> int:
        arn = str(self.described["executionArn"])
        self._header()
        deadline = None if self.timeout is None else self.clock() + self.timeout
        footer = _Footer(self.view, self.now)
        try:
            with self._live(footer):
                while True:
                    # Status first, then the history: once the status is final, the history read after it
                    # holds every event up to the end.
                    described = describe_execution(self.sfn, arn)
                    seen = self.view.last_event_id
                    read_history(history_events(self.sfn, arn, after_event_id=seen), self.view)
                    self._print_new_lines(changed_after=seen)
                    footer.approval = self._show_approval(arn)
                    if described["status"] in TERMINAL_STATUSES:
                        break
                    if deadline is not None and self.clock() >= deadline:
                        current = self.view.current
                        where = f" in {current.name!r}" if current else ""
                        print(
                            f"promote: {described['name']} is still {described['status']}{where} after "
                            f"the --timeout of {self.timeout:g} s",
                            file=self.errors,
                        )
                        return 1
                    self.sleep(self.interval)
        except KeyboardInterrupt:
            print("promote: stopped watching; the execution goes on", file=self.errors)
            return 130
        self.console.print(final_line(described, self.now()))
        return 0 if described["status"] == "SUCCEEDED" else 1

    @contextmanager
    def _live(self, footer: _Footer) -> Iterator[None]:
        if not self.console.is_terminal:
            yield
            return
        with Live(footer, console=self.console, transient=True, refresh_per_second=4):
            yield

    def _header(self) -> None:
        described = self.described
        parsed = parse_execution_name(str(described["name"]))
        header = Text(str(described["name"]), style="bold")
        if parsed is not None:
            header.append(f"  {parsed.pipeline} @ {parsed.short_sha}, attempt {parsed.attempt}")
        started: datetime = described["startDate"]
        header.append(
            f"  started {started.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC (times below in UTC)", "dim"
        )
        self.console.print(header)
        if self.console_link:
            self.console.print(Text(f"{INDENT}console: {self.console_link}", "dim"))

    def _print_new_lines(self, *, changed_after: int) -> None:
        for line in timeline(self.view, changed_after=changed_after):
            if line.order not in self._printed:
                self._printed.add(line.order)
                self.console.print(render_line(line))

    def _show_approval(self, execution_arn: str) -> str:
        """Print who is asked (once per request, again when a vote arrives) and the links once known;
        returns a short summary for the footer."""
        current = self.view.current
        if current is None or not current.waits_for_callback or self.approvals is None:
            return ""
        if self._approvals_unreadable:
            return "see promote approvals list"
        try:
            records = [record for record in self.approvals(execution_arn) if record.status == "pending"]
        except (ClientError, BotoCoreError) as error:
            self._approvals_unreadable = True
            self.console.print(
                Text(
                    f"{INDENT}who is asked: promote approvals list (the approvals table is not readable "
                    f"here: {' '.join(str(error).split())})",
                    "magenta",
                )
            )
            return "see promote approvals list"
        summary = ""
        for record in records:
            links = self.links(record.approval_id) if self.links is not None else {}
            shown_votes = self._approvals_shown.get(record.approval_id)
            if shown_votes is None or shown_votes != len(record.votes):
                lines = approval_lines(record, self.now(), links if shown_votes is None else {})
                for line in lines if shown_votes is None else lines[:1]:
                    self.console.print(line)
                self._approvals_shown[record.approval_id] = len(record.votes)
                if links:
                    self._links_shown.add(record.approval_id)
            elif links and record.approval_id not in self._links_shown:
                for who, link in sorted(links.items()):
                    self.console.print(Text(f"{INDENT}link for {who}: {link}", "magenta"))
                self._links_shown.add(record.approval_id)
            expires = datetime.fromtimestamp(record.expires_at, UTC)
            summary = f"asked {', '.join(record.approvers)} until {_clock(expires)} UTC"
        return summary
