"""``promote approvals audit`` and ``promote github check`` on the local plane: signed calls to the read-only
operator routes (IAM enforced: an unsigned call or a caller without the operator policy is refused), the
forged completion an incident is about standing out, and GitHub as the control plane sees it, an outage of
the stand-in included."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from promote_cli.local.plane import LocalControlPlane
from tests.support.operator_cli import iam_user, promote
from tests.support.promotion import (
    Promotion,
    publish_and_start,
    token_from_history,
    tuned_pipeline,
    wait_for_approval_links,
    wait_for_end,
)

PIPELINE = "operator-reads"


@pytest.fixture(scope="module")
def forged(plane: LocalControlPlane) -> Promotion:
    """A promotion whose approval task a task-token holder completed directly."""
    promotion = publish_and_start(plane, pipeline=tuned_pipeline(plane, PIPELINE))
    wait_for_approval_links(plane, promotion)
    plane.client("stepfunctions").send_task_success(
        taskToken=token_from_history(plane, promotion.execution_arn),
        output=json.dumps({"approved_by": "nobody@evil.example", "channel": "email"}),
    )
    described = wait_for_end(plane, promotion.execution_arn, timeout=90)
    assert (described["status"], described.get("error")) == ("FAILED", "ApprovalNotVerified")
    return promotion


def refused(answer: subprocess.CompletedProcess[str], status: str) -> bool:
    """Exit 2 with one line on stderr naming the HTTP status."""
    return (answer.returncode, answer.stderr.count("\n")) == (2, 1) and f"({status}" in answer.stderr


def test_the_audit_of_a_forged_promotion_shows_the_forged_completion(
    plane: LocalControlPlane, forged: Promotion
) -> None:
    name = forged.execution_arn.rsplit(":", 1)[-1]
    table = promote(plane, "approvals", "audit", "--execution", name, local=True)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == f"execution {name}  FAILED"
    assert lines[1].startswith("approval ")
    assert "  expired  " in lines[1]
    header = next(line for line in lines if line.split()[:1] == ["TIME"])
    assert header.split() == ["TIME", "ACTION", "ACTOR", "CHANNEL", "DETAIL"]
    forged_rows = [line for line in lines if line.startswith("!!") and "FORGED_COMPLETION" in line]
    assert len(forged_rows) == 1
    assert "states" in forged_rows[0]
    assert "nobody@evil.example" in forged_rows[0]  # the claimed approver, never cut short
    assert lines[-1].startswith("!! 1 forged completion(s)")
    assert any(" requested " in line for line in lines)

    document = json.loads(
        promote(plane, "approvals", "audit", "--execution", name, "--json", local=True).stdout
    )
    ((approval),) = document["approvals"]
    assert "task_token" not in approval
    assert [event["action"] for event in document["events"]] == ["requested", "expired", "forged_completion"]

    # The request's own audit, by its id
    by_id = promote(plane, "approvals", "audit", approval["approval_id"], "--json", local=True)
    assert by_id.returncode == 0, by_id.stderr
    assert json.loads(by_id.stdout)["events"] == document["events"]


def test_audit_refusals_are_one_line(plane: LocalControlPlane, forged: Promotion) -> None:
    assert refused(
        promote(plane, "approvals", "audit", "no-such-approval", local=True), "404 No such approval"
    )
    unknown = promote(plane, "approvals", "audit", "--execution", f"{PIPELINE}-{'0' * 12}-a1", local=True)
    assert refused(unknown, "404 No such execution")
    neither = promote(plane, "approvals", "audit", local=True)
    assert (neither.returncode, neither.stderr.count("\n")) == (2, 1)
    assert "APPROVAL_ID, or --execution NAME" in neither.stderr


def test_github_check_answers_and_fails_in_one_line_during_an_outage(plane: LocalControlPlane) -> None:
    pipeline = tuned_pipeline(plane, PIPELINE)
    ok = promote(plane, "github", "check", "--pipeline", pipeline, local=True)
    assert ok.returncode == 0, ok.stderr
    assert "GitHub answered: the pipeline's token sees" in ok.stdout
    assert "rate limit " in ok.stdout
    report = json.loads(
        promote(plane, "github", "check", "--pipeline", pipeline, "--json", local=True).stdout
    )
    assert (report["reachable"], report["ok"], report["status"]) == (True, True, 200)
    assert report["permissions"]["push"] is True
    assert report["rate_limit"]["remaining"] > 0

    plane.github.set_outage(503)
    try:
        down = promote(plane, "github", "check", "--pipeline", pipeline, local=True)
    finally:
        plane.github.set_outage(None)
    assert (down.returncode, down.stderr.count("\n")) == (1, 1), down.stderr
    assert down.stderr.startswith("promote: the control plane cannot use GitHub for ")
    assert "HTTP 503" in down.stderr

    assert refused(
        promote(plane, "github", "check", "--pipeline", "no-such-pipeline", local=True),
        "404 Unknown pipeline",
    )


def test_unsigned_or_unpermitted_reads_are_refused(plane: LocalControlPlane, forged: Promotion) -> None:
    name = forged.execution_arn.rsplit(":", 1)[-1]
    for path in (f"/operator/executions/{name}/audit", f"/operator/pipelines/{PIPELINE}/github"):
        unsigned = requests.get(f"{plane.api_url}{path}", timeout=10)
        assert unsigned.status_code in (401, 403)
        assert "events" not in unsigned.text

    outsider = iam_user(plane, "reads-outsider", operator_policy=False)
    audit = promote(plane, "approvals", "audit", "--execution", name, credentials=outsider)
    assert refused(audit, "403")
    check = promote(plane, "github", "check", "--pipeline", PIPELINE, credentials=outsider)
    assert refused(check, "403")

    # The same kind of user with the operator policy reads
    reader = iam_user(plane, "reads-operator", operator_policy=True)
    allowed = promote(plane, "approvals", "audit", "--execution", name, "--json", credentials=reader)
    assert allowed.returncode == 0, allowed.stderr
