"""Helpers for tests that run real promotions on the in-process local control plane."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import boto3
import requests

from promote_cli.control import ControlPlane, serving
from promote_cli.local import sample
from promote_cli.local.plane import LocalControlPlane
from promotion.dal.ledger import DynamoLedger
from promotion.models.config import PipelineConfig
from tests.support.pipelines import SAMPLE_PIPELINE_FILE

FAILED_STATUSES = {"FAILED", "TIMED_OUT", "ABORTED"}

# The state that takes each environment's lock, and the one whose success gives it back.
LOCK_TAKEN = {"preprod": "Check and lock preprod", "prod": "Check and lock prod"}
LOCK_RELEASED = {"preprod": "Release preprod lock", "prod": "Record success"}


def new_sha() -> str:
    return secrets.token_hex(20)


def point_cli_at(plane: LocalControlPlane, directory: Path, monkeypatch: Any) -> Path:
    """Write the state file ``promote local up`` would write for ``plane`` and point ``promote --local``
    at it (``PROMOTE_STATE_DIR``)."""
    state_file = directory / "local.json"
    state_file.write_text(json.dumps(plane.ready_info()))
    monkeypatch.setenv("PROMOTE_STATE_DIR", str(directory))
    return state_file


def control(plane: LocalControlPlane) -> ControlPlane:
    return ControlPlane(plane.options.stack_name, plane.client("stepfunctions"), plane.client("ssm"))


def history(plane: LocalControlPlane, execution_arn: str) -> list[dict[str, Any]]:
    return list(
        plane.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)[
            "events"
        ]
    )


def succeeded_at(events: list[dict[str, Any]], state: str) -> list[datetime]:
    """When each attempt of ``state`` that succeeded finished."""
    current, found = "", []
    for event in events:
        if event["type"].endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
        elif current == state and event["type"] == "LambdaFunctionSucceeded":
            found.append(event["timestamp"])
    return found


def errors_in(events: list[dict[str, Any]], state: str) -> list[str]:
    current, found = "", []
    for event in events:
        if event["type"].endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
        elif current == state and event["type"] == "LambdaFunctionFailed":
            found.append(event["lambdaFunctionFailedEventDetails"]["error"])
    return found


def states_visited(plane: LocalControlPlane, execution_arn: str) -> list[str]:
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in history(plane, execution_arn)
        if event["type"].endswith("StateEntered")
    ]


def wait_for_state(plane: LocalControlPlane, execution_arn: str, state: str, *, timeout: float = 30) -> None:
    """Until the execution enters ``state``; fails fast if it ends first."""
    sfn = plane.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state in states_visited(plane, execution_arn):
            return
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
        if status != "RUNNING":
            raise AssertionError(
                f"execution ended {status} before entering {state!r}: {states_visited(plane, execution_arn)}"
            )
        time.sleep(0.1)
    raise AssertionError(f"execution did not enter {state!r} within {timeout}s")


def wait_for_end(plane: LocalControlPlane, execution_arn: str, *, timeout: float = 60) -> dict[str, Any]:
    sfn = plane.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = dict(sfn.describe_execution(executionArn=execution_arn))
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.1)
    raise AssertionError(f"execution still running after {timeout}s: {states_visited(plane, execution_arn)}")


def outbox(plane: LocalControlPlane) -> list[dict[str, Any]]:
    return list(requests.get(f"{plane.api_url}/_local/outbox", timeout=5).json())


def approval_links(plane: LocalControlPlane, sha: str) -> list[str]:
    """One link per approver: the emailed Approve and Reject links open the same page (``intent`` only
    pre-selects a button), so they count once."""
    return approval_pages(outbox(plane), sha)


def approval_pages(messages: Iterable[dict[str, Any]], sha: str) -> list[str]:
    """The approval pages the emailed ``messages`` (the outbox's JSON) link for ``sha``, each once."""
    found: list[str] = []
    for message in messages:
        if message["channel"] != "email" or sha[:12] not in message["subject"]:
            continue
        for link in message["links"]:
            page = link.split("&intent=", 1)[0]
            if "/approvals/" in page and page not in found:
                found.append(page)
    return found


def wait_for_approval_links(
    plane: LocalControlPlane, promotion: Promotion, *, count: int = 1, timeout: float = 30
) -> list[str]:
    """The approval links emailed for this promotion, once they are in the outbox; fails fast if it ends."""
    sfn = plane.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        links = approval_links(plane, promotion.sha)
        if len(links) >= count:
            return links
        status = sfn.describe_execution(executionArn=promotion.execution_arn)["status"]
        if status in FAILED_STATUSES or status == "SUCCEEDED":
            raise AssertionError(f"execution ended {status} before any approval link was sent")
        time.sleep(0.1)
    raise AssertionError(f"no approval link for {promotion.sha[:12]} within {timeout}s")


class ConfirmationForm(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.decisions: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and values.get("type") == "hidden":
            self.fields[values["name"]] = values.get("value", "")
        elif tag == "button" and values.get("name") == "decision":
            self.decisions.append(values.get("value", ""))


def decide_via_link(link: str, decision: str, reason: str = "", *, timeout: float = 10) -> requests.Response:
    """Open the emailed link's page and post its form; ``timeout``: for the post (the page gets half)."""
    page = requests.get(link, timeout=timeout / 2)
    assert page.status_code == 200, page.text
    form = ConfirmationForm(page.text)
    assert decision in form.decisions
    return requests.post(
        urljoin(link, form.action),
        data={**form.fields, "decision": decision, "reason": reason},
        timeout=timeout,
    )


def serving_now(plane: LocalControlPlane, config: PipelineConfig) -> dict[str, dict[str, dict[str, str]]]:
    """What each environment serves, read in the environment's own account."""
    return {env: serving(plane.environment_client(env, "lambda"), config, env) for env in ("preprod", "prod")}


@dataclass
class Promotion:
    plane: LocalControlPlane
    config: PipelineConfig
    sha: str
    execution_arn: str
    build: sample.PublishedBuild
    before: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def after(self) -> dict[str, dict[str, dict[str, str]]]:
        return serving_now(self.plane, self.config)

    def states(self) -> list[str]:
        return states_visited(self.plane, self.execution_arn)

    def output(self) -> dict[str, Any]:
        described = self.plane.client("stepfunctions").describe_execution(executionArn=self.execution_arn)
        return dict(json.loads(described.get("output") or "{}"))


def derived_pipeline(plane: LocalControlPlane, name: str, **sections: Any) -> str:
    """The sample's pipeline under another name (same functions), with some sections replaced."""
    document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
    document["name"] = name
    document.update(sections)
    return plane.put_pipeline(json.dumps(document), source=f"test pipeline {name}")


def publish_for(
    plane: LocalControlPlane, config: PipelineConfig, sha: str, variant: str = "good"
) -> sample.PublishedBuild:
    """CI publishes the build of ``sha`` for the pipeline, as ``promote local publish`` does."""
    return sample.publish_build(
        plane.client("s3"),
        bucket=config.artifacts.bucket,
        prefix=config.artifacts.prefix,
        repo=config.repo,
        sha=sha,
        variant=variant,
    )


def publish_and_start(
    plane: LocalControlPlane,
    *,
    variant: str = "good",
    pipeline: str = "sentiment-service",
    sha: str | None = None,
) -> Promotion:
    """Given a build published as CI would, when a promotion of it starts."""
    ctl = control(plane)
    config = ctl.pipeline(pipeline)
    sha = sha or new_sha()
    before = serving_now(plane, config)
    build = publish_for(plane, config, sha, variant)
    started = ctl.start(pipeline, sha, requested_by="tests")
    return Promotion(plane, config, sha, started["execution_arn"], build, before)


def declare_ahead_of_prod(plane: LocalControlPlane, config: PipelineConfig, sha: str) -> None:
    """Tell the GitHub stand-in that ``sha`` is one commit ahead of what prod runs now.

    Prod refuses a commit it cannot prove newer than its current one (never backwards), and the stand-in
    knows no comparisons until a test gives it one.
    """
    assert plane.stack is not None
    dynamodb = boto3.resource(
        "dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url
    )
    ledger = DynamoLedger(dynamodb.Table(plane.stack.environment["DEPLOYMENTS_TABLE"]))
    current = ledger.pointer(config.name, "prod", "current")
    if current is None or current.sha is None or current.sha == sha:
        return
    comparison = {"status": "ahead", "ahead_by": 1, "behind_by": 0, "total_commits": 1, "commits": []}
    plane.github.set_comparison(config.repo, current.sha, sha, comparison)


def tuned_pipeline(plane: LocalControlPlane, name: str, **changes: Any) -> str:
    """The sample pipeline under another name, with some settings of its sections changed (a section's
    other settings kept; ``derived_pipeline`` replaces whole sections)."""
    document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
    document["name"] = name
    for section, values in changes.items():
        if isinstance(values, dict) and isinstance(document.get(section), dict):
            document[section] = {**document[section], **values}
        else:
            document[section] = values
    return plane.put_pipeline(json.dumps(document), source=f"test pipeline {name}")


def token_from_history(plane: LocalControlPlane, execution_arn: str) -> str:
    """What anyone with states:GetExecutionHistory can read: the waiting task's token in its parameters."""
    for event in history(plane, execution_arn):
        details = event.get("taskScheduledEventDetails")
        if details and "waitForTaskToken" in details.get("resource", ""):
            return str(json.loads(details["parameters"])["Payload"]["task_token"])
    raise AssertionError("no waitForTaskToken task in the history")


def approve_by_link(plane: LocalControlPlane, promotion: Promotion) -> None:
    """The first approver approves the promotion by their emailed link, once it asks."""
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")
    links = wait_for_approval_links(plane, promotion)
    assert decide_via_link(links[0], "approve", "ok").status_code == 200


def alarm_during_bake(plane: LocalControlPlane, name: str, alarm: str) -> Promotion:
    """A promotion of a pipeline with a 60 s bake (6 s at the local time scale), approved, and ``alarm``
    set to ALARM once it bakes."""
    from tests.support.alarms import set_alarms

    pipeline = derived_pipeline(plane, name, bake={"duration_seconds": 60, "poll_interval_seconds": 10})
    promotion = publish_and_start(plane, pipeline=pipeline)
    approve_by_link(plane, promotion)
    wait_for_state(plane, promotion.execution_arn, "Bake")
    set_alarms(plane, [alarm], "ALARM")
    return promotion
