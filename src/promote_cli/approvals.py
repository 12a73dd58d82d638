"""``promote approvals list``, ``promote approve ID``, ``promote reject ID --reason ...``.

Operators decide through the same code and rules as the email links and Slack buttons
(``promotion.approvals.decide``), as themselves: their AWS identity (STS GetCallerIdentity) must be mapped
to an approver in the pipeline's ``approval.operators``. The decision's channel is ``operator``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import boto3

from promote_cli.control import ControlError
from promotion import approvals
from promotion.audit import Requester
from promotion.dal.approvals import DynamoApprovalStore
from promotion.dal.audit import DynamoAuditLog
from promotion.models.approval import ApprovalRecord

SessionArgs = Callable[[argparse.Namespace], dict[str, Any]]
StackName = Callable[[argparse.Namespace], str]


def approvals_table_name(stack: str) -> str:
    return f"{stack}-approvals"  # template.yaml: ApprovalsTable.TableName


def audit_table_name(stack: str) -> str:
    return f"{stack}-approval-audit"  # template.yaml: ApprovalAuditTable.TableName


class OperatorSession:
    """The AWS clients and identity one CLI invocation acts with."""

    def __init__(self, options: dict[str, Any], stack: str) -> None:
        self._options = options
        self.stack = stack
        dynamodb = boto3.resource("dynamodb", **options)
        self.store = DynamoApprovalStore(dynamodb.Table(approvals_table_name(stack)))
        self.audit = DynamoAuditLog(dynamodb.Table(audit_table_name(stack)))
        self.sfn = boto3.client("stepfunctions", **options)

    def principal_arn(self) -> str:
        return str(boto3.client("sts", **self._options).get_caller_identity()["Arn"])

    def services(self) -> approvals.ApprovalServices:
        # No Slack bot token on an operator's machine: the Slack message keeps its buttons, which
        # answer "already approved/rejected" from the record.
        return approvals.ApprovalServices(store=self.store, sfn=self.sfn, audit=self.audit)


def _requester() -> Requester:
    return Requester(source_ip="", user_agent=f"promote-cli ({getpass.getuser()}@{socket.gethostname()})")


def _row(record: ApprovalRecord) -> dict[str, Any]:
    return {
        "approval_id": record.approval_id,
        "pipeline": record.pipeline,
        "sha": record.sha,
        "execution": record.execution_name,
        "requested_at": approvals.iso(record.requested_at),
        "expires_at": approvals.iso(record.expires_at),
        "approvals": f"{len(record.votes)}/{record.rules.required_approvals}",
        "approved_by": record.approved_by(),
        "approvers": record.approvers,
        "author": record.commit.author_login or record.commit.author_email or "unknown",
        "author_verified": record.commit.author_confirmed,
    }


def cmd_list(args: argparse.Namespace, session: OperatorSession) -> int:
    records = session.store.list_open()
    if args.pipeline:
        records = [record for record in records if record.pipeline == args.pipeline]
    rows = [_row(record) for record in records]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no approvals waiting")
        return 0
    for row in rows:
        print(
            f"{row['approval_id']}  {row['pipeline']}  {row['sha'][:12]}  {row['approvals']} approvals  "
            f"expires {row['expires_at']}  author {row['author']}"
            f"{'' if row['author_verified'] else ' (unverified)'}"
        )
    return 0


def _decide(args: argparse.Namespace, session: OperatorSession, decision: str) -> int:
    reason = (args.reason or "").strip()
    if decision == "reject" and not reason:
        raise ControlError("a rejection needs --reason")
    try:
        result = approvals.decide_by_operator(
            session.services(),
            args.approval_id,
            principal_arn=session.principal_arn(),
            decision="approve" if decision == "approve" else "reject",
            reason=reason[:1000],
            now=time.time(),
            requester=_requester(),
        )
    except approvals.DecisionNotDelivered as error:
        raise ControlError(str(error)) from error
    print(
        json.dumps(
            {"approval_id": args.approval_id, "status": result.record.status, "result": result.summary()}
        )
    )
    return 0


def add_commands(commands: Any, *, session_args: SessionArgs, stack_name: StackName) -> None:
    """Register the approval commands on ``promote``'s subparsers."""

    def run(
        handler: Callable[[argparse.Namespace, OperatorSession], int],
    ) -> Callable[[argparse.Namespace], int]:
        def command(args: argparse.Namespace) -> int:
            if args.local:
                # The local plane's moto accepts any credentials; set some so boto3 never looks further.
                os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
                os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
            return handler(args, OperatorSession(session_args(args), stack_name(args)))

        return command

    listing = commands.add_parser("approvals", help="approval requests").add_subparsers(
        dest="approvals_command", required=True
    )
    list_parser = listing.add_parser("list", help="the approval requests still waiting for a decision")
    list_parser.add_argument("--pipeline", default=None)
    list_parser.add_argument("--json", action="store_true", help="print JSON")
    list_parser.set_defaults(func=run(cmd_list))

    approve = commands.add_parser("approve", help="approve a waiting request as your AWS identity")
    approve.add_argument("approval_id")
    approve.add_argument("--reason", "--comment", dest="reason", default="", help="optional comment")
    approve.set_defaults(func=run(lambda args, session: _decide(args, session, "approve")))

    reject = commands.add_parser("reject", help="reject a waiting request as your AWS identity")
    reject.add_argument("approval_id")
    reject.add_argument("--reason", required=True, help="why (kept in the audit and the failure cause)")
    reject.set_defaults(func=run(lambda args, session: _decide(args, session, "reject")))
