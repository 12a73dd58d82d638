"""``promote approvals audit`` and ``promote github check``: the read-only operator routes.

- ``promote approvals audit APPROVAL_ID`` (``GET /operator/approvals/{approval_id}/audit``) and
  ``promote approvals audit --execution NAME`` (``GET /operator/executions/{name}/audit``): what happened to
  an approval request, or to every request of one promotion, as the audit table keeps it. Forged completions
  and refused decisions are marked ``!!``.
- ``promote github check --pipeline P`` (``GET /operator/pipelines/{pipeline}/github``): whether the control
  plane reaches GitHub with the pipeline's own token, and the rate limit left. Exit 0 when GitHub answered
  and showed the repository, 1 when it did not (one line on stderr says why), 2 for bad input.

Signed with SigV4 like every operator command; the operator needs the stack's ``OperatorApprovalPolicy``
and nothing on the tables or secrets these read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from promote_cli.approvals import LocalState, OperatorClient, StackName, add_api_url, operator_client
from promote_cli.control import ControlError

# Audit actions an operator must not miss in an incident.
ALARMING = {"forged_completion", "refused", "emergency_rollback_failed"}
DETAIL_CHARS = 100


def _when(epoch: Any) -> str:
    if not isinstance(epoch, int | float) or not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _one_line(text: str, limit: int | None = DETAIL_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if limit is None or len(flat) <= limit else flat[: limit - 3] + "..."


def event_rows(events: list[dict[str, Any]]) -> list[str]:
    """The events as a table: time, action, actor, channel, detail; alarming actions marked ``!!``."""
    rows = [("", "TIME", "ACTION", "ACTOR", "CHANNEL", "DETAIL")]
    for event in events:
        detail = "; ".join(
            part
            for part in (
                event.get("comment") or "",
                event.get("detail") or "",
                " ".join(f"{k}={v}" for k, v in (event.get("inputs") or {}).items()),
            )
            if part
        )
        action = str(event.get("action", ""))
        mark = "!!" if action in ALARMING else ""
        rows.append(
            (
                mark,
                _when(event.get("at")),
                action.upper() if mark else action,
                str(event.get("actor", "")),
                str(event.get("channel", "")),
                # What an alarming event says is shown whole (a forged completion's claimed approver).
                _one_line(detail, limit=None if mark else DETAIL_CHARS),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, [*widths, 0], strict=True)).rstrip()
        for row in rows
    ]


def _approval_line(approval: dict[str, Any]) -> str:
    decided = (
        f"  decided by {approval['decided_by']} at {_when(approval.get('decided_at'))}"
        if approval.get("decided_by")
        else ""
    )
    return (
        f"approval {approval['approval_id']}  {approval['pipeline']}  {str(approval.get('sha', ''))[:12]}  "
        f"{approval['status']}  requested {_when(approval.get('requested_at'))}{decided}"
    )


def audit_text(document: dict[str, Any]) -> list[str]:
    lines = []
    if "execution" in document:
        lines.append(f"execution {document['execution']}  {document['status']}")
        approvals = document.get("approvals") or []
        lines += [_approval_line(approval) for approval in approvals] or ["no approval was requested"]
    else:
        lines.append(_approval_line(document["approval"]))
    events = document.get("events") or []
    if not events:
        return [*lines, "no audit events"]
    lines += ["", *event_rows(events)]
    forged = sum(1 for event in events if event.get("action") == "forged_completion")
    if forged:
        lines += [
            "",
            f"!! {forged} forged completion(s): the approval task was completed outside the control plane; "
            "find who in CloudTrail (SendTaskSuccess/SendTaskFailure at that time)",
        ]
    return lines


def cmd_audit(args: argparse.Namespace, client: OperatorClient) -> int:
    if bool(args.approval_id) == bool(args.execution):
        raise ControlError("name one approval: APPROVAL_ID, or --execution NAME for all of a promotion's")
    if args.execution:
        name = args.execution.strip().rsplit(":", 1)[-1]
        if not name:
            raise ControlError("--execution: an execution name or ARN")
        path = f"/operator/executions/{quote(name, safe='')}/audit"
    else:
        path = f"/operator/approvals/{quote(args.approval_id.strip(), safe='')}/audit"
    document = client.call("GET", path)
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print("\n".join(audit_text(document)))
    return 0


def check_verdict(report: dict[str, Any]) -> str:
    """One line: what the control plane found."""
    rate = report.get("rate_limit") or {}
    left = (
        f"; rate limit {rate.get('remaining')}/{rate.get('limit')} left, resets {_when(rate.get('reset'))}"
        if rate
        else ""
    )
    where = f"{report['repo']} at {report['api_url']}"
    if report.get("ok"):
        return f"GitHub answered: the pipeline's token sees {where} (HTTP {report['status']}){left}"
    return f"the control plane cannot use GitHub for {where}: {report.get('error')}{left}"


def cmd_github_check(args: argparse.Namespace, client: OperatorClient) -> int:
    report = client.call("GET", f"/operator/pipelines/{quote(args.pipeline, safe='')}/github")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        permissions = report.get("permissions")
        if permissions:
            granted = ", ".join(name for name, allowed in permissions.items() if allowed) or "none"
            print(f"permissions on {report['repo']}: {granted}")
        if report.get("token_scopes") is not None:
            print(f"token scopes: {', '.join(report['token_scopes']) or 'none'}")
        print(f"checked at {_when(report.get('checked_at'))}")
    verdict = check_verdict(report)
    if report.get("ok"):
        if not args.json:
            print(verdict)
        return 0
    print(f"promote: {verdict}", file=sys.stderr)
    return 1


def _run(
    handler: Callable[[argparse.Namespace, OperatorClient], int],
    local_state: LocalState,
    stack_name: StackName,
) -> Callable[[argparse.Namespace], int]:
    return lambda args: handler(args, operator_client(args, local_state, stack_name))


def add_audit_command(approvals: Any, *, local_state: LocalState, stack_name: StackName) -> None:
    """``approvals audit`` on the ``approvals`` subparsers."""
    audit = approvals.add_parser(
        "audit", help="what happened to an approval request (or to every request of one promotion)"
    )
    audit.add_argument("approval_id", nargs="?", default=None, metavar="APPROVAL_ID")
    audit.add_argument(
        "--execution",
        default=None,
        help="every request of this promotion instead (its execution name or ARN)",
    )
    audit.add_argument("--json", action="store_true", help="print JSON")
    add_api_url(audit)
    audit.set_defaults(func=_run(cmd_audit, local_state, stack_name))


def add_github_check_command(github: Any, *, local_state: LocalState, stack_name: StackName) -> None:
    """``github check`` on the ``github`` subparsers."""
    check = github.add_parser(
        "check",
        help="whether the control plane reaches GitHub with the pipeline's token (exit 1 when it does not)",
    )
    check.add_argument("--pipeline", required=True)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    add_api_url(check)
    check.set_defaults(func=_run(cmd_github_check, local_state, stack_name))
