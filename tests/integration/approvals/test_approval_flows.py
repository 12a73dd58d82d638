"""Approvals by email link and operator CLI on the local plane: the real ASL, handlers, tables and routes."""

from __future__ import annotations

import json
import secrets

import requests

from promote_cli.local.plane import LocalControlPlane
from promotion.models.execution import CommitInfo
from tests.support.approval_plane import (
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
from tests.support.operator_cli import iam_user, promote
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


def test_the_local_operator_approves_through_the_iam_route_with_only_the_operator_policy(
    plane: LocalControlPlane,
) -> None:
    # Given a promotion waiting for approval; the sample pipeline maps the local operator to an approver,
    # and the local operator holds nothing but the template's operator policy
    iam = plane.client("iam")
    operator_user = plane.operator["arn"].rsplit("/", 1)[1]
    attached = iam.list_attached_user_policies(UserName=operator_user)["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [plane.operator["policy_arn"]]
    assert iam.list_user_policies(UserName=operator_user)["PolicyNames"] == []
    pipeline = derived_pipeline(plane, "approval-operator")
    promotion = start(plane, pipeline)
    (link,) = wait_for_approval_links(plane, promotion)
    approval_id = approval_id_of(link)

    # When the operator lists the waiting approvals and approves this one
    listing = promote(plane, "approvals", "list", "--pipeline", pipeline, "--json", local=True)
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    assert [row["approval_id"] for row in rows] == [approval_id]
    assert rows[0]["as_approver"] == RELEASE
    assert "task_token" not in listing.stdout
    approved = promote(plane, "approve", approval_id, "--comment", "hotfix", local=True)
    assert approved.returncode == 0, approved.stderr
    answer = json.loads(approved.stdout)
    assert (answer["status"], answer["caller"]) == ("approved", plane.operator["arn"])

    # Then the promotion goes past "Wait for approval", recorded as the operator's decision
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "SUCCEEDED"
    approval = json.loads(described["output"])["approval"]
    assert approval["approved_by"] == RELEASE
    assert approval["channel"] == "operator"
    # and the link now says it was decided
    assert requests.get(link, timeout=5).status_code == 409


def test_a_principal_without_the_operator_policy_gets_403_and_the_request_stays_pending(
    plane: LocalControlPlane,
) -> None:
    # Given a waiting promotion whose pipeline even maps the outsider's ARN to an approver
    outsider = iam_user(plane, "outsider", operator_policy=False)
    pipeline = derived_pipeline(
        plane, "approval-no-policy", operators={outsider["arn"]: RELEASE, plane.operator["arn"]: RELEASE}
    )
    promotion = start(plane, pipeline)
    (link,) = wait_for_approval_links(plane, promotion)
    approval_id = approval_id_of(link)
    route = f"{plane.api_url}/operator/approvals/{approval_id}"

    # When a principal without execute-api:Invoke on the route approves, and others call unsigned or forged
    refused = promote(plane, "approve", approval_id, credentials=outsider)
    listing = promote(plane, "approvals", "list", credentials=outsider)
    unsigned = requests.post(route, json={"decision": "approve"}, timeout=10)
    forged = requests.post(
        route,
        json={"decision": "approve"},
        headers={
            "authorization": "AWS4-HMAC-SHA256 Credential=AKIAFORGED/20250101/us-east-1/execute-api/"
            "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
            "x-amz-date": "20250101T000000Z",
        },
        timeout=10,
    )

    # Then API Gateway's answer, 403 Forbidden, and nothing was decided
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "(403)" in refused.stderr
    assert "execute-api:Invoke" in refused.stderr
    assert listing.returncode == 2
    for answer in (unsigned, forged):
        assert (answer.status_code, answer.json()) == (403, {"message": "Forbidden"})
    assert still_waiting(plane, promotion)
    assert "approved" not in audit_actions(plane, approval_id)
    record = plane.client("dynamodb").get_item(
        TableName=plane.stack.environment["APPROVALS_TABLE"] if plane.stack else "",
        Key={"approval_id": {"S": approval_id}},
    )["Item"]
    assert record["status"]["S"] == "pending"
    decide_via_link(link, "reject", "cleanup")
    wait_for_end(plane, promotion.execution_arn)


def test_an_assumed_role_session_with_the_policy_decides_through_a_prefix_key(
    plane: LocalControlPlane,
) -> None:
    # Given a role holding the operator policy, whose sessions the pipeline maps by prefix
    iam = plane.client("iam")
    role = iam.create_role(
        RoleName=f"approvers-{secrets.token_hex(3)}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=plane.operator["policy_arn"])
    session = plane.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="alice")["Credentials"]
    prefix = f"arn:aws:sts::123456789012:assumed-role/{role['RoleName']}/"
    pipeline = derived_pipeline(plane, "approval-role", operators={f"{prefix}*": RELEASE})
    promotion = start(plane, pipeline)
    (link,) = wait_for_approval_links(plane, promotion)

    # When a session of the role rejects it
    rejected = promote(
        plane,
        "reject",
        approval_id_of(link),
        "--reason",
        "not this week",
        credentials={
            "AWS_ACCESS_KEY_ID": session["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
            "AWS_SESSION_TOKEN": session["SessionToken"],
        },
    )

    # Then the promotion ends rejected, by the approver the session's ARN maps to
    assert rejected.returncode == 0, rejected.stderr
    assert json.loads(rejected.stdout)["caller"] == f"{prefix}alice"
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "FAILED"
    assert f"rejected by {RELEASE} via operator" in described["cause"]


def test_an_unmapped_operator_is_refused_with_one_line_and_exit_2(plane: LocalControlPlane) -> None:
    # Given an IAM user with the operator policy whom the pipeline does not map to an approver
    stranger = iam_user(plane, "stranger", operator_policy=True)
    pipeline = derived_pipeline(plane, "approval-no-operators", operators={})
    promotion = start(plane, pipeline)
    (link,) = wait_for_approval_links(plane, promotion)
    approval_id = approval_id_of(link)

    refused = promote(plane, "reject", approval_id, "--reason", "not mine to decide", credentials=stranger)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "is not mapped to an approver" in refused.stderr
    assert stranger["arn"] in refused.stderr
    unknown = promote(plane, "approve", "no-such-approval", credentials=stranger)
    assert unknown.returncode == 2
    assert "no approval" in unknown.stderr
    assert still_waiting(plane, promotion)
    decide_via_link(link, "reject", "cleanup")
    wait_for_end(plane, promotion.execution_arn)
