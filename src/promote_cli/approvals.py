"""``promote approvals list``, ``promote approve ID``, ``promote reject ID --reason ...`` (``promote approvals
audit`` is in ``promote_cli.operator_reads``).

Operators decide server-side: these commands call the control plane's IAM-authorized operator routes
(``GET /operator/approvals``, ``POST /operator/approvals/{id}``), signed with SigV4 from the caller's own AWS
credentials. API Gateway verifies the signature and the caller's ``execute-api:Invoke`` permission; the
operator function decides by the same rules as the email links and Slack buttons, as the IAM principal
API Gateway verified, which the pipeline's ``approval.operators`` must map to an approver. An operator
needs no access to the approvals table and no ``states:SendTask*``.

The API's address: ``--api-url``, else ``PROMOTE_API_URL``, else the local plane's (``--local``, which also
signs as the local plane's operator), else the stack's ``ApiUrl`` output (CloudFormation DescribeStacks).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

from promote_cli.control import ControlError

LocalState = Callable[[], dict[str, Any]]
StackName = Callable[[argparse.Namespace], str]
API_URL_OUTPUT = "ApiUrl"  # template.yaml Outputs
TIMEOUT_SECONDS = 30


class OperatorClient:
    """Calls the operator routes, each request SigV4-signed for ``execute-api``."""

    def __init__(self, api_url: str, credentials: ReadOnlyCredentials, region: str) -> None:
        self.api_url = api_url.rstrip("/")
        self._credentials = credentials
        self._region = region

    def call(self, method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None) -> Any:
        url = f"{self.api_url}{path}" + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else b""
        request = AWSRequest(method=method, url=url, data=data, headers={"content-type": "application/json"})
        credentials = Credentials(
            self._credentials.access_key, self._credentials.secret_key, self._credentials.token
        )
        SigV4Auth(credentials, "execute-api", self._region).add_auth(request)
        try:
            answer = requests.request(
                method, url, headers=dict(request.headers.items()), data=data, timeout=TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            raise ControlError(f"the operator API at {self.api_url} did not answer: {error}") from None
        try:
            document = answer.json()
        except ValueError:
            document = {}
        if answer.status_code >= 300:
            detail = document.get("message") if isinstance(document, dict) else None
            title = document.get("error") if isinstance(document, dict) else None
            label = f"{answer.status_code} {title}" if title else str(answer.status_code)
            if answer.status_code == 403 and not title:
                # API Gateway's own refusal: the signature or the caller's IAM permission.
                detail = (
                    "forbidden: the request was not signed by credentials whose IAM policies allow "
                    "execute-api:Invoke on the operator routes"
                )
            raise ControlError(f"{detail or answer.reason} ({label})")
        return document


def stack_api_url(args: argparse.Namespace, stack: str) -> str:
    options = {"region_name": args.region} if args.region else {}
    try:
        stacks = boto3.client("cloudformation", **options).describe_stacks(StackName=stack)["Stacks"]
    except Exception as error:
        raise ControlError(
            f"could not read the {API_URL_OUTPUT} output of stack {stack} ({error}); pass --api-url"
        ) from None
    for output in stacks[0].get("Outputs", []):
        if output.get("OutputKey") == API_URL_OUTPUT:
            return str(output["OutputValue"])
    raise ControlError(f"stack {stack} has no {API_URL_OUTPUT} output; pass --api-url")


def add_api_url(parser: argparse.ArgumentParser) -> None:
    """The ``--api-url`` option of every command that calls the operator routes."""
    parser.add_argument(
        "--api-url", default=None, help="the control plane's HTTP API (default: the stack's ApiUrl output)"
    )


def operator_client(
    args: argparse.Namespace, local_state: LocalState, stack_name: StackName
) -> OperatorClient:
    explicit = args.api_url or os.environ.get("PROMOTE_API_URL")
    if args.local:
        state = local_state()
        operator = state.get("operator") or {}
        if not operator:
            raise ControlError("the local control plane names no operator credentials; restart it")
        return OperatorClient(
            explicit or str(state["api_url"]),
            ReadOnlyCredentials(operator["access_key_id"], operator["secret_access_key"], None),
            str(state["region"]),
        )
    session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise ControlError("no AWS credentials found: the operator routes need SigV4-signed requests")
    if not session.region_name:
        raise ControlError("no AWS region configured: pass --region")
    url = explicit or stack_api_url(args, stack_name(args))
    return OperatorClient(url, credentials.get_frozen_credentials(), session.region_name)


def cmd_list(args: argparse.Namespace, client: OperatorClient) -> int:
    query = {"pipeline": args.pipeline} if args.pipeline else None
    records = client.call("GET", "/operator/approvals", query=query)["approvals"]
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    if not records:
        print("no approvals waiting")
        return 0
    for record in records:
        commit = record.get("commit") or {}
        author = commit.get("author_login") or commit.get("author_email") or "unknown"
        needed = (record.get("policy") or {}).get("required_approvals", 1)
        verified = " (verified by GitHub)" if record.get("author_confirmed") else " (unverified)"
        you = (
            f"  you act as {record['as_approver']}"
            if record.get("as_approver")
            else "  (not yours to decide)"
        )
        fields = (record.get("policy") or {}).get("inputs") or []
        asks = (
            "  inputs " + " ".join(f"{f['name']}{'*' if f.get('required') else ''}" for f in fields)
            if fields
            else ""
        )
        print(
            f"{record['approval_id']}  {record['pipeline']}  {record['sha'][:12]}  "
            f"{len(record.get('votes') or {})}/{needed} approvals  expires {record['expires_at']}  "
            f"author {author}{verified}{you}{asks}"
        )
    return 0


def parse_inputs(pairs: list[str]) -> dict[str, str]:
    """``--input name=value`` options as a mapping; the control plane validates the values."""
    inputs: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ControlError(f"--input {pair!r}: expected name=value")
        if name in inputs:
            raise ControlError(f"--input {name}: given twice")
        inputs[name] = value
    return inputs


def _decide(args: argparse.Namespace, client: OperatorClient, decision: str) -> int:
    reason = (args.reason or "").strip()
    if decision == "reject" and not reason:
        raise ControlError("a rejection needs --reason")
    body: dict[str, Any] = {"decision": decision, "reason": reason}
    inputs = parse_inputs(getattr(args, "inputs", None) or [])
    if inputs:
        body["inputs"] = inputs
    result = client.call("POST", f"/operator/approvals/{quote(args.approval_id, safe='')}", body=body)
    print(json.dumps({key: result.get(key) for key in ("approval_id", "status", "result", "caller")}))
    return 0


def add_commands(commands: Any, *, local_state: LocalState, stack_name: StackName) -> Any:
    """Register the approval commands on ``promote``'s subparsers; returns ``approvals``' own subparsers."""

    def run(
        handler: Callable[[argparse.Namespace, OperatorClient], int],
    ) -> Callable[[argparse.Namespace], int]:
        def command(args: argparse.Namespace) -> int:
            return handler(args, operator_client(args, local_state, stack_name))

        return command

    listing = commands.add_parser("approvals", help="approval requests").add_subparsers(
        dest="approvals_command", required=True
    )
    list_parser = listing.add_parser("list", help="the approval requests still waiting for a decision")
    list_parser.add_argument("--pipeline", default=None)
    list_parser.add_argument("--json", action="store_true", help="print JSON")
    add_api_url(list_parser)
    list_parser.set_defaults(func=run(cmd_list))

    approve = commands.add_parser("approve", help="approve a waiting request as your AWS identity")
    approve.add_argument("approval_id")
    approve.add_argument("--reason", "--comment", dest="reason", default="", help="optional comment")
    approve.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an answer to the pipeline's approval.inputs (repeat for each field)",
    )
    add_api_url(approve)
    approve.set_defaults(func=run(lambda args, client: _decide(args, client, "approve")))

    reject = commands.add_parser("reject", help="reject a waiting request as your AWS identity")
    reject.add_argument("approval_id")
    reject.add_argument("--reason", required=True, help="why (kept in the audit and the failure cause)")
    add_api_url(reject)
    reject.set_defaults(func=run(lambda args, client: _decide(args, client, "reject")))
    return listing
