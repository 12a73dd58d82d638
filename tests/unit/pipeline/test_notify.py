"""Outcome notices: subject and text, the cause pulled out of a Lambda error, and where they are sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promotion.console import execution_console_url
from promotion.models.execution import BaselineFunction, EnvironmentBaseline
from promotion.pipeline.notify import Failure, Outcome, cause_text, notify_outcome
from tests.support.pipelines import sample_config

SHA = "89abcdef0123456789abcdef0123456789abcdef"
ARN = (
    "arn:aws:states:us-east-1:123456789012:execution:release-promotion-promotion:"
    "sentiment-service-89abcdef0123-a1"
)
CAUSE_MESSAGE = "1/3 integration checks failed on http://preprod: score-negative: JSON 'label' is 'x'"
LAMBDA_CAUSE = json.dumps(
    {
        "errorType": "IntegrationTestsFailed",
        "errorMessage": CAUSE_MESSAGE,
        "stackTrace": ["Traceback (most recent call last):\n", '  File "app.py", line 1\n'],
    }
)


def outcome(**changes: Any) -> Outcome:
    fields: dict[str, Any] = {
        "outcome": "failed",
        "pipeline": "sentiment-service",
        "sha": SHA,
        "execution_name": "sentiment-service-89abcdef0123-a1",
        "execution_arn": ARN,
        "failure": Failure(Error="IntegrationTestsFailed", Cause=LAMBDA_CAUSE),
    }
    fields.update(changes)
    return Outcome.model_validate(fields)


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, *, to: list[str], subject: str, text: str, html: str | None = None) -> str:
        self.sent.append({"to": to, "subject": subject, "text": text})
        return f"message-{len(self.sent)}"


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, *, subject: str, event: dict[str, Any]) -> None:
        self.published.append({"subject": subject, "event": event})


@pytest.mark.parametrize(
    ("cause", "text"),
    [
        (
            LAMBDA_CAUSE,
            "1/3 integration checks failed on http://preprod: score-negative: JSON 'label' is 'x'",
        ),
        (
            "rejected by release-manager@example.com via email: not today",
            "rejected by release-manager@example.com via email: not today",
        ),
        ('{"error": "no errorMessage here"}', '{"error": "no errorMessage here"}'),
        ('["a", "list"]', '["a", "list"]'),
        ("", ""),
    ],
)
def test_cause_text_shows_the_lambda_error_message_alone(cause: str, text: str) -> None:
    assert cause_text(cause) == text


def test_a_failure_notice_names_the_error_and_its_cause_without_the_stack_trace() -> None:
    failed = outcome()
    assert failed.subject() == "Promotion of sentiment-service@89abcdef0123 failed: IntegrationTestsFailed"
    text = failed.text()
    assert text.splitlines()[0] == failed.subject()
    assert "Execution: sentiment-service-89abcdef0123-a1" in text
    assert f"ARN:       {ARN}" in text
    assert "Error: IntegrationTestsFailed" in text
    assert (
        "Cause: 1/3 integration checks failed on http://preprod: score-negative: JSON 'label' is 'x'" in text
    )
    assert "Traceback" not in text
    assert "Prod now runs" not in text


def test_a_promoted_notice_names_the_approver_and_the_prod_versions() -> None:
    promoted = outcome(
        outcome="promoted",
        failure=None,
        approved_by="release-manager@example.com",
        prod_versions={"worker": "7", "api": "12"},
    )
    assert promoted.subject() == "Promoted sentiment-service@89abcdef0123 to prod"
    text = promoted.text()
    assert "Approved by: release-manager@example.com" in text
    assert "Prod now runs: api v12, worker v7" in text
    assert "Error:" not in text


def test_a_forged_approval_notice_never_calls_the_claimed_approver_an_approver() -> None:
    # Given a promotion whose approval task a token holder completed, claiming an approver
    forged = outcome(
        failure=Failure(Error="ApprovalNotVerified", Cause="completed without the decision proof"),
        approved_by="nobody@evil.example",
    )

    # Then the CRITICAL notice shows the claim as a claim, not as an approval
    text = forged.text()
    assert forged.subject().startswith("CRITICAL: forged approval of sentiment-service@89abcdef0123")
    assert "Approved by:" not in text
    assert "Claimed approver (NOT verified): nobody@evil.example" in text


@pytest.mark.parametrize(
    ("mode", "target", "subject"),
    [
        ("redeploy", "preprod", "Redeployed sentiment-service@89abcdef0123 to preprod (operator redeploy)"),
        ("rollback", "preprod", "Rolled back preprod to sentiment-service@89abcdef0123 (operator rollback)"),
        ("redeploy", "prod", "Redeployed sentiment-service@89abcdef0123 to prod (operator redeploy)"),
        ("rollback", "prod", "Rolled back prod to sentiment-service@89abcdef0123 (operator rollback)"),
    ],
)
def test_an_operator_run_says_what_it_deployed_where_not_promoted(
    mode: str, target: str, subject: str
) -> None:
    versions = {"api": "4", "worker": "3"}
    done = outcome(
        outcome="promoted",
        failure=None,
        mode=mode,
        target=target,
        **({"preprod_versions": versions} if target == "preprod" else {"prod_versions": versions}),
    )
    assert done.subject() == subject
    assert f"{target.capitalize()} now runs: api v4, worker v3" in done.text()
    assert "Promoted" not in done.text()


def rollback_failed(**changes: Any) -> Outcome:
    baseline = EnvironmentBaseline(
        environment="prod",
        functions=[
            BaselineFunction(
                key="api", function_name="svc-prod-api", alias="live", version="7", code_sha256="x"
            )
        ],
    )
    return outcome(
        outcome="rollback_failed",
        failure=Failure(Error="CanaryFailed", Cause="canary"),
        baseline=baseline,
        rollback_error=Failure(Error="RollbackFailed", Cause="alias refused"),
        **changes,
    )


def test_a_rollback_failed_notice_says_the_environment_is_frozen_and_how_to_recover() -> None:
    notice = rollback_failed()
    assert (
        notice.subject()
        == "CRITICAL: rollback of prod failed for sentiment-service@89abcdef0123; prod is frozen"
    )
    commands = notice.text().split("Recover by hand, then clear the freeze:\n", 1)[1].splitlines()
    assert commands == [
        "aws lambda update-alias --function-name svc-prod-api --name live --function-version 7 "
        "--routing-config 'AdditionalVersionWeights={}'",
        "promote unfreeze --pipeline sentiment-service --environment prod",
    ]


def test_when_the_freeze_did_not_confirm_the_notice_says_so_and_freezing_comes_first() -> None:
    # The freeze after the failed rollback failed (or timed out): maybe nothing stops the next promotion.
    notice = rollback_failed(freeze_error=Failure(Error="InjectedFault", Cause="table unavailable"))
    assert notice.subject().endswith("; prod may NOT be frozen")
    text = notice.text()
    assert "Freeze error: table unavailable" in text
    commands = text.split("Recover by hand, then clear the freeze:\n", 1)[1].splitlines()
    assert commands[0] == (
        "promote freeze --pipeline sentiment-service --environment prod "
        "--reason 'rollback failed; recovering by hand'"
    )
    assert commands[-1] == "promote unfreeze --pipeline sentiment-service --environment prod"


def test_notify_outcome_publishes_the_event_and_mails_the_recipients() -> None:
    mailer, publisher = RecordingMailer(), RecordingPublisher()
    failed = outcome()

    notify_outcome(mailer, publisher, sample_config(), failed)

    (published,) = publisher.published
    assert published["subject"] == failed.subject()
    event = published["event"]
    assert event["outcome"] == "failed"
    assert event["repo"] == "example-org/sentiment-service"
    assert event["sha"] == SHA
    assert event["execution_arn"] == ARN
    # subscribers get the readable cause, not Lambda's JSON with a stack trace
    assert event["failure"] == {
        "Error": "IntegrationTestsFailed",
        "Cause": "1/3 integration checks failed on http://preprod: score-negative: JSON 'label' is 'x'",
    }
    json.dumps(event)  # what SNS carries must be JSON
    # the notice links to the execution in the Step Functions console
    aws_console = execution_console_url(ARN)
    assert event["console_url"] == aws_console
    assert mailer.sent == [
        {"to": ["team@example.com"], "subject": failed.subject(), "text": failed.text(aws_console)}
    ]
    assert f"Console:   {aws_console}" in mailer.sent[0]["text"]


def test_on_a_control_plane_with_its_own_console_the_notice_links_there() -> None:
    mailer, publisher = RecordingMailer(), RecordingPublisher()
    base = "http://127.0.0.1:8123/_local/console"

    notify_outcome(mailer, publisher, sample_config(), outcome(), console_base=base)

    local = execution_console_url(ARN, base)
    assert local is not None
    assert local.startswith(base + "/executions/")
    assert publisher.published[0]["event"]["console_url"] == local
    assert f"Console:   {local}" in mailer.sent[0]["text"]
    assert "console.aws.amazon.com" not in mailer.sent[0]["text"]


def test_without_notification_emails_only_the_event_is_published() -> None:
    mailer, publisher = RecordingMailer(), RecordingPublisher()
    notify_outcome(mailer, publisher, sample_config(notifications={"emails": []}), outcome())
    assert len(publisher.published) == 1
    assert mailer.sent == []
