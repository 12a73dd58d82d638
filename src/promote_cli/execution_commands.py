"""The commands that look at executions and at the state machine: ``promote executions``, ``describe``,
``watch`` and ``graph``; and ``cancel``, which stops one. Registered on ``promote``'s subparsers by
:func:`add_commands`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import boto3
import requests

from promote_cli import executions, graph
from promote_cli.control import ControlError, ControlPlane, stated_operator
from promote_cli.watch import ApprovalLookup, LinkLookup, Watcher, make_console, print_all
from promotion.console import execution_console_url
from promotion.models.approval import ApprovalRecord

ControlFactory = Callable[[argparse.Namespace], ControlPlane]
LocalState = Callable[[], dict[str, Any]]
SessionArgs = Callable[[argparse.Namespace], dict[str, Any]]
# template.yaml: ApprovalsTable's TableName.
APPROVALS_TABLE = "{stack}-approvals"


def _locator(
    args: argparse.Namespace, control: ControlPlane, local_state: LocalState, session_args: SessionArgs
) -> executions.StateMachineLocator:
    if args.local:
        return executions.StateMachineLocator(control, local_arn=str(local_state()["state_machine_arn"]))
    return executions.StateMachineLocator(
        control, cloudformation=boto3.client("cloudformation", **session_args(args))
    )


def _approval_lookup(control: ControlPlane) -> ApprovalLookup:
    from promotion.dal.approvals import DynamoApprovalStore

    store = DynamoApprovalStore(control.dynamodb.Table(APPROVALS_TABLE.format(stack=control.stack_name)))

    def lookup(execution_arn: str) -> list[ApprovalRecord]:
        return store.for_execution(execution_arn)

    return lookup


def _outbox_links(outbox_url: str) -> LinkLookup:
    """The links the local plane's outbox holds for an approval request, per recipient."""

    def links(approval_id: str) -> dict[str, str]:
        try:
            messages = requests.get(outbox_url, timeout=10).json()
        except (requests.RequestException, ValueError):
            return {}
        found: dict[str, str] = {}
        for message in messages:
            for link in message.get("links", []):
                # The emailed Approve and Reject links open the same page (``intent`` only pre-selects).
                page = str(link).split("&intent=", 1)[0]
                if f"/approvals/{approval_id}?" in page:
                    found.setdefault(str(message.get("recipient", "")), page)
        return found

    return links


def add_commands(
    commands: Any, *, control: ControlFactory, local_state: LocalState, session_args: SessionArgs
) -> None:
    def console_link(args: argparse.Namespace, execution_arn: str) -> str | None:
        """Where the console shows the execution: the local plane's console, or AWS's."""
        base = local_state().get("console_url") if args.local else None
        return execution_console_url(execution_arn, str(base) if base else None)

    def cmd_executions(args: argparse.Namespace) -> int:
        plane = control(args)
        machine = _locator(args, plane, local_state, session_args).arn()
        rows = executions.list_executions(
            plane.sfn, machine, pipeline=args.pipeline, status=args.status, limit=args.limit
        )
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        console = make_console()
        if not rows:
            console.print("no executions" + (f" of {args.pipeline}" if args.pipeline else ""))
            return 0
        print_all(console, [executions.render_executions(rows)])
        return 0

    def cmd_describe(args: argparse.Namespace) -> int:
        plane = control(args)
        described = executions.resolve(
            plane.sfn, _locator(args, plane, local_state, session_args), args.execution
        )
        report = executions.describe(
            plane.sfn, described, console_url=console_link(args, described["executionArn"])
        )
        if args.json:
            print(json.dumps(report, indent=2))
            return 0
        print_all(make_console(), executions.render_description(report))
        return 0

    def cmd_watch(args: argparse.Namespace) -> int:
        plane = control(args)
        described = executions.resolve(
            plane.sfn, _locator(args, plane, local_state, session_args), args.execution
        )
        links = _outbox_links(str(local_state()["outbox_url"])) if args.local else None
        watcher = Watcher(
            plane.sfn,
            described,
            make_console(),
            approvals=_approval_lookup(plane) if plane.dynamodb is not None else None,
            links=links,
            console_link=console_link(args, described["executionArn"]),
            interval=args.interval,
            timeout=args.timeout,
        )
        return watcher.run()

    def cmd_cancel(args: argparse.Namespace) -> int:
        plane = control(args)
        described = executions.resolve(
            plane.sfn, _locator(args, plane, local_state, session_args), args.execution
        )
        stopped = plane.cancel(
            str(described["executionArn"]), reason=args.reason, requested_by=stated_operator()
        )
        print(json.dumps(stopped))
        return 0

    def cmd_graph(args: argparse.Namespace) -> int:
        try:
            sys.stdout.write(graph.render(graph.load_definition(args.asl), args.format))
        except graph.GraphError as error:
            raise ControlError(str(error)) from None
        return 0

    listing = commands.add_parser("executions", help="the newest promotions: status, current state, duration")
    listing.add_argument("--pipeline", default=None, help="only this pipeline's")
    listing.add_argument("--status", type=str.upper, choices=executions.STATUSES, default=None)
    listing.add_argument("--limit", type=_positive_int, default=20, help="at most this many (default 20)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_executions)

    describe = commands.add_parser(
        "describe", help="one execution: input, output, states visited and their durations, the failure"
    )
    describe.add_argument("execution", metavar="NAME|ARN", help="an execution name of the stack, or its ARN")
    describe.add_argument("--json", action="store_true", help="print JSON")
    describe.set_defaults(func=cmd_describe)

    watch = commands.add_parser(
        "watch",
        help="follow an execution until it ends; exit 0 if it SUCCEEDED, 1 if it ended otherwise or "
        "--timeout passed",
    )
    watch.add_argument("execution", metavar="NAME|ARN", help="an execution name of the stack, or its ARN")
    watch.add_argument(
        "--timeout",
        type=_positive_float,
        default=None,
        help="give up after this many seconds (default: never)",
    )
    watch.add_argument(
        "--interval", type=_positive_float, default=2.0, help="seconds between polls (default 2)"
    )
    watch.set_defaults(func=cmd_watch)

    cancel = commands.add_parser("cancel", help="stop a running promotion; its cleanup still runs")
    cancel.add_argument("execution", metavar="NAME|ARN", help="an execution name of the stack, or its ARN")
    cancel.add_argument("--reason", default="cancelled by an operator")
    cancel.set_defaults(func=cmd_cancel)

    diagram = commands.add_parser("graph", help="the promotion state machine as a diagram, from its ASL")
    diagram.add_argument("--format", choices=graph.FORMATS, default="mermaid")
    diagram.add_argument("--asl", type=_path, default=graph.ASL_FILE, help="default: the repository's ASL")
    diagram.set_defaults(func=cmd_graph)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return number


def _path(value: str) -> Any:
    from pathlib import Path

    return Path(value)
