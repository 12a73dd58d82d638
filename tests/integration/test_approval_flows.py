"""Approvals by email link and operator CLI on the local plane: the real ASL, handlers, tables and routes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import requests

from promote_cli.local.plane import LocalControlPlane
from promotion.models.execution import CommitInfo
from tests.support.approval_plane import (
    MOTO_OPERATOR_ARN,
    RELEASE,
    SECOND,
    approval_id_of,
    audit_actions,
    derived_pipeline,
    link_for,
    start,
    start_with_commit,
    still_waiting,
)
from tests.support.promotion import (
    ConfirmationForm,
    decide_via_link,
    wait_for_approval_links,
    wait_for_end,
    wait_for_state,
)


def test_links_show_a_page_only_its_post_decides_once_and_the_output_names_the_approver(
    plane: LocalControlPlane,
) -> None:
    # Given a promotion waiting for approval, with its emailed link
    promotion = start(plane, derived_pipeline(plane, "approval-email"))
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")
    (link,) = wait_for_approval_links(plane, promotion)
    approval_id = approval_id_of(link)

    # When a mail scanner GETs and HEADs the link, and someone tampers with it
    for _ in range(3):
        assert requests.get(link, timeout=5).status_code == 200
    assert requests.head(link, timeout=5).status_code != 200
    assert requests.get(link.replace("sig=", "sig=0"), timeout=5).status_code == 403
    assert requests.get(link.replace("release-manager", "release-managers"), timeout=5).status_code == 403
    # a validly signed link for someone who is not an approver of this request
    expires = int(link.split("expires=", 1)[1].split("&", 1)[0])
    intruder = requests.get(link_for(plane, approval_id, "intruder@example.com", expires), timeout=5)
    assert intruder.status_code == 403

    # Then nothing was decided
    assert still_waiting(plane, promotion)

    # When the approver posts Approve from the page, then posts the same form again
    page = requests.get(link, timeout=5)
    form = ConfirmationForm(page.text)
    fields = {**form.fields, "decision": "approve", "reason": "ship it"}
    first = requests.post(link.split("?", 1)[0], data=fields, timeout=10)
    second = requests.post(link.split("?", 1)[0], data=fields, timeout=10)

    # Then the first decides, the second changes nothing and says who decided when
    assert first.status_code == 200
    assert second.status_code == 409
    assert f"already approved by {RELEASE} at " in second.text
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["approval"]["approved_by"] == RELEASE
    assert output["approval"]["channel"] == "email"
    assert output["approval"]["approval_id"] == approval_id
    actions = audit_actions(plane, approval_id)
    assert actions[0] == "requested"
    assert actions.count("viewed") >= 4
    assert actions[-2:] == ["decided", "refused"]


def test_a_rejection_fails_the_promotion_as_rejected_with_the_reason(plane: LocalControlPlane) -> None:
    promotion = start(plane, derived_pipeline(plane, "approval-reject"))
    (link,) = wait_for_approval_links(plane, promotion)

    answer = decide_via_link(link, "reject", "breaks the billing export")

    assert answer.status_code == 200
    assert f"Rejected by {RELEASE}" in answer.text
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "Rejected"
    assert "breaks the billing export" in described["cause"]
    assert promotion.after()["prod"] == promotion.before["prod"]


def test_the_verified_author_cannot_approve_their_own_change(plane: LocalControlPlane) -> None:
    # Given a promotion of a commit whose verified author is the only approver
    pipeline = derived_pipeline(plane, "approval-self", unverified_author="refuse")
    promotion = start_with_commit(
        plane,
        pipeline,
        CommitInfo(message="Tune scores", author_login="rm", author_email=RELEASE, verified=True),
    )
    (link,) = wait_for_approval_links(plane, promotion)

    # When they open the link and press Approve
    page = requests.get(link, timeout=5)
    assert "you cannot approve your own change" in page.text
    answer = decide_via_link(link, "approve")

    # Then it is refused and the promotion still waits; they may still reject it
    assert answer.status_code == 403
    assert still_waiting(plane, promotion)
    assert decide_via_link(link, "reject", "withdrawn").status_code == 200
    assert wait_for_end(plane, promotion.execution_arn)["error"] == "Rejected"


def test_verified_facts_written_by_a_caller_of_start_execution_count_as_claims(
    plane: LocalControlPlane,
) -> None:
    # Given an execution input that says "verified" but that the webhook never attested
    pipeline = derived_pipeline(plane, "approval-forged", unverified_author="refuse")
    promotion = start_with_commit(
        plane,
        pipeline,
        CommitInfo(
            message="Tune scores", author_login="someone-else", author_email="x@example.com", verified=True
        ),
        attested=False,
    )
    (link,) = wait_for_approval_links(plane, promotion)

    # Then the facts are treated as unverified: the two-person rule cannot pass on them
    assert "NOT verified" in requests.get(link, timeout=5).text
    answer = decide_via_link(link, "approve")
    assert answer.status_code == 403
    assert "unknown or unverified" in answer.text
    assert still_waiting(plane, promotion)
    assert decide_via_link(link, "reject", "forged facts").status_code == 200


def test_an_unverified_author_fails_closed_by_default(plane: LocalControlPlane) -> None:
    pipeline = derived_pipeline(plane, "approval-unverified", unverified_author="refuse")
    promotion = start(plane, pipeline)  # started by the CLI: no verified commit facts
    (link,) = wait_for_approval_links(plane, promotion)

    assert "NOT verified" in requests.get(link, timeout=5).text
    answer = decide_via_link(link, "approve")
    assert answer.status_code == 403
    assert "unknown or unverified" in answer.text
    assert still_waiting(plane, promotion)
    decide_via_link(link, "reject", "cleanup")
    assert wait_for_end(plane, promotion.execution_arn)["error"] == "Rejected"


def test_a_newer_promotion_supersedes_the_older_waiting_one(plane: LocalControlPlane) -> None:
    # Given an older promotion waiting for approval
    pipeline = derived_pipeline(plane, "approval-supersede")
    older = start(plane, pipeline)
    (older_link,) = wait_for_approval_links(plane, older)

    # When a newer promotion of the same pipeline asks for approval
    newer = start(plane, pipeline)
    (newer_link,) = wait_for_approval_links(plane, newer)

    # Then the older one ends as superseded and its link says so; the newer one waits
    described = wait_for_end(plane, older.execution_arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "Superseded"
    assert newer.sha[:12] in described["cause"]
    gone = requests.get(older_link, timeout=5)
    assert gone.status_code == 410
    assert "Superseded" in gone.text
    assert still_waiting(plane, newer)
    assert older.after()["prod"] == older.before["prod"]
    decide_via_link(newer_link, "reject", "cleanup")
    wait_for_end(plane, newer.execution_arn)


def test_two_distinct_approvals_are_needed_when_configured(plane: LocalControlPlane) -> None:
    # Given a pipeline that needs two of its two approvers
    pipeline = derived_pipeline(plane, "approval-two", approvers=[RELEASE, SECOND], required_approvals=2)
    promotion = start(plane, pipeline)
    links = wait_for_approval_links(plane, promotion, count=2)
    by_approver = {
        approver: next(link for link in links if approver.replace("@", "%40") in link)
        for approver in (RELEASE, SECOND)
    }

    # When the first approves (and tries again), the promotion still waits
    first = decide_via_link(by_approver[RELEASE], "approve")
    assert first.status_code == 200
    assert "Approval recorded (1 of 2)" in first.text
    assert requests.get(by_approver[RELEASE], timeout=5).status_code == 409
    assert still_waiting(plane, promotion)

    # Then the second approval lets it through, and the output names both
    assert decide_via_link(by_approver[SECOND], "approve").status_code == 200
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "SUCCEEDED"
    approval = json.loads(described["output"])["approval"]
    assert approval["approvers"] == [RELEASE, SECOND]


def promote(plane: LocalControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    """The operator's ``promote`` CLI in its own process, against the local plane's AWS endpoint."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "promote_cli",
            "--endpoint-url",
            plane.aws_endpoint_url,
            "--region",
            plane.options.region,
            "--stack",
            plane.options.stack_name,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "operator", "AWS_SECRET_ACCESS_KEY": "operator"},
    )


