"""Structured approver input on the local plane: the real ASL, handlers, tables, routes and Slack stand-in.

An approval missing its required input is refused with the field's error and nothing is decided (page,
CLI, Slack modal); a valid one is recorded in the audit, the ledger, the execution's output and the notice.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urljoin

import boto3
import requests
from boto3.dynamodb.conditions import Key

from promote_cli.local.plane import LocalControlPlane
from promotion.dal.audit import DynamoAuditLog
from tests.integration.approvals.test_slack_approvals import SLACK_APPROVER, SLACK_SETTINGS
from tests.support.approval_fakes import slack_submission_body
from tests.support.approval_plane import (
    RELEASE,
    approval_id_of,
    button_approval_id,
    click,
    derived_pipeline,
    post_signed,
    slack_approval_message,
    slack_messages,
    slack_response,
    start,
    still_waiting,
    wait_for_slack_message,
)
from tests.support.operator_cli import promote
from tests.support.promotion import (
    ConfirmationForm,
    outbox,
    wait_for_approval_links,
    wait_for_end,
)

INPUTS = [
    {"name": "change_ticket", "label": "Change ticket", "pattern": "^CHG-[0-9]+$", "required": True},
    {"name": "risk", "label": "Risk", "type": "enum", "choices": ["low", "medium", "high"]},
]


def _resource(plane: LocalControlPlane) -> Any:
    return boto3.resource("dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url)


def audit_events(plane: LocalControlPlane, approval_id: str) -> list[Any]:
    assert plane.stack is not None
    return DynamoAuditLog(_resource(plane).Table(plane.stack.environment["AUDIT_TABLE"])).history(approval_id)


def prod_ledger_entry(plane: LocalControlPlane, pipeline: str, execution_name: str) -> dict[str, Any]:
    assert plane.stack is not None
    table = _resource(plane).Table(plane.stack.environment["DEPLOYMENTS_TABLE"])
    condition = Key("pk").eq(f"{pipeline}#prod") & Key("sk").begins_with("deploy#")
    items = table.query(KeyConditionExpression=condition)["Items"]
    (entry,) = [item for item in items if item.get("execution_name") == execution_name]
    return dict(entry)


def test_the_page_and_the_cli_refuse_missing_input_and_a_valid_one_reaches_audit_ledger_output_and_notice(
    plane: LocalControlPlane,
) -> None:
    # Given a promotion of a pipeline whose approvals ask for a change ticket and a risk
    pipeline = derived_pipeline(plane, "approval-input", inputs=INPUTS)
    promotion = start(plane, pipeline)
    (link,) = wait_for_approval_links(plane, promotion)
    approval_id = approval_id_of(link)
    page = requests.get(link, timeout=5)
    assert page.status_code == 200
    assert 'name="input.change_ticket"' in page.text
    assert 'name="input.risk"' in page.text
    form = ConfirmationForm(page.text)
    action = urljoin(link, form.action)

    # When the approver approves from the page without the ticket
    missing = requests.post(
        action, data={**form.fields, "decision": "approve", "input.risk": "low"}, timeout=10
    )

    # Then the page comes back with the field's error and what was chosen, and nothing is decided
    assert missing.status_code == 422
    assert "Change ticket is required" in missing.text
    assert '<option value="low" selected>low</option>' in missing.text
    assert still_waiting(plane, promotion)

    # When the operator approves from the CLI with a ticket of the wrong form
    cli = promote(plane, "approve", approval_id, "--input", "change_ticket=INC-7", local=True)

    # Then one line names the field, exit 2, and nothing is decided
    assert cli.returncode == 2
    assert "Change ticket must match ^CHG-[0-9]+$" in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1
    assert still_waiting(plane, promotion)

    # When the approver posts the re-shown form with a valid ticket
    again = ConfirmationForm(missing.text)
    fields = {**again.fields, "decision": "approve", "input.change_ticket": "CHG-42", "input.risk": "low"}
    approved = requests.post(action, data=fields, timeout=10)
    assert approved.status_code == 200, approved.text

    # Then the promotion succeeds and its output carries the input, as the record says
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "SUCCEEDED"
    approval = json.loads(described["output"])["approval"]
    expected = {"change_ticket": "CHG-42", "risk": "low"}
    assert approval["inputs"] == expected
    assert approval["inputs_by_approver"] == {RELEASE: expected}
    # the audit has the refusals and the decision with its input
    events = audit_events(plane, approval_id)
    refusals = [event.detail for event in events if event.action == "refused"]
    assert any("Change ticket is required" in detail for detail in refusals)
    assert any("Change ticket must match" in detail for detail in refusals)
    (decided,) = [event for event in events if event.action == "decided"]
    assert decided.inputs == expected
    # the ledger's prod entry
    entry = prod_ledger_entry(plane, pipeline, promotion.execution_arn.rsplit(":", 1)[1])
    assert entry["approval_inputs"] == expected
    # and the success notice
    notices = [m for m in outbox(plane) if m["subject"].startswith(f"Promoted {pipeline}@")]
    assert notices, "no success notice"
    assert "Approver input: change_ticket=CHG-42, risk=low" in notices[0]["text"]
    # and the console's approval panel
    console = requests.get(
        f"{plane.console_url}/api/executions/{quote(promotion.execution_arn, safe='')}", timeout=10
    )
    assert console.status_code == 200
    assert console.json()["approval"]["inputs"] == {RELEASE: expected}


def test_slacks_approve_opens_a_modal_whose_bad_submission_gets_field_errors_and_good_one_approves(
    plane: LocalControlPlane,
) -> None:
    # Given a promotion whose approval request was posted to Slack, asking for input
    pipeline = derived_pipeline(
        plane, "slack-input", channels=["email", "slack"], slack=SLACK_SETTINGS, inputs=INPUTS
    )
    promotion = start(plane, pipeline)
    message = slack_approval_message(plane, promotion)
    approval_id = button_approval_id(message)

    # When the approver clicks Approve
    answer, response_id = click(plane, approval_id, user=SLACK_APPROVER, action="approve_with_input")

    # Then Slack is asked to open the modal with the click's trigger_id, and nothing is decided
    assert answer.status_code == 200
    opened = wait_for_slack_message(plane, promotion, lambda m: m["subject"] == "api:views.open")
    assert opened["payload"]["trigger_id"] == "1.2.3"
    view = opened["payload"]["view"]
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [
        "input_change_ticket",
        "input_risk",
    ]
    assert still_waiting(plane, promotion)

    # When they submit it without a ticket
    empty = slack_submission_body(
        view, {"change_ticket": {"type": "plain_text_input", "value": None}}, user=SLACK_APPROVER
    )
    refused = post_signed(plane, empty)

    # Then Slack gets the field's error to show in the modal, and nothing is decided
    assert refused.status_code == 200
    assert refused.json() == {
        "response_action": "errors",
        "errors": {"input_change_ticket": "Change ticket is required"},
    }
    assert still_waiting(plane, promotion)

    # When they submit a valid ticket and a risk
    good = slack_submission_body(
        view,
        {
            "change_ticket": {"type": "plain_text_input", "value": "CHG-7"},
            "risk": {"type": "static_select", "selected_option": {"value": "high"}},
        },
        user=SLACK_APPROVER,
    )
    accepted = post_signed(plane, good)

    # Then the modal closes, the promotion succeeds with the input, and the message says who approved
    assert accepted.status_code == 200
    assert accepted.text == ""
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "SUCCEEDED"
    approval = json.loads(described["output"])["approval"]
    assert approval["channel"] == "slack"
    assert approval["inputs"] == {"change_ticket": "CHG-7", "risk": "high"}
    update = slack_response(plane, promotion, response_id)
    assert update["text"].startswith(f"Approved by {RELEASE} via Slack at ")
    assert "change_ticket=CHG-7, risk=high" in json.dumps(update["payload"]["blocks"])
    assert [m for m in slack_messages(plane, subject="api:views.open") if m["payload"]["view"] == view]
