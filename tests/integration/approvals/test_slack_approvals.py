"""Slack approvals on the local plane: signed interaction posts, the ack, the worker, the message."""

from __future__ import annotations

import json
import time

import requests

from promote_cli.local.plane import LocalControlPlane
from tests.support.approval_plane import (
    RELEASE,
    button_approval_id,
    click,
    derived_pipeline,
    slack_approval_message,
    slack_response,
    start,
    still_waiting,
    wait_for_slack_message,
)
from tests.support.promotion import wait_for_end

SLACK_APPROVER = "U0RELEASE"
SLACK_SETTINGS = {"channel": "C0APPROVALS", "approvers": {SLACK_APPROVER: RELEASE}, "team_id": "T0TEAM"}


def slack_pipeline(plane: LocalControlPlane, name: str, **approval: object) -> str:
    return derived_pipeline(plane, name, channels=["email", "slack"], slack=SLACK_SETTINGS, **approval)


def test_the_ready_line_names_the_local_slack_signing_secret(plane: LocalControlPlane) -> None:
    info = requests.get(f"{plane.api_url}/_local/info", timeout=5).json()
    assert info["slack_signing_secret"] == plane.slack_signing_secret()
    assert len(info["slack_signing_secret"]) >= 32


def test_a_slack_click_by_an_allowed_approver_promotes_and_updates_the_message(
    plane: LocalControlPlane,
) -> None:
    # Given a promotion whose approval request was posted to Slack
    promotion = start(plane, slack_pipeline(plane, "slack-approve"))
    message = slack_approval_message(plane, promotion)
    assert message["recipient"] == "C0APPROVALS"
    approval_id = button_approval_id(message)
    assert "token" not in json.dumps(message["payload"]).lower()

    # When a Slack user who is not on the allowlist clicks Approve
    stranger, stranger_response = click(plane, approval_id, user="U0STRANGER")

    # Then Slack gets its ack, only the clicker is told why not, and nothing is decided
    assert stranger.status_code == 200
    refusal = slack_response(plane, promotion, stranger_response)
    assert refusal["payload"]["replace_original"] is False
    assert "not mapped to an approver" in refusal["text"]
    assert still_waiting(plane, promotion)

    # When a signed request older than five minutes replays the approver's click
    replay, _ = click(plane, approval_id, user=SLACK_APPROVER, timestamp=int(time.time()) - 301)
    assert replay.status_code == 401
    # and a request signed with the wrong secret arrives
    forged, _ = click(plane, approval_id, user=SLACK_APPROVER, secret="0" * 32)
    assert forged.status_code == 401
    assert still_waiting(plane, promotion)

    # When the mapped approver clicks Approve
    answer, response_id = click(plane, approval_id, user=SLACK_APPROVER)

    # Then the ack is immediate and empty, the promotion succeeds, and the message says who and when
    assert answer.status_code == 200
    assert answer.text == ""
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "SUCCEEDED"
    approval = json.loads(described["output"])["approval"]
    assert approval["approved_by"] == RELEASE
    assert approval["channel"] == "slack"
    update = slack_response(plane, promotion, response_id)
    assert update["payload"]["replace_original"] is True
    assert update["text"].startswith(f"Approved by {RELEASE} via Slack at ")
    assert not any(block["type"] == "actions" for block in update["payload"]["blocks"])


def test_a_slack_rejection_fails_the_promotion(plane: LocalControlPlane) -> None:
    promotion = start(plane, slack_pipeline(plane, "slack-reject"))
    approval_id = button_approval_id(slack_approval_message(plane, promotion))

    answer, response_id = click(plane, approval_id, user=SLACK_APPROVER, action="reject")

    assert answer.status_code == 200
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["error"] == "Rejected"
    assert slack_response(plane, promotion, response_id)["text"].startswith(
        f"Rejected by {RELEASE} via Slack"
    )


def test_a_timed_out_request_says_so_in_slack(plane: LocalControlPlane) -> None:
    # Given a Slack approval that times out after 10 s (1 s at the local time scale)
    promotion = start(plane, slack_pipeline(plane, "slack-timeout", timeout_seconds=10))
    message = slack_approval_message(plane, promotion)

    # When nobody decides, then the promotion ends and the message loses its buttons, saying why
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "ApprovalTimedOut"
    update = wait_for_slack_message(
        plane,
        promotion,
        lambda m: (
            m["subject"] == "api:chat.update" and promotion.sha[:12] in m["text"] and "Expired" in m["text"]
        ),
        after_end=True,
    )
    assert update["payload"]["channel"] == message["recipient"]
    assert not any(block["type"] == "actions" for block in update["payload"]["blocks"])


def test_a_superseded_request_says_so_in_slack(plane: LocalControlPlane) -> None:
    pipeline = slack_pipeline(plane, "slack-supersede")
    older = start(plane, pipeline)
    older_message = slack_approval_message(plane, older)
    newer = start(plane, pipeline)
    newer_id = button_approval_id(slack_approval_message(plane, newer))

    assert wait_for_end(plane, older.execution_arn)["error"] == "Superseded"
    update = wait_for_slack_message(
        plane,
        older,
        lambda m: (
            m["subject"] == "api:chat.update" and "Superseded" in m["text"] and older.sha[:12] in m["text"]
        ),
        after_end=True,
    )
    assert older_message["payload"]["channel"] == update["payload"]["channel"]
    click(plane, newer_id, user=SLACK_APPROVER, action="reject")
    wait_for_end(plane, newer.execution_arn)
