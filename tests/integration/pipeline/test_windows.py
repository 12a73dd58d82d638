"""Deployment windows on the local plane: the real ASL's "Check deployment window" loop, the pipeline config
read afresh, an operator's override, a freeze that fails prod but not an emergency rollback."""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests
from rich.console import Console

from promote_cli.execution_history import read_history, timeline
from promote_cli.executions import describe, render_description
from promote_cli.local.plane import LocalControlPlane
from tests.support.operator_cli import promote
from tests.support.pipelines import SAMPLE_PIPELINE_FILE
from tests.support.promotion import (
    Promotion,
    decide_via_link,
    declare_ahead_of_prod,
    history,
    outbox,
    publish_and_start,
    serving_now,
    wait_for_approval_links,
    wait_for_end,
    wait_for_state,
)

PIPELINE = "windowed-service"
TEAM = "team@example.com"


def put_windows(plane: LocalControlPlane, **windows: Any) -> None:
    """The sample pipeline, as PIPELINE, with this ``windows`` section (the check reads it afresh)."""
    document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
    document["name"] = PIPELINE
    document["windows"] = windows
    plane.put_pipeline(json.dumps(document), source=f"test pipeline {PIPELINE}")


def freeze(start: datetime, end: datetime, reason: str) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat(), "reason": reason}


def approve(plane: LocalControlPlane, promotion: Promotion) -> None:
    (link, *_) = wait_for_approval_links(plane, promotion)
    declare_ahead_of_prod(plane, promotion.config, promotion.sha)
    assert decide_via_link(link, "approve", "ship it").status_code == 200


def window_answers(plane: LocalControlPlane, execution_arn: str) -> list[dict[str, Any]]:
    """``$.window`` as each "Check deployment window" left it, in order."""
    return [
        json.loads(event["stateExitedEventDetails"]["output"])["window"]
        for event in history(plane, execution_arn)
        if event["type"] == "TaskStateExited"
        and event["stateExitedEventDetails"]["name"] == "Check deployment window"
    ]


def entered_at(plane: LocalControlPlane, execution_arn: str, state: str) -> datetime:
    (moment,) = [
        event["timestamp"]
        for event in history(plane, execution_arn)
        if event["type"].endswith("StateEntered") and event["stateEnteredEventDetails"]["name"] == state
    ]
    return moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))


def override_window(
    plane: LocalControlPlane, execution: str, reason: str
) -> subprocess.CompletedProcess[str]:
    """``promote --local window override`` in its own process, as the local operator."""
    arguments = ("--pipeline", PIPELINE, "--execution", execution, "--reason", reason)
    return promote(plane, "window", "override", *arguments, local=True)


def watched(plane: LocalControlPlane, execution_arn: str) -> list[str]:
    """The lines ``promote watch`` prints for the execution's "Check deployment window" visits."""
    view = read_history(history(plane, execution_arn))
    return [line.text for line in timeline(view) if line.state == "Check deployment window"]


def prod_versions(plane: LocalControlPlane, promotion: Promotion) -> dict[str, str]:
    return {key: serving["version"] for key, serving in serving_now(plane, promotion.config)["prod"].items()}


@dataclass
class Finished:
    promotion: Promotion
    described: dict[str, Any]
    windows: list[dict[str, Any]]
    prod: dict[str, str]
    # `promote describe` of it while it waited for the window: the report, and its text
    waiting: tuple[dict[str, Any], str] | None = None


def finished(plane: LocalControlPlane, promotion: Promotion) -> Finished:
    """The promotion run to its end: how it ended, its window answers, what prod serves."""
    described = wait_for_end(plane, promotion.execution_arn, timeout=120)
    answers = window_answers(plane, promotion.execution_arn)
    return Finished(promotion, described, answers, prod_versions(plane, promotion))


