"""The approval audit trail: append-only, kept by the stack, writable but never deletable by functions."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from promotion.approvals.audit import Requester, audit_event
from promotion.dal.audit import DynamoAuditLog
from tests.support.approval_fakes import REGION, create_table_from_template, template_resources


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, object]]] = []

    def info(self, message: str, extra: dict[str, object]) -> None:
        self.lines.append((message, extra))


def test_events_are_kept_in_order_with_who_when_channel_ip_agent_and_comment() -> None:
    with mock_aws():
        table = create_table_from_template(
            boto3.client("dynamodb", region_name=REGION), "ApprovalAuditTable", "a"
        )
        log = RecordingLog()
        audit = DynamoAuditLog(table, log=log)
        requester = Requester(source_ip="198.51.100.7", user_agent="Mozilla/5.0")
        for action in ("requested", "viewed", "approved", "decided"):
            audit.record(
                audit_event(
                    approval_id="id1",
                    action=action,
                    actor="rm@example.com",
                    channel="email",
                    at_ms=1_800_000_000_000,
                    requester=requester,
                    comment="ship it",
                )
            )

        history = audit.history("id1")

        assert [event.action for event in history] == ["requested", "viewed", "approved", "decided"]
        assert {(e.actor, e.channel, e.source_ip, e.user_agent, e.comment, e.at) for e in history} == {
            ("rm@example.com", "email", "198.51.100.7", "Mozilla/5.0", "ship it", 1_800_000_000)
        }
        assert [line[0] for line in log.lines] == ["approval audit"] * 4


def test_an_event_is_never_overwritten() -> None:
    with mock_aws():
        table = create_table_from_template(
            boto3.client("dynamodb", region_name=REGION), "ApprovalAuditTable", "a"
        )
        audit = DynamoAuditLog(table)
        event = audit_event(approval_id="id1", action="viewed", actor="x", channel="email", at_ms=1)
        audit.record(event)
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            audit.record(event.model_copy(update={"comment": "rewritten"}))
        assert audit.history("id1")[0].comment == ""


def test_the_stack_retains_the_audit_table_and_functions_can_only_put_items_into_it() -> None:
    resources = template_resources()
    table = resources["ApprovalAuditTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    # Append-only: every function may add events; only the operator routes' audit reads may query them;
    # none may change or delete one.
    allowed = {"OperatorApiFunction": ["dynamodb:PutItem", "dynamodb:Query"]}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            text = json.dumps(policy)
            if "ApprovalAuditTable" not in text:
                continue
            statements = policy["Statement"]
            actions = [statement["Action"] for statement in statements]
            assert actions in (["dynamodb:PutItem"], [allowed.get(logical_id, ["dynamodb:PutItem"])]), (
                logical_id
            )
