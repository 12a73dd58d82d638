"""``promote rollback ENV`` (an emergency rollback, in seconds) and ``promote redeploy ENV [SHA]`` (a full
re-promotion of an older build through the state machine).

``rollback`` calls the control plane's IAM-authorized route ``POST /operator/pipelines/{pipeline}/rollback``,
signed with SigV4 like ``promote approve``: the control plane moves the environment's aliases to its
previous known-good versions as the environment's deployer role, under the deploy lock, and records the
caller API Gateway verified. The operator needs the stack's ``OperatorApprovalPolicy`` and nothing on the
environment. ``redeploy`` starts an execution (preprod, checks, approval, prod) as before.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from promote_cli.approvals import LocalState, StackName, add_api_url, operator_client
from promote_cli.control import ControlError, ControlPlane, stated_operator

Control = Callable[[argparse.Namespace], ControlPlane]


def cmd_rollback(args: argparse.Namespace, local_state: LocalState, stack_name: StackName) -> int:
    reason = args.reason.strip()
    if not reason:
        raise ControlError("an emergency rollback needs --reason (it goes into the ledger, audit and notice)")
    client = operator_client(args, local_state, stack_name)
    result = client.call(
        "POST",
        f"/operator/pipelines/{quote(args.pipeline, safe='')}/rollback",
        body={"environment": args.environment, "reason": reason},
    )
    print(json.dumps(result))
    return 0


def cmd_redeploy(args: argparse.Namespace, control: Control) -> int:
    plane = control(args)
    started = plane.redeploy(args.pipeline, args.environment, args.sha, requested_by=stated_operator())
    print(json.dumps(started))
    return 0


def add_commands(
    commands: Any,
    *,
    control: Control,
    local_state: LocalState,
    stack_name: StackName,
    sha: Callable[[str], str],
) -> None:
    """Register ``rollback`` and ``redeploy`` on ``promote``'s subparsers (``sha``: the commit argument's
    type, as every command parses it)."""
    rollback = commands.add_parser(
        "rollback",
        help="move the environment's aliases straight back to its previous known-good versions (seconds; "
        "no preprod, checks or approval)",
    )
    rollback.add_argument("environment", choices=("preprod", "prod"))
    rollback.add_argument("--pipeline", required=True)
    rollback.add_argument(
        "--reason", required=True, help="why (kept in the ledger, the audit and the notice)"
    )
    add_api_url(rollback)
    rollback.set_defaults(func=lambda args: cmd_rollback(args, local_state, stack_name))

    redeploy = commands.add_parser(
        "redeploy",
        help="promote a build again through the whole state machine (preprod, checks, approval): the given "
        "(possibly older) SHA, or without one the environment's last known-good build",
    )
    redeploy.add_argument("environment", choices=("preprod", "prod"))
    redeploy.add_argument("sha", type=sha, nargs="?", default=None)
    redeploy.add_argument("--pipeline", required=True)
    redeploy.set_defaults(func=lambda args: cmd_redeploy(args, control))
