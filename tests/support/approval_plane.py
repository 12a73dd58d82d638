"""Approval tests on the local plane: derived pipelines, direct starts, Slack clicks, the outbox."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any

import boto3
import requests

from promote_cli.local.plane import LocalControlPlane
from promotion.approvals import links
from promotion.dal.audit import DynamoAuditLog
from promotion.github.attestation import attest
from promotion.models.execution import CommitInfo, ExecutionInput, Trigger
from promotion.naming import execution_name
from tests.support.approval_fakes import slack_click_body, slack_signature
from tests.support.pipelines import SAMPLE_PIPELINE_FILE
from tests.support.promotion import (
    FAILED_STATUSES,
    Promotion,
    control,
    outbox,
    publish_and_start,
    publish_for,
)

RELEASE = "release-manager@example.com"
SECOND = "second@example.com"


def derived_pipeline(plane: LocalControlPlane, name: str, **approval: Any) -> str:
    """The sample pipeline under another name (same functions), its approval section changed."""
    document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
    document["name"] = name
    document["approval"] = {**document["approval"], **approval}
    return plane.put_pipeline(json.dumps(document), source=f"test pipeline {name}")


def start_with_commit(
    plane: LocalControlPlane, pipeline: str, commit: CommitInfo, *, attested: bool = True
) -> Promotion:
    """Publish a build and start its promotion with commit facts, attested as the webhook does for a
    verified push (``attested=False``: as anyone with StartExecution could write them)."""
    ctl = control(plane)
    config = ctl.pipeline(pipeline)
    sha = secrets.token_hex(20)
    build = publish_for(plane, config, sha, "good")
    document = ExecutionInput(
        pipeline=pipeline, sha=sha, trigger=Trigger(source="webhook", requested_by="tests"), commit=commit
    )
    name = execution_name(pipeline, sha, 1)
    if attested:
        document = attest(
            document, attestation_key(plane), execution_name=name, state_machine_arn=ctl.state_machine_arn()
        )
    started = plane.client("stepfunctions").start_execution(
        stateMachineArn=ctl.state_machine_arn(),
        name=name,
        input=json.dumps(document.to_payload()),
    )
    return Promotion(plane, config, sha, started["executionArn"], build)


def start(plane: LocalControlPlane, pipeline: str) -> Promotion:
    return publish_and_start(plane, pipeline=pipeline)


def signing_key(plane: LocalControlPlane) -> bytes:
    assert plane.stack is not None
    secret_id = plane.stack.environment["APPROVAL_SIGNING_SECRET_ID"]
    return str(plane.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]).encode()


def attestation_key(plane: LocalControlPlane) -> bytes:
    """The stack's attestation key (apart from the link key: each key has one use)."""
    assert plane.stack is not None
    secret_id = plane.stack.environment["ATTESTATION_SIGNING_SECRET_ID"]
    return str(plane.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]).encode()


def link_for(plane: LocalControlPlane, approval_id: str, approver: str, expires_at: int) -> str:
    return links.link_url(plane.api_url, links.sign(signing_key(plane), approval_id, approver, expires_at))


def approval_id_of(link: str) -> str:
    return link.split("/approvals/", 1)[1].split("?", 1)[0]


def audit_actions(plane: LocalControlPlane, approval_id: str) -> list[str]:
    """The audit trail's actions for one approval, read from the stack's audit table."""
    assert plane.stack is not None
    resource = boto3.resource(
        "dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url
    )
    table = resource.Table(plane.stack.environment["AUDIT_TABLE"])
    return [event.action for event in DynamoAuditLog(table).history(approval_id)]


def status(plane: LocalControlPlane, promotion: Promotion) -> str:
    return str(
        plane.client("stepfunctions").describe_execution(executionArn=promotion.execution_arn)["status"]
    )


def still_waiting(plane: LocalControlPlane, promotion: Promotion) -> bool:
    return status(plane, promotion) == "RUNNING" and promotion.states()[-1] == "Wait for approval"


def slack_messages(plane: LocalControlPlane, *, subject: str | None = None) -> list[dict[str, Any]]:
    return [
        message
        for message in outbox(plane)
        if message["channel"] == "slack" and (subject is None or message["subject"].startswith(subject))
    ]


def wait_for_slack_message(
    plane: LocalControlPlane,
    promotion: Promotion,
    probe: Any,
    *,
    after_end: bool = False,
    timeout: float = 30,
) -> dict[str, Any]:
    """The first Slack message for which ``probe`` holds.

    Fails fast when the promotion fails, times out or is aborted, unless the message is one that comes
    with or after the end (``after_end``: a timed-out or superseded request's update).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in slack_messages(plane):
            if probe(message):
                return message
        ended = status(plane, promotion)
        if not after_end and ended in FAILED_STATUSES:
            raise AssertionError(f"promotion ended {ended} before the Slack message: {promotion.states()}")
        time.sleep(0.1)
    raise AssertionError(f"no matching Slack message within {timeout}s")


def slack_approval_message(plane: LocalControlPlane, promotion: Promotion) -> dict[str, Any]:
    return wait_for_slack_message(
        plane,
        promotion,
        lambda m: m["subject"] == "api:chat.postMessage" and promotion.sha[:12] in m["text"],
    )


def button_approval_id(message: dict[str, Any]) -> str:
    values = {
        element["value"]
        for block in message["payload"]["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }
    (approval_id,) = values
    return str(approval_id)


def click(
    plane: LocalControlPlane,
    approval_id: str,
    *,
    user: str,
    action: str = "approve",
    timestamp: int | None = None,
    secret: str | None = None,
) -> tuple[requests.Response, str]:
    """A Slack button click, signed as Slack signs it; returns the answer and the click's response_url id."""
    response_id = uuid.uuid4().hex
    body = slack_click_body(
        approval_id,
        action=action,
        user=user,
        response_url=f"{plane.api_url}/_local/slack/response/{response_id}",
    )
    return post_signed(plane, body, timestamp=timestamp, secret=secret), response_id


def post_signed(
    plane: LocalControlPlane, body: str, *, timestamp: int | None = None, secret: str | None = None
) -> requests.Response:
    """An interaction request (form-encoded ``payload``) to the plane, signed as Slack signs it."""
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": slack_signature(secret or plane.slack_signing_secret(), stamp, body),
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    return requests.post(f"{plane.api_url}/slack/interactions", data=body, headers=headers, timeout=10)


def slack_response(plane: LocalControlPlane, promotion: Promotion, response_id: str) -> dict[str, Any]:
    # A decision's answer may land after the promotion has moved on, even after it has ended.
    return wait_for_slack_message(
        plane, promotion, lambda m: m["subject"] == f"response:{response_id}", after_end=True
    )
