"""The local console on the local plane: its JSON during and after a promotion, its pages and static files,
and every execution link (approval email, approval page, CLI) leading to it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import requests

import promotion.observability  # noqa: F401 - the handlers' logger keeps the session's stdout (test_cli.py)
from promote_cli import cli
from promote_cli.local.plane import LocalControlPlane
from promotion.dal.approvals import DynamoApprovalStore
from tests.support.paths import REPO_ROOT
from tests.support.pipelines import SAMPLE_PIPELINE_FILE
from tests.support.promotion import (
    FAILED_STATUSES,
    Promotion,
    decide_via_link,
    outbox,
    point_cli_at,
    publish_and_start,
    wait_for_approval_links,
    wait_for_end,
    wait_for_state,
)

ASL = REPO_ROOT / "statemachine" / "promotion.asl.json"
STATIC = REPO_ROOT / "src" / "promote_cli" / "local" / "console" / "static"
# A pipeline whose builds are never published and which waits 0 s for them: its promotions end at once.
UNPUBLISHED_PIPELINE = "console-tests"


def api(plane: LocalControlPlane, execution_arn: str) -> str:
    return f"{plane.console_url}/api/executions/{quote(execution_arn, safe='')}"


def page(plane: LocalControlPlane, execution_arn: str) -> str:
    return f"{plane.console_url}/executions/{quote(execution_arn, safe='')}"


def get_json(url: str) -> Any:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def task_tokens(plane: LocalControlPlane, execution_arn: str) -> list[str]:
    assert plane.stack is not None
    dynamodb = boto3.resource(
        "dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url
    )
    store = DynamoApprovalStore(dynamodb.Table(plane.stack.environment["APPROVALS_TABLE"]))
    return [record.task_token for record in store.for_execution(execution_arn)]


@pytest.fixture
def waiting(plane: LocalControlPlane) -> Promotion:
    """A promotion waiting for its approval."""
    promotion = publish_and_start(plane)
    wait_for_state(plane, promotion.execution_arn, "Wait for approval", timeout=60)
    return promotion


def test_the_console_follows_a_promotion_from_the_approval_wait_to_promoted(
    plane: LocalControlPlane, waiting: Promotion
) -> None:
    arn = waiting.execution_arn
    links = wait_for_approval_links(plane, waiting)

    # When the promotion waits for its approval
    document = get_json(api(plane, arn))

    # Then the graph is the ASL's, every state so far succeeded and the approval state runs
    definition = json.loads(ASL.read_text())
    assert {state["name"] for state in document["graph"]["states"]} == set(definition["States"])
    assert document["graph"]["start_at"] == definition["StartAt"]
    assert document["states"]["Wait for approval"] == "running"
    assert document["path"][0] == ["Load pipeline config", "Fetch artifact"]
    assert document["path"][-1] == ["Approval needed?", "Wait for approval"]
    before = {source for source, _ in document["path"]}
    assert {document["states"][state] for state in before} == {"succeeded"}
    assert "Deploy to prod" not in document["states"]  # not reached
    assert document["execution"]["status"] == "RUNNING"
    assert document["execution"]["sha"] == waiting.sha
    assert document["done"] is False
    # And the approval names who is asked and until when
    approval = document["approval"]
    assert approval["status"] == "pending"
    assert approval["approvers"] == waiting.config.approval.approvers
    assert approval["expires_at"] > approval["requested_at"]
    # And no task token leaves the console (the history has it in the task's parameters)
    tokens = task_tokens(plane, arn)
    assert tokens
    raw = requests.get(api(plane, arn), timeout=10).text
    assert all(token not in raw for token in tokens)
    # And the list shows it running in that state
    listed = {row["arn"]: row for row in get_json(f"{plane.console_url}/api/executions")["executions"]}
    assert listed[arn]["status"] == "RUNNING"
    assert listed[arn]["current_state"] == "Wait for approval"
    assert listed[arn]["pipeline"] == waiting.config.name

    # When it is approved and ends
    assert decide_via_link(links[0], "approve").status_code == 200
    ended = wait_for_end(plane, arn, timeout=120)
    assert ended["status"] not in FAILED_STATUSES, ended.get("error")
    document = get_json(api(plane, arn))

    # Then every state on the path succeeded, the path ends at Promoted, and the page stops refreshing
    assert document["done"] is True
    visited = {state for step in document["path"] for state in step}
    assert {document["states"][state] for state in visited} == {"succeeded"}
    assert document["path"][-1] == ["Promoted or deployed?", "Promoted"]
    assert document["approval"]["status"] == "approved"
    # And the traffic and the bake are read from the tasks' outputs
    assert document["traffic"]["percent"] == 100.0
    assert document["bake"]["done"] is True
    assert document["bake"]["elapsed_seconds"] >= document["bake"]["duration_seconds"]
    # And both check reports, each case with who judged it (the pipeline's HTTP checks, the service's own)
    reports = {report["suite"]: report for report in document["checks"]}
    assert set(reports) == {"integration", "canary"}
    assert reports["integration"]["environment"] == "preprod"
    assert reports["canary"]["environment"] == "prod"
    integration = {result["name"]: result for result in reports["integration"]["results"]}
    assert {check.name for check in waiting.config.checks} <= set(integration)
    assert all(result["passed"] for result in integration.values())
    assert {result["source"] for result in integration.values()} >= {"http", "test_function"}
    # And the approver filled nothing in (the sample pipeline asks for nothing); the analysis is off
    assert document["approval"]["inputs"] == {who: {} for who in document["approval"]["approved_by"]}
    assert document["analysis"] is None


def test_a_failed_promotion_shows_the_caught_state_and_the_failure(plane: LocalControlPlane) -> None:
    promotion = publish_and_start(plane, variant="fails-preprod")
    ended = wait_for_end(plane, promotion.execution_arn, timeout=120)
    assert ended["status"] == "FAILED"

    document = get_json(api(plane, promotion.execution_arn))

    assert document["states"]["Run integration tests"] == "caught"
    assert ["Run integration tests", "Roll back preprod"] in document["path"]
    assert document["caught_path"] == [["Run integration tests", "Roll back preprod"]]
    assert document["states"]["Promotion failed"] == "failed"
    assert document["failure"]["error"] == "IntegrationTestsFailed"
    assert document["execution"]["status"] == "FAILED"
    # And the failure notice links to this page
    notices = [m for m in outbox(plane) if m["channel"] == "email" and promotion.sha[:12] in m["subject"]]
    assert notices
    assert all(page(plane, promotion.execution_arn) in notice["links"] for notice in notices)


def test_the_approval_email_links_to_the_local_console_and_the_link_answers(
    plane: LocalControlPlane, waiting: Promotion
) -> None:
    wait_for_approval_links(plane, waiting)
    email = next(m for m in outbox(plane) if m["channel"] == "email" and waiting.sha[:12] in m["subject"])
    expected = page(plane, waiting.execution_arn)

    # The email links to the execution in the local console (there is no AWS console page for it)
    assert expected in email["links"]
    assert "console.aws.amazon.com" not in json.dumps(email)
    # And the approval page links there too
    approval_page = requests.get(wait_for_approval_links(plane, waiting)[0], timeout=10)
    assert f'href="{expected}"' in approval_page.text

    # And the link answers with the console page, under a CSP that allows this origin's files only
    answer = requests.get(expected, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert (directives["default-src"], directives["script-src"], directives["style-src"]) == (
        "'none'",
        "'self'",
        "'self'",
    )
    assert "<style" not in answer.text
    assert "style=" not in answer.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text)  # every script is a file
    decide_via_link(wait_for_approval_links(plane, waiting)[0], "reject")
    wait_for_end(plane, waiting.execution_arn, timeout=60)


def test_the_console_serves_its_static_files_from_the_package_and_nothing_else(
    plane: LocalControlPlane,
) -> None:
    for name, kind in (
        ("console.js", "text/javascript"),
        ("console.css", "text/css"),
        ("dagre.min.js", "text/javascript"),
    ):
        answer = requests.get(f"{plane.console_url}/static/{name}", timeout=10)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith(kind)
        assert answer.content == (STATIC / name).read_bytes()
    for missing in ("README.md", "dagre.LICENSE", "../web.py", "%2e%2e/web.py", "nope.js"):
        assert requests.get(f"{plane.console_url}/static/{missing}", timeout=10).status_code == 404


def test_unknown_executions_and_other_methods_are_refused(plane: LocalControlPlane) -> None:
    assert plane.stack is not None
    unknown = plane.stack.state_machine_arn.replace(":stateMachine:", ":execution:") + ":no-such-execution"
    assert requests.get(api(plane, unknown), timeout=10).status_code == 404
    assert requests.get(page(plane, unknown), timeout=10).status_code == 404
    assert requests.get(f"{plane.console_url}/api/executions/not-an-arn", timeout=10).status_code == 404
    assert requests.post(f"{plane.console_url}/api/executions", timeout=10).status_code == 405


def test_the_list_page_and_the_ready_line(plane: LocalControlPlane) -> None:
    assert plane.ready_info()["console_url"] == plane.console_url
    assert plane.console_url == f"{plane.api_url}/_local/console"
    answer = requests.get(f"{plane.console_url}/", timeout=10)
    assert answer.status_code == 200
    assert "content-security-policy" in answer.headers


@pytest.fixture
def local_state(plane: LocalControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The state file ``promote local up`` writes, pointing at the test session's plane."""
    return point_cli_at(plane, tmp_path, monkeypatch)


@pytest.mark.usefixtures("local_state")
def test_promote_start_prints_the_console_link(
    plane: LocalControlPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
    document["name"] = UNPUBLISHED_PIPELINE
    document["artifacts"] = {**document["artifacts"], "wait_seconds": 0}
    plane.put_pipeline(json.dumps(document), source=f"test pipeline {UNPUBLISHED_PIPELINE}")

    assert (
        cli.main(
            ["--local", "start", "--pipeline", UNPUBLISHED_PIPELINE, "--sha", "ab" * 20, "--wait-for-build"]
        )
        == 0
    )
    started = json.loads(capsys.readouterr().out)

    assert started["console_url"] == page(plane, started["execution_arn"])
    assert requests.get(started["console_url"], timeout=10).status_code == 200
    wait_for_end(plane, started["execution_arn"], timeout=60)
