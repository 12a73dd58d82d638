"""Structured approver input (approval.inputs): the schema, its validation on every channel, and where the
values are recorded (vote, audit, decision proof, the verified approval)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from promote_cli.approvals import parse_inputs
from promote_cli.control import ControlError
from promote_cli.local.http_server import http_api_event
from promotion.approvals import links, pages, slack
from promotion.approvals.decision_proof import PURPOSE, decision_message
from promotion.approvals.decisions import Actor, decide
from promotion.approvals.slack_modal import InputModals, input_modal, parse_submission
from promotion.errors import ApprovalNotVerified, InvalidPipelineConfig
from promotion.http.slack_routes import SlackRouteDeps, build_slack_resolver
from promotion.models.approval import ApprovalRecord
from promotion.models.approver_input import ApproverInputField, ApproverInputInvalid, validate_inputs
from promotion.models.config import parse_pipeline_config
from tests.support.approval_fakes import (
    SIGNING_KEY,
    ApprovalWorld,
    approval_world,
    github_identity,
    pipeline,
    request,
    slack_click_body,
    slack_signature,
    slack_submission_body,
)
from tests.support.pipelines import sample_config_dict

NOW = 1_800_000_000.0
SHA = "d" * 40
RELEASE = "release-manager@example.com"
SECOND = "second@example.com"
OTHER_AUTHOR = github_identity("dev", "dev@example.com")
TICKET = {"name": "change_ticket", "label": "Change ticket", "pattern": "^CHG-[0-9]+$", "required": True}
RISK = {"name": "risk", "label": "Risk", "type": "enum", "choices": ["low", "medium", "high"]}
INPUTS = [TICKET, RISK]
FIELDS = [ApproverInputField.model_validate(f) for f in INPUTS]
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
RESPONSE_URL = "https://hooks.slack.com/actions/T0TEAM/1/abc"
SLACK = {"channel": "C0APPROVALS", "approvers": {"U0APPROVER": RELEASE}, "team_id": "T0TEAM"}


@pytest.fixture
def world() -> Iterator[ApprovalWorld]:
    with approval_world() as world:
        yield world


def opened(world: ApprovalWorld, inputs: list[dict[str, Any]] = INPUTS, **rules: Any) -> ApprovalRecord:
    return world.ask(
        config=pipeline(inputs=inputs, **rules),
        request=request(SHA, identity=OTHER_AUTHOR),
        now=NOW,
    )


def actor(approver: str = RELEASE) -> Actor:
    return Actor(approver=approver, channel="email", identity=f"signed link for {approver}")


# ---- the schema -----------------------------------------------------------------------------------------
def config_with(inputs: list[dict[str, Any]]) -> None:
    document = sample_config_dict()
    document["approval"] = {**document["approval"], "inputs": inputs}
    parse_pipeline_config(document, source="unit")


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([{**TICKET, "pattern": "^CHG-[0-9+$"}], "is not a regular expression"),
        ([{"name": "risk", "label": "Risk", "type": "enum"}], "an enum needs choices"),
        ([{**RISK, "choices": ["low", "low"]}], "choices repeat"),
        ([TICKET, {**TICKET, "label": "Again"}], "names repeat: change_ticket"),
        ([{**TICKET, "name": "Change-Ticket"}], "String should match pattern"),
        ([{**RISK, "pattern": "x"}], "pattern is for string inputs only"),
        ([{"name": "n", "label": "N", "type": "integer", "minimum": 5, "maximum": 1}], "minimum exceeds"),
    ],
)
def test_a_config_with_a_bad_input_schema_is_refused_at_load(
    inputs: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(InvalidPipelineConfig, match=re.escape(message)):
        config_with(inputs)


def test_inputs_are_off_by_default_and_a_valid_schema_loads() -> None:
    assert pipeline().approval.inputs == []
    assert [f.name for f in pipeline(inputs=INPUTS).approval.inputs] == ["change_ticket", "risk"]


@pytest.mark.parametrize(
    ("raw", "errors"),
    [
        ({}, {"change_ticket": "Change ticket is required"}),
        ({"change_ticket": "  "}, {"change_ticket": "Change ticket is required"}),
        ({"change_ticket": "CHG-12x"}, {"change_ticket": "Change ticket must match ^CHG-[0-9]+$"}),
        ({"change_ticket": "CHG-1", "risk": "extreme"}, {"risk": "Risk must be one of low, medium, high"}),
        ({"change_ticket": "CHG-1", "ticket": "x"}, {"ticket": "is not an input of this pipeline"}),
    ],
)
def test_values_are_refused_field_by_field(raw: dict[str, str], errors: dict[str, str]) -> None:
    with pytest.raises(ApproverInputInvalid) as refused:
        validate_inputs(FIELDS, raw)
    assert refused.value.errors == errors


def test_values_are_typed_and_optional_ones_may_be_left_out() -> None:
    fields = [
        *FIELDS,
        ApproverInputField(name="confirmed", label="Rollback plan checked", type="boolean", required=True),
        ApproverInputField(name="users", label="Users affected", type="integer", minimum=0, maximum=100),
    ]
    values = validate_inputs(fields, {"change_ticket": " CHG-7 ", "confirmed": "true", "users": "12"})
    assert values == {"change_ticket": "CHG-7", "confirmed": True, "users": 12}
    with pytest.raises(ApproverInputInvalid) as refused:
        validate_inputs(fields, {"change_ticket": "CHG-7", "confirmed": "false", "users": "101"})
    assert refused.value.errors == {
        "confirmed": "Rollback plan checked is required (must be confirmed)",
        "users": "Users affected must be at most 100",
    }
    # A rejection needs none of it
    assert validate_inputs(fields, {}, require=False) == {}


# ---- deciding -------------------------------------------------------------------------------------------
def test_an_approval_missing_required_input_is_refused_with_the_fields_error_and_nothing_decided(
    world: ApprovalWorld,
) -> None:
    record = opened(world)

    with pytest.raises(ApproverInputInvalid, match="Change ticket is required"):
        decide(world.services, record.approval_id, actor(), "approve", comment="", now=NOW + 5, inputs={})

    stored = world.store.get(record.approval_id)
    assert stored.status == "pending"
    assert stored.votes == {}
    assert world.sfn.calls == []
    refused = world.audit.history(record.approval_id)[-1]
    assert refused.action == "refused"
    assert "Change ticket is required" in refused.detail


def test_a_rejection_needs_no_input_and_records_none(world: ApprovalWorld) -> None:
    record = opened(world)

    result = decide(
        world.services, record.approval_id, actor(), "reject", comment="no", now=NOW + 5, inputs={"risk": "x"}
    )

    assert result.record.status == "rejected"
    assert world.audit.history(record.approval_id)[-1].inputs == {}


def test_valid_input_is_recorded_in_the_vote_the_audit_and_the_verified_approval(
    world: ApprovalWorld,
) -> None:
    record = opened(world, approvers=[RELEASE, SECOND], required_approvals=2)

    decide(world.services, record.approval_id, actor(RELEASE), "approve", comment="", now=NOW + 5,
           inputs={"change_ticket": "CHG-1", "risk": "low"})  # fmt: skip
    decide(world.services, record.approval_id, actor(SECOND), "approve", comment="", now=NOW + 6,
           inputs={"change_ticket": "CHG-2"})  # fmt: skip

    stored = world.store.get(record.approval_id)
    assert stored.votes[RELEASE].inputs == {"change_ticket": "CHG-1", "risk": "low"}
    assert stored.votes[SECOND].inputs == {"change_ticket": "CHG-2"}
    events = {event.action: event for event in world.audit.history(record.approval_id)}
    assert events["decided"].inputs == {"change_ticket": "CHG-2"}
    assert "input change_ticket=CHG-2" in events["approved"].detail
    _, params = world.sfn.calls[-1]
    verified = verify(world, stored, json.loads(params["output"]))
    # The execution gets the deciding (last) vote's input, and every approver's
    assert verified["inputs"] == {"change_ticket": "CHG-2"}
    assert verified["inputs_by_approver"] == {
        RELEASE: {"change_ticket": "CHG-1", "risk": "low"},
        SECOND: {"change_ticket": "CHG-2"},
    }


def verify(world: ApprovalWorld, record: ApprovalRecord, output: Any) -> dict[str, Any]:
    return world.verify(record, output, now=NOW + 10)


# ---- the decision proof ---------------------------------------------------------------------------------
def approved_with_input(world: ApprovalWorld) -> tuple[ApprovalRecord, str]:
    record = opened(world)
    decide(world.services, record.approval_id, actor(), "approve", comment="", now=NOW + 5,
           inputs={"change_ticket": "CHG-1", "risk": "high"})  # fmt: skip
    _, params = world.sfn.calls[-1]
    return world.store.get(record.approval_id), json.loads(params["output"])["decision_mac"]


def test_the_proof_covers_the_input_so_an_edited_value_no_longer_verifies(world: ApprovalWorld) -> None:
    record, mac = approved_with_input(world)
    vote = record.votes[RELEASE]
    edited = record.model_copy(
        update={"votes": {RELEASE: vote.model_copy(update={"inputs": {**vote.inputs, "risk": "low"}})}}
    )

    assert world.decision_key.verify(decision_message(record), mac)
    assert not world.decision_key.verify(decision_message(edited), mac)


def test_verify_refuses_a_vote_whose_input_no_longer_fits_the_rules(world: ApprovalWorld) -> None:
    # Given an approved record whose stored vote lost its required ticket (an edit of the table)
    record, mac = approved_with_input(world)
    vote = record.votes[RELEASE]
    world.store._table.update_item(  # the edit someone with table access makes
        Key={"approval_id": record.approval_id},
        UpdateExpression="SET votes.#by = :vote",
        ExpressionAttributeNames={"#by": RELEASE},
        ExpressionAttributeValues={":vote": vote.model_copy(update={"inputs": {}}).model_dump(mode="json")},
    )

    # Then "Verify approval" fails closed
    with pytest.raises(ApprovalNotVerified, match="Change ticket is required"):
        verify(world, record, {"approval_id": record.approval_id, "decision_mac": mac})


def test_a_record_without_inputs_keeps_the_document_it_was_macd_over(world: ApprovalWorld) -> None:
    # The document as it was before inputs existed: no "inputs" key, rules without an "inputs" field
    record = opened(world, inputs=[])
    decide(world.services, record.approval_id, actor(), "approve", comment="", now=NOW + 5)
    stored = world.store.get(record.approval_id)
    rules = stored.rules.model_dump(mode="json")
    del rules["inputs"]
    old = {
        "purpose": PURPOSE,
        "approval_id": stored.approval_id,
        "execution_arn": stored.execution_arn,
        "pipeline": stored.pipeline,
        "repo": stored.repo,
        "sha": stored.sha,
        "artifact_sha256": stored.artifact_sha256,
        "status": stored.status,
        "approvers": sorted(stored.votes),
        "decided_at": stored.decided_at,
        "rules": rules,
    }
    canonical = json.dumps(old, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    assert decision_message(stored) == f"{PURPOSE}\n{hashlib.sha256(canonical).hexdigest()}".encode()


# ---- the approval page ----------------------------------------------------------------------------------
def test_the_page_shows_the_fields_and_re_shows_them_with_each_error(world: ApprovalWorld) -> None:
    record = opened(world)
    page = pages.confirmation_page(
        record, approver=RELEASE, expires="1", signature="s", csrf_nonce="n", csrf_token="t"
    )
    assert '<input type="text" id="input-change_ticket" name="input.change_ticket" value=""' in page
    assert '<option value="high">high</option>' in page
    assert "Format: ^CHG-[0-9]+$" in page
    assert 'id="reject" formnovalidate' in page
    assert "<script" not in page
    assert 'class="error"' not in page

    again = pages.confirmation_page(
        record,
        approver=RELEASE,
        expires="1",
        signature="s",
        csrf_nonce="n",
        csrf_token="t",
        values={"change_ticket": '"><script>x</script>', "risk": "high"},
        errors={"change_ticket": "Change ticket must match ^CHG-[0-9]+$"},
    )
    assert (
        '<p class="error" id="input-change_ticket-error">Change ticket must match ^CHG-[0-9]+$</p>' in again
    )
    assert 'value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in again
    assert '<option value="high" selected>high</option>' in again
    assert "<script" not in again


def test_a_page_post_with_bad_input_is_422_with_the_form_again_and_decides_nothing(
    world: ApprovalWorld,
) -> None:
    from promotion.http.approval_routes import ApprovalApiDeps, build_resolver

    record = opened(world)
    resolver = build_resolver(
        ApprovalApiDeps(services=world.services, signing_key=lambda: SIGNING_KEY, clock=lambda: NOW + 10)
    )
    signed = links.sign(SIGNING_KEY, record.approval_id, RELEASE, record.expires_at)
    nonce, token = links.issue_csrf(SIGNING_KEY, record.approval_id, RELEASE, now=NOW + 10)
    form = {
        "approver": RELEASE,
        "expires": str(record.expires_at),
        "sig": signed.signature,
        "csrf_nonce": nonce,
        "csrf": token,
        "decision": "approve",
        "input.change_ticket": "INC-1",
        "input.risk": "low",
    }

    def post(fields: dict[str, str]) -> dict[str, Any]:
        from urllib.parse import urlencode

        event = http_api_event(
            route_key="POST /approvals/{approval_id}",
            method="POST",
            raw_path=f"/approvals/{record.approval_id}",
            query="",
            headers={"host": "h", "content-type": "application/x-www-form-urlencoded"},
            body=urlencode(fields).encode(),
            path_parameters={"approval_id": record.approval_id},
            source_ip="198.51.100.7",
        )
        return dict(resolver.resolve(event, {}))

    refused = post(form)
    assert refused["statusCode"] == 422
    assert "Change ticket must match ^CHG-[0-9]+$" in refused["body"]
    assert 'value="INC-1"' in refused["body"]
    assert world.store.get(record.approval_id).votes == {}
    assert world.sfn.calls == []

    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', refused["body"]))
    accepted = post({**form, **hidden, "input.change_ticket": "CHG-9"})
    assert accepted["statusCode"] == 200
    assert "change_ticket=CHG-9, risk=low" in accepted["body"]
    assert world.store.get(record.approval_id).votes[RELEASE].inputs == {
        "change_ticket": "CHG-9",
        "risk": "low",
    }


# ---- Slack ----------------------------------------------------------------------------------------------
def test_the_slack_modal_asks_for_each_input_and_its_submission_reads_back(world: ApprovalWorld) -> None:
    record = opened(world)
    view = input_modal(record, response_url=RESPONSE_URL)

    assert view["type"] == "modal"
    assert view["callback_id"] == "approval_input"
    inputs = [block for block in view["blocks"] if block["type"] == "input"]
    assert [(b["block_id"], b["element"]["type"], b["optional"]) for b in inputs] == [
        ("input_change_ticket", "plain_text_input", False),
        ("input_risk", "static_select", True),
    ]
    assert [o["value"] for o in inputs[1]["element"]["options"]] == ["low", "medium", "high"]
    assert json.loads(view["private_metadata"]) == {
        "approval_id": record.approval_id,
        "response_url": RESPONSE_URL,
    }

    body = slack_submission_body(
        view,
        {
            "change_ticket": {"type": "plain_text_input", "value": "CHG-3"},
            "risk": {"type": "static_select", "selected_option": {"value": "medium"}},
        },
    )
    submission = parse_submission(slack.read_payload(body), response_url_prefix="https://hooks.slack.com/")
    assert submission.approval_id == record.approval_id
    assert submission.response_url == RESPONSE_URL
    assert submission.inputs == {"change_ticket": "CHG-3", "risk": "medium"}


def post_to_route(modals: InputModals, dispatched: list[dict[str, Any]], body: str) -> dict[str, Any]:
    resolver = build_slack_resolver(
        SlackRouteDeps(
            signing_secret=lambda: SECRET, dispatch=dispatched.append, clock=lambda: NOW, modals=modals
        )
    )
    stamp = str(int(time.time()))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": slack_signature(SECRET, stamp, body),
    }
    event = http_api_event(
        route_key="POST /slack/interactions",
        method="POST",
        raw_path="/slack/interactions",
        query="",
        headers=headers,
        body=body.encode(),
        path_parameters={},
        source_ip="203.0.113.9",
    )
    return dict(resolver.resolve(event, {}))


def test_slacks_approve_opens_the_modal_and_a_bad_submission_gets_errors_per_field(
    world: ApprovalWorld,
) -> None:
    record = opened(world, channels=["email", "slack"], slack=SLACK)
    (post,) = world.slack.posts
    buttons = [e["action_id"] for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == [slack.APPROVE_WITH_INPUT_ACTION, slack.REJECT_ACTION]
    modals = InputModals(world.store, world.slack)
    dispatched: list[dict[str, Any]] = []

    # When the approver clicks Approve, the modal opens with the click's trigger_id and nothing is decided
    click = slack_click_body(record.approval_id, action=buttons[0], response_url=RESPONSE_URL)
    assert post_to_route(modals, dispatched, click)["statusCode"] == 200
    (opened_view,) = world.slack.views
    assert opened_view["trigger_id"] == "1.2.3"
    assert dispatched == []

    # When they submit a ticket of the wrong form, Slack is told which field, and nothing is handed on
    bad = slack_submission_body(
        opened_view["view"], {"change_ticket": {"type": "plain_text_input", "value": "x"}}
    )
    answer = post_to_route(modals, dispatched, bad)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {
        "response_action": "errors",
        "errors": {"input_change_ticket": "Change ticket must match ^CHG-[0-9]+$"},
    }
    assert dispatched == []

    # When the submission is valid, the worker gets an approval with the input and the click's response_url
    good = slack_submission_body(
        opened_view["view"], {"change_ticket": {"type": "plain_text_input", "value": "CHG-5"}}
    )
    answer = post_to_route(modals, dispatched, good)
    assert answer["statusCode"] == 200
    assert answer["body"] == ""
    (task,) = dispatched
    assert task["decision"] == "approve"
    assert task["inputs"] == {"change_ticket": "CHG-5"}
    assert task["response_url"] == RESPONSE_URL


# ---- the CLI --------------------------------------------------------------------------------------------
def test_the_cli_reads_name_value_pairs_and_refuses_anything_else() -> None:
    assert parse_inputs(["change_ticket=CHG-1", "note=a=b"]) == {"change_ticket": "CHG-1", "note": "a=b"}
    for bad, message in ((["CHG-1"], "expected name=value"), (["a=1", "a=2"], "given twice")):
        with pytest.raises(ControlError, match=message):
            parse_inputs(bad)