# ---- closed when it reaches prod, open shortly after: it waits, then deploys -------------------------------
@pytest.fixture(scope="module")
def waited(plane: LocalControlPlane) -> Finished:
    put_windows(plane)  # no rule: always open
    promotion = publish_and_start(plane, pipeline=PIPELINE)
    (link, *_) = wait_for_approval_links(plane, promotion)
    # While it waits for approval, a freeze is declared that ends a few seconds after the approval.
    now = datetime.now(UTC)
    ends = now + timedelta(seconds=12)
    put_windows(
        plane,
        freezes=[freeze(now - timedelta(minutes=1), ends, "database migration")],
        recheck_seconds=60,
        max_wait_hours=1,
    )
    declare_ahead_of_prod(plane, promotion.config, promotion.sha)
    assert decide_via_link(link, "approve", "ship it").status_code == 200
    wait_for_state(plane, promotion.execution_arn, "Wait for deployment window")
    waiting = described(plane, promotion)
    return replace(finished(plane, promotion), waiting=waiting)


def described(plane: LocalControlPlane, promotion: Promotion) -> tuple[dict[str, Any], str]:
    """What `promote describe` shows of the execution now: its report (`--json`) and its text."""
    sfn = plane.client("stepfunctions")
    report = describe(sfn, sfn.describe_execution(executionArn=promotion.execution_arn))
    console = Console(file=io.StringIO(), width=400)
    for part in render_description(report):
        console.print(part)
    assert isinstance(console.file, io.StringIO)
    return report, console.file.getvalue()


def test_a_promotion_reaching_prod_in_a_freeze_waits_for_its_end_then_deploys(
    plane: LocalControlPlane, waited: Finished
) -> None:
    assert waited.described["status"] == "SUCCEEDED", (
        waited.described.get("error"),
        waited.described.get("cause"),
    )
    states = waited.promotion.states()
    check = states.index("Check deployment window")
    assert states[check : check + 3] == [
        "Check deployment window",
        "Deployment window open?",
        "Wait for deployment window",
    ]
    assert states.index("Check and lock prod") > states.index("Wait for deployment window")
    # The first answer says why and when; the last one lets it through.
    first, last = waited.windows[0], waited.windows[-1]
    assert (first["open"], first["reason"]) == (False, "freeze: database migration")
    opens_at = datetime.fromisoformat(first["opens_at"].replace("Z", "+00:00"))
    assert first["wait_until"] == first["opens_at"]  # sooner than the next recheck
    assert last["open"] is True
    assert last["override"] is None
    # Prod was deployed only once the freeze had ended.
    assert entered_at(plane, waited.promotion.execution_arn, "Deploy to prod") >= opens_at
    assert json.loads(waited.described["output"])["window"]["open"] is True
    # And the team was told, once, why it waits and when it goes
    (notice,) = [
        m
        for m in outbox(plane)
        if m["recipient"] == TEAM
        and "waits for prod's deployment window" in m["subject"]
        and waited.promotion.sha[:12] in m["subject"]
    ]
    assert f"(opens {first['opens_at']})" in notice["subject"]
    assert "Why:        freeze: database migration" in notice["text"]
    # And the console's document carries the window's last answer
    console = requests.get(
        f"{plane.console_url}/api/executions/{quote(waited.promotion.execution_arn, safe='')}", timeout=10
    ).json()
    assert console["window"] == last
    # And `promote watch` says why it waits and when it goes
    assert (
        f"deployment window closed (freeze: database migration): opens {first['opens_at']}, "
        f"next check {first['wait_until']}"
    ) in watched(plane, waited.promotion.execution_arn)
    # And so does `promote describe` while it waits (and, after, the answer that let it through)
    assert waited.waiting is not None
    report, text = waited.waiting
    assert report["current_state"] == "Wait for deployment window"
    assert report["window"] == {"environment": "prod", "waiting": True, **first}
    assert (
        f"prod window    waiting: closed (freeze: database migration): opens {first['opens_at']}, "
        f"next check {first['wait_until']}"
    ) in text
    after, _ = described(plane, waited.promotion)
    assert after["window"] == {"environment": "prod", "waiting": False, **last}


