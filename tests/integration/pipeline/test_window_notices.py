"""The "waits for the deployment window" notice on the local plane: once per promotion and environment,
however often Step Functions invokes the check again with the same request, and to Slack too when the
pipeline's approvals go there."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from promote_cli.local.plane import LocalControlPlane
from tests.support.fault_matrix import deployed_definition, state_targets
from tests.support.faults import AwsFault, aws_fault
from tests.support.pipelines import SAMPLE_PIPELINE_FILE
from tests.support.promotion import new_sha, outbox

PIPELINE = "windowed-slack"
SLACK_CHANNEL = "C0RELEASES"


def put_frozen_pipeline(plane: LocalControlPlane) -> None:
    """The sample pipeline in a freeze for the next hour, its approvals (and so its notices) on Slack too."""
    now = datetime.now(UTC)
    document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
    document["name"] = PIPELINE
    document["windows"] = {
        "freezes": [
            {
                "start": (now - timedelta(minutes=1)).isoformat(),
                "end": (now + timedelta(hours=1)).isoformat(),
                "reason": "release freeze",
            }
        ],
        "max_wait_hours": 2,
    }
    document["approval"] |= {
        "channels": ["email", "slack"],
        "slack": {
            "channel": SLACK_CHANNEL,
            "team_id": "T0TEAM",
            "approvers": {"U0RELEASE": "release-manager@example.com"},
        },
    }
    plane.put_pipeline(json.dumps(document), source=f"test pipeline {PIPELINE}")


def first_check(execution: str, sha: str, environment: str = "prod") -> bytes:
    """The request "Check deployment window" sends at a promotion's first check (a Retry sends it again)."""
    arn = f"arn:aws:states:us-east-1:123456789012:execution:release-promotion-promotion:{execution}"
    return json.dumps(
        {
            "environment": environment,
            "execution_arn": arn,
            "execution_name": execution,
            "checked_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "promotion": {
                "pipeline": PIPELINE,
                "sha": sha,
                "settings": {"mode": "promote", "target": "prod"},
            },
        }
    ).encode()


def notices(plane: LocalControlPlane, sha: str) -> dict[str, list[dict[str, Any]]]:
    """The waiting notices of ``sha``, by channel: the team's emails and the Slack channel's messages."""
    found: dict[str, list[dict[str, Any]]] = {"email": [], "slack": []}
    for message in outbox(plane):
        # An email's subject; a Slack message's text (its subject is the Web API method).
        said = message["subject"] if message["channel"] == "email" else message["text"]
        if sha[:12] in said and "waits for prod's deployment window" in said:
            found[message["channel"]].append(message)
    return found


def test_the_waiting_notice_is_sent_once_per_promotion_however_often_the_check_runs_and_reaches_slack(
    plane: LocalControlPlane,
) -> None:
    # Given a pipeline in a freeze whose approvals go to Slack, and a promotion's first window check
    put_frozen_pipeline(plane)
    check = state_targets(deployed_definition(plane))["Check deployment window"].function_name
    sha = new_sha()
    request = first_check(f"{PIPELINE}-{sha[:12]}-a1", sha)

    # When Step Functions invokes it three times with the same request (a Retry after the notice went out)
    answers = [plane.runtime.invoke(check, request) for _ in range(3)]

    # Then every answer says closed and when it opens, and the team heard it once by email and once on Slack
    for answer in answers:
        assert answer.function_error is None, answer.payload
        window = json.loads(answer.payload)
        assert (window["open"], window["reason"]) == (False, "freeze: release freeze")
    sent = notices(plane, sha)
    (email,) = sent["email"]
    (slack,) = sent["slack"]
    assert email["recipient"] == "team@example.com"
    assert (slack["recipient"], slack["subject"]) == (SLACK_CHANNEL, "api:chat.postMessage")
    assert slack["text"].startswith(email["subject"])
    assert "Why:        freeze: release freeze" in slack["text"]
    assert "promote window override --pipeline windowed-slack" in slack["text"]

    # And another promotion of the same pipeline (another execution) is told too: once per promotion
    again = plane.runtime.invoke(check, first_check(f"{PIPELINE}-{sha[:12]}-a2", sha))
    assert again.function_error is None, again.payload
    assert (len(notices(plane, sha)["email"]), len(notices(plane, sha)["slack"])) == (2, 2)


def test_a_notice_channel_that_fails_neither_fails_the_check_nor_is_retried(plane: LocalControlPlane) -> None:
    # Given a frozen pipeline whose email cannot be sent (SES refuses), and a promotion's first window check
    put_frozen_pipeline(plane)
    check = state_targets(deployed_definition(plane))["Check deployment window"].function_name
    sha = new_sha()
    request = first_check(f"{PIPELINE}-{sha[:12]}-a1", sha)
    refused = AwsFault(
        "sesv2", "SendEmail", when=lambda params: sha[:12] in params["Content"]["Simple"]["Subject"]["Data"]
    )

    # When Step Functions invokes it, and again with the same request
    with aws_fault(refused):
        answers = [plane.runtime.invoke(check, request) for _ in range(2)]

    # Then the check still answers closed, and when it opens (a notice never fails the promotion) ...
    for answer in answers:
        assert answer.function_error is None, answer.payload
        assert json.loads(answer.payload)["open"] is False
    # ... SES was asked once, the other channel told the team once, and the retry sent nothing again
    assert refused.hits == 1
    sent = notices(plane, sha)
    assert (len(sent["email"]), len(sent["slack"])) == (0, 1)