def test_operators_list_and_approve_with_their_aws_identity(plane: LocalControlPlane) -> None:
    # Given a pipeline that maps the operator's AWS identity to an approver, and a waiting promotion
    pipeline = derived_pipeline(plane, "approval-operator", operators={MOTO_OPERATOR_ARN: RELEASE})
    promotion = start(plane, pipeline)
    (link,) = wait_for_approval_links(plane, promotion)
    approval_id = approval_id_of(link)

    # When the operator lists the waiting approvals and approves this one
    listing = promote(plane, "approvals", "list", "--pipeline", pipeline, "--json")
    assert listing.returncode == 0, listing.stderr
    assert [row["approval_id"] for row in json.loads(listing.stdout)] == [approval_id]
    approved = promote(plane, "approve", approval_id, "--comment", "hotfix")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["status"] == "approved"

    # Then the promotion goes through, recorded as the operator's decision
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "SUCCEEDED"
    approval = json.loads(described["output"])["approval"]
    assert approval["approved_by"] == RELEASE
    assert approval["channel"] == "operator"
    # and the link now says it was decided
    assert requests.get(link, timeout=5).status_code == 409


def test_an_unmapped_operator_is_refused_with_one_line_and_exit_2(plane: LocalControlPlane) -> None:
    pipeline = derived_pipeline(plane, "approval-no-operators", operators={})
    promotion = start(plane, pipeline)
    (link,) = wait_for_approval_links(plane, promotion)
    approval_id = approval_id_of(link)

    refused = promote(plane, "reject", approval_id, "--reason", "not mine to decide")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "is not mapped to an approver" in refused.stderr
    unknown = promote(plane, "approve", "no-such-approval")
    assert unknown.returncode == 2
    assert "no approval" in unknown.stderr
    assert still_waiting(plane, promotion)
    decide_via_link(link, "reject", "cleanup")
    wait_for_end(plane, promotion.execution_arn)
