"""Slack: signature checks against Slack's published vector, the interactivity route, the decision worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promote_cli.local.http_server import http_api_event
from promotion.approvals import slack
from promotion.approvals.slack_signature import SlackRequestInvalid, verify_request
from promotion.http.slack_routes import SlackDecisionTask, SlackRouteDeps, build_slack_resolver
from promotion.http.slack_worker import handle_click
from tests.support.approval_fakes import (
    ApprovalWorld,
    approval_world,
    github_identity,
    pipeline,
    request,
    slack_click_body,
    slack_signature,
    slack_vector,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_800_000_000.0
RESPONSE_URL = "https://hooks.slack.com/actions/T0TEAM/1/abc"
RELEASE = "release-manager@example.com"
OTHER_AUTHOR = github_identity("dev", "dev@example.com")


class FixedClock:
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_slacks_published_vector_verifies_and_a_one_byte_change_does_not() -> None:
    vector = slack_vector()
    clock = FixedClock(float(vector["timestamp"]))
    verify_request(
        vector["signing_secret"],
        body=vector["body"],
        timestamp=vector["timestamp"],
        signature=vector["signature"],
        clock=clock,
    )
    tampered_body = vector["body"].replace("user_id=U2CERLKJA", "user_id=U2CERLKJB")
    for body, signature in (
        (tampered_body, vector["signature"]),
        (vector["body"], vector["signature"][:-1] + "0"),
    ):
        with pytest.raises(SlackRequestInvalid):
            verify_request(
                vector["signing_secret"],
                body=body,
                timestamp=vector["timestamp"],
                signature=signature,
                clock=clock,
            )


def test_a_request_older_than_five_minutes_is_refused_even_when_signed() -> None:
    vector = slack_vector()
    later = FixedClock(float(vector["timestamp"]) + 5 * 60 + 1)
    with pytest.raises(SlackRequestInvalid, match="older than 5 minutes"):
        verify_request(
            vector["signing_secret"],
            body=vector["body"],
            timestamp=vector["timestamp"],
            signature=vector["signature"],
            clock=later,
        )


def test_a_click_is_parsed_and_its_response_url_must_be_slacks() -> None:
    body = slack_click_body("abcdefgh12345678", action="reject", user="U0RM", response_url=RESPONSE_URL)
    click = slack.parse_interaction(body)
    assert (click.approval_id, click.decision, click.user_id) == ("abcdefgh12345678", "reject", "U0RM")
    assert click.response_url == RESPONSE_URL

    elsewhere = slack_click_body("abcdefgh12345678", response_url="http://169.254.169.254/latest/meta-data")
    with pytest.raises(slack.SlackPayloadInvalid, match="response_url"):
        slack.parse_interaction(elsewhere)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "view_submission"},
        {"type": "block_actions", "user": {"id": "U1"}, "actions": []},
        {
            "type": "block_actions",
            "user": {"id": "U1"},
            "actions": [{"action_id": "delete", "value": "abcdefgh1"}],
        },
        {"type": "block_actions", "actions": [{"action_id": "approve", "value": "abcdefgh1"}]},
        {
            "type": "block_actions",
            "user": {"id": "U1"},
            "actions": [{"action_id": "approve", "value": "../x"}],
        },
    ],
)
def test_anything_but_an_approval_click_is_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(slack.SlackPayloadInvalid):
        slack.parse_interaction(urlencode({"payload": json.dumps(payload)}))


# ---- the interactivity route --------------------------------------------------------------------------
class Dispatched:
    def __init__(self) -> None:
        self.tasks: list[dict[str, Any]] = []

    def __call__(self, task: dict[str, Any]) -> None:
        self.tasks.append(task)


def route(dispatched: Dispatched, now: float = NOW) -> Any:
    return build_slack_resolver(
        SlackRouteDeps(signing_secret=lambda: SECRET, dispatch=dispatched, clock=lambda: now)
    )


def interaction_event(body: str, headers: dict[str, str]) -> dict[str, Any]:
    return http_api_event(
        route_key="POST /slack/interactions",
        method="POST",
        raw_path="/slack/interactions",
        query="",
        headers={"content-type": "application/x-www-form-urlencoded", **headers},
        body=body.encode(),
        path_parameters={},
        source_ip="203.0.113.9",
    )


def signed_headers(body: str, timestamp: int) -> dict[str, str]:
    return {
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": slack_signature(SECRET, str(timestamp), body),
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


def test_a_signed_click_is_acknowledged_at_once_and_handed_to_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    dispatched = Dispatched()
    body = slack_click_body("abcdefgh12345678", user="U0RM", response_url=RESPONSE_URL)
    answer = route(dispatched).resolve(interaction_event(body, signed_headers(body, int(time.time()))), {})

    assert answer["statusCode"] == 200
    assert answer["body"] == ""
    (task,) = dispatched.tasks
    assert task["approval_id"] == "abcdefgh12345678"
    assert task["user_id"] == "U0RM"
    assert task["source_ip"] == "203.0.113.9"
    assert task["user_agent"].startswith("Slackbot")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-slack-request-timestamp": "now", "x-slack-signature": "v0=00"},
        {"x-slack-request-timestamp": "¹²³", "x-slack-signature": "v0=00"},
    ],
)
def test_unsigned_or_malformed_requests_get_401_and_nothing_is_dispatched(headers: dict[str, str]) -> None:
    dispatched = Dispatched()
    body = slack_click_body("abcdefgh12345678", response_url=RESPONSE_URL)
    answer = route(dispatched).resolve(interaction_event(body, headers), {})
    assert answer["statusCode"] == 401
    assert dispatched.tasks == []


def test_a_replayed_request_older_than_five_minutes_gets_401() -> None:
    import time

    dispatched = Dispatched()
    body = slack_click_body("abcdefgh12345678", response_url=RESPONSE_URL)
    old = int(time.time()) - 301
    answer = route(dispatched).resolve(interaction_event(body, signed_headers(body, old)), {})
    assert answer["statusCode"] == 401
    assert dispatched.tasks == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(st.text(max_size=400), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
    timestamp=st.one_of(st.none(), st.text(max_size=14), st.integers(0, 2**40).map(str)),
    signature=st.one_of(st.none(), st.text(max_size=80), st.from_regex(r"v0=[0-9a-f]{64}", fullmatch=True)),
)
def test_fuzzed_slack_requests_never_5xx_and_never_dispatch_without_a_valid_signature(
    body: str, timestamp: str | None, signature: str | None
) -> None:
    dispatched = Dispatched()
    headers = {}
    if timestamp is not None:
        headers["x-slack-request-timestamp"] = timestamp
    if signature is not None:
        headers["x-slack-signature"] = signature
    answer = route(dispatched).resolve(interaction_event(body, headers), {})
    assert answer["statusCode"] < 500
    assert answer["statusCode"] == 401
    assert dispatched.tasks == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.one_of(
        st.text(max_size=200),
        st.dictionaries(
            st.sampled_from(["type", "user", "actions", "response_url", "team"]),
            st.recursive(
                st.none() | st.text(max_size=20) | st.integers(),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["id", "action_id", "value"]), inner, max_size=3)
                ),
                max_leaves=8,
            ),
            max_size=5,
        ).map(json.dumps),
    )
)
def test_fuzzed_signed_payloads_never_5xx_and_dispatch_only_approval_clicks(payload: str) -> None:
    import time

    dispatched = Dispatched()
    body = urlencode({"payload": payload})
    answer = route(dispatched).resolve(interaction_event(body, signed_headers(body, int(time.time()))), {})
    assert answer["statusCode"] in (200, 400)
    if answer["statusCode"] == 400:
        assert dispatched.tasks == []
    else:
        (dispatched_task,) = dispatched.tasks
        assert dispatched_task["decision"] in ("approve", "reject")


# ---- the worker ------------------------------------------------------------------------------------------
@pytest.fixture
def world() -> Iterator[ApprovalWorld]:
    with approval_world() as world:
        yield world


def slack_pipeline() -> Any:
    return pipeline(
        channels=["email", "slack"],
        slack={"channel": "C0APPROVALS", "approvers": {"U0RM": RELEASE}, "team_id": "T0TEAM"},
    )


def task(
    approval_id: str, *, user: str = "U0RM", decision: str = "approve", team: str = "T0TEAM"
) -> SlackDecisionTask:
    return SlackDecisionTask(
        approval_id=approval_id,
        decision=decision,
        user_id=user,
        user_name="rm",
        team_id=team,
        response_url=RESPONSE_URL,
        source_ip="203.0.113.9",
        user_agent="Slackbot",
        received_at=NOW,
    )


def test_a_mapped_slack_user_approves_and_the_message_says_who_and_when(world: ApprovalWorld) -> None:
    record = world.ask(
        config=slack_pipeline(),
        request=request("a" * 40, identity=OTHER_AUTHOR),
        now=NOW,
    )

    told = handle_click(world.services, world.slack, task(record.approval_id), now=NOW + 3)

    assert told.startswith(f"Approved by {RELEASE} via Slack at ")
    (response,) = world.slack.responses
    assert response["replace_original"] is True
    assert response["url"] == RESPONSE_URL
    assert not any(block["type"] == "actions" for block in response["blocks"])
    output = json.loads(world.sfn.calls[0][1]["output"])
    assert output["channel"] == "slack"
    assert output["approved_by"] == RELEASE
    approved = next(e for e in world.audit.history(record.approval_id) if e.action == "approved")
    assert approved.source_ip == "203.0.113.9"
    assert "slack user U0RM" in approved.detail


def test_a_slack_user_not_on_the_allowlist_is_refused_privately(world: ApprovalWorld) -> None:
    record = world.ask(
        config=slack_pipeline(),
        request=request("a" * 40, identity=OTHER_AUTHOR),
        now=NOW,
    )

    told = handle_click(world.services, world.slack, task(record.approval_id, user="U0STRANGER"), now=NOW + 3)

    assert "not mapped to an approver" in told
    (response,) = world.slack.responses
    assert response["replace_original"] is False
    assert world.sfn.calls == []
    assert world.store.get(record.approval_id).status == "pending"
    assert world.actions(record.approval_id)[-1] == "refused"


def test_a_click_from_another_slack_workspace_is_refused_and_audited(world: ApprovalWorld) -> None:
    # Given a pipeline whose approvals are decided in its own workspace
    record = world.ask(
        config=slack_pipeline(),
        request=request("a" * 40, identity=OTHER_AUTHOR),
        now=NOW,
    )
    # When a click signed for another workspace arrives: the team of Slack's published request vector,
    # from a user whose id is mapped in this pipeline (user ids are not unique across workspaces)
    other_team = parse_qs(slack_vector()["body"])["team_id"][0]
    told = handle_click(world.services, world.slack, task(record.approval_id, team=other_team), now=NOW + 3)

    # Then nothing is decided, the clicker is told why (privately), and the audit says "refused"
    assert told.startswith("Not done: 403")
    assert other_team in told
    assert "T0TEAM" in told
    (response,) = world.slack.responses
    assert response["replace_original"] is False
    assert world.sfn.calls == []
    assert world.store.get(record.approval_id).status == "pending"
    refused = [e for e in world.audit.history(record.approval_id) if e.action == "refused"]
    assert len(refused) == 1
    assert other_team in refused[0].detail


def test_a_slack_config_without_its_workspace_is_a_config_error() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="team_id"):
        pipeline(
            channels=["email", "slack"], slack={"channel": "C0APPROVALS", "approvers": {"U0RM": RELEASE}}
        )


def test_a_second_click_after_the_decision_changes_nothing(world: ApprovalWorld) -> None:
    record = world.ask(
        config=slack_pipeline(),
        request=request("a" * 40, identity=OTHER_AUTHOR),
        now=NOW,
    )
    handle_click(world.services, world.slack, task(record.approval_id), now=NOW + 3)

    told = handle_click(world.services, world.slack, task(record.approval_id, decision="reject"), now=NOW + 4)

    assert f"already approved by {RELEASE}" in told
    assert len(world.sfn.calls) == 1
