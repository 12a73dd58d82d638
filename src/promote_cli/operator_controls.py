"""``promote freeze``, ``promote unfreeze`` and ``promote window override``.

Each calls the control plane's IAM-authorized route (``POST /operator/pipelines/{pipeline}/freeze``,
``.../unfreeze``, ``.../window-override``), signed with SigV4 like ``promote rollback``: the control plane
writes the record, with ``by`` the IAM principal API Gateway verified, never the name of the user on the
operator's machine. The operator needs the stack's ``OperatorApprovalPolicy`` and no access to its tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from promote_cli.approvals import LocalState, StackName, add_api_url, operator_client
from promote_cli.control import ControlError

SCOPES = ("preprod", "prod", "*")


def call_route(
    args: argparse.Namespace,
    local_state: LocalState,
    stack_name: StackName,
    action: str,
    body: dict[str, str],
) -> dict[str, Any]:
    client = operator_client(args, local_state, stack_name)
    answer = client.call("POST", f"/operator/pipelines/{quote(args.pipeline, safe='')}/{action}", body=body)
    return dict(answer)


def required_reason(args: argparse.Namespace, why: str) -> str:
    reason = str(args.reason).strip()
    if not reason:
        raise ControlError(f"--reason must say {why}")
    return reason


def cmd_freeze(args: argparse.Namespace, local_state: LocalState, stack_name: StackName) -> int:
    reason = required_reason(args, "why (it is shown to whoever tries to promote)")
    print(
        json.dumps(
            call_route(
                args, local_state, stack_name, "freeze", {"environment": args.environment, "reason": reason}
            )
        )
    )
    return 0


def cmd_unfreeze(args: argparse.Namespace, local_state: LocalState, stack_name: StackName) -> int:
    body = {"environment": args.environment, "reason": (args.reason or "").strip()}
    print(json.dumps(call_route(args, local_state, stack_name, "unfreeze", body)))
    return 0


def cmd_window_override(args: argparse.Namespace, local_state: LocalState, stack_name: StackName) -> int:
    reason = required_reason(args, "why this promotion may deploy outside the windows")
    answer = call_route(
        args, local_state, stack_name, "window-override", {"execution": args.execution, "reason": reason}
    )
    recheck = answer.pop("recheck_seconds", None)
    if recheck is not None:
        print(
            f"{answer['execution']} may deploy prod outside the deployment windows (from its next check, "
            f"within {recheck}s if it waits)",
            file=sys.stderr,
        )
    print(json.dumps(answer))
    return 0


def add_commands(commands: Any, *, local_state: LocalState, stack_name: StackName) -> None:
    """Register ``freeze``, ``unfreeze`` and ``window override`` on ``promote``'s subparsers."""
    unfreeze = commands.add_parser("unfreeze", help="clear a freeze (a failed rollback's, or an operator's)")
    unfreeze.add_argument("--pipeline", required=True)
    unfreeze.add_argument(
        "--environment", default="*", choices=SCOPES, help="default: the pipeline-wide freeze"
    )
    unfreeze.add_argument("--reason", default="", help="why (optional; kept with the record)")
    add_api_url(unfreeze)
    unfreeze.set_defaults(func=lambda args: cmd_unfreeze(args, local_state, stack_name))

    freeze = commands.add_parser("freeze", help="stop new promotions of a pipeline or one environment")
    freeze.add_argument("--pipeline", required=True)
    freeze.add_argument("--environment", default="*", choices=SCOPES, help="default: all")
    freeze.add_argument("--reason", required=True)
    add_api_url(freeze)
    freeze.set_defaults(func=lambda args: cmd_freeze(args, local_state, stack_name))

    window = commands.add_parser("window", help="the pipeline's deployment windows").add_subparsers(
        dest="window_command", required=True
    )
    override = window.add_parser(
        "override", help="let one running promotion deploy prod outside the windows (recorded, with why)"
    )
    override.add_argument("--pipeline", required=True)
    override.add_argument("--execution", required=True, help="the promotion's execution name or ARN")
    override.add_argument("--reason", required=True)
    add_api_url(override)
    override.set_defaults(func=lambda args: cmd_window_override(args, local_state, stack_name))