# ---- an operator's override lets one promotion through -----------------------------------------------------
@pytest.fixture(scope="module")
def overridden(plane: LocalControlPlane, waited: Finished) -> Finished:
    now = datetime.now(UTC)
    put_windows(
        plane,
        freezes=[freeze(now - timedelta(minutes=1), now + timedelta(hours=1), "quarter close")],
        max_wait_hours=2,
    )
    promotion = publish_and_start(plane, pipeline=PIPELINE)
    name = promotion.execution_arn.rsplit(":", 1)[-1]
    refused = override_window(plane, "nope", "x")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "not an execution of pipeline" in refused.stderr
    granted = override_window(plane, name, "fix for the checkout outage")
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout)["override"] is True
    approve(plane, promotion)
    return finished(plane, promotion)


def test_an_override_lets_one_promotion_deploy_prod_during_a_freeze(
    plane: LocalControlPlane, overridden: Finished
) -> None:
    assert overridden.described["status"] == "SUCCEEDED", overridden.described.get("cause")
    (answer,) = overridden.windows
    assert answer["open"] is True
    assert answer["override"]["reason"] == "fix for the checkout outage"
    assert answer["override"]["by"]
    assert "freeze: quarter close" in answer["reason"]
    assert "Wait for deployment window" not in overridden.promotion.states()
    # The approval request said the window was closed, and when it would open
    (request,) = [
        m
        for m in outbox(plane)
        if m["channel"] == "email"
        and "/approvals/" in " ".join(m["links"])
        and overridden.promotion.sha[:12] in m["subject"]
    ]
    assert "Prod window: closed (freeze: quarter close), opens " in request["text"]
    assert f"deployment window: {answer['reason']}" in watched(plane, overridden.promotion.execution_arn)


# ---- a freeze fails prod (outside: fail), and the emergency rollback still goes ----------------------------
def test_a_freeze_fails_a_promotion_at_prod_but_not_an_emergency_rollback(
    plane: LocalControlPlane, waited: Finished, overridden: Finished
) -> None:
    now = datetime.now(UTC)
    put_windows(
        plane,
        freezes=[freeze(now - timedelta(minutes=1), now + timedelta(hours=1), "quarter close")],
        outside="fail",
    )
    promotion = publish_and_start(plane, pipeline=PIPELINE)
    approve(plane, promotion)
    described = wait_for_end(plane, promotion.execution_arn, timeout=120)

    # The promotion fails before prod, saying why and when the window opens; prod is unchanged
    assert (described["status"], described.get("error")) == ("FAILED", "DeploymentWindowClosed")
    assert "freeze: quarter close" in described["cause"]
    assert "opens " in described["cause"]
    states = promotion.states()
    assert "Check and lock prod" not in states
    assert "Deploy to prod" not in states
    assert states[-2:] == ["Notify failure", "Promotion failed"]
    assert prod_versions(plane, promotion) == overridden.prod
    (notice,) = [m for m in outbox(plane) if m["recipient"] == TEAM and promotion.sha[:12] in m["subject"]]
    assert "DeploymentWindowClosed" in notice["subject"]

    # The emergency rollback is not a promotion: it goes, frozen window or not
    rolled = promote(plane, "rollback", "prod", "--pipeline", PIPELINE, "--reason", "errors", local=True)
    assert rolled.returncode == 0, rolled.stderr
    assert json.loads(rolled.stdout)["sha"] == waited.promotion.sha
    assert prod_versions(plane, promotion) == waited.prod


# ---- windows that hold preprod too -----------------------------------------------------------------------
def test_a_freeze_of_preprod_fails_before_anything_is_deployed(plane: LocalControlPlane) -> None:
    now = datetime.now(UTC)
    put_windows(
        plane,
        freezes=[freeze(now - timedelta(minutes=1), now + timedelta(hours=1), "preprod rebuild")],
        environments=["preprod", "prod"],
        outside="fail",
    )
    promotion = publish_and_start(plane, pipeline=PIPELINE)
    described = wait_for_end(plane, promotion.execution_arn, timeout=60)
    assert (described["status"], described.get("error")) == ("FAILED", "DeploymentWindowClosed")
    assert "preprod's deployment window is closed (freeze: preprod rebuild)" in described["cause"]
    states = promotion.states()
    assert states[:4] == [
        "Load pipeline config",
        "Fetch artifact",
        "Deployment windows for preprod?",
        "Check preprod deployment window",
    ]
    assert "Check and lock preprod" not in states
    assert promotion.after() == promotion.before
