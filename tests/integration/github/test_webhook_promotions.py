"""Promotions started by signed GitHub deliveries on the local plane: the real ASL, handlers and HTTP route.

GitHub's REST API is the plane's stand-in (``plane.github``): each test gives it the pull requests and
comparisons GitHub would answer, and reads back the deployments and statuses the promotion posted.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from promote_cli.control import serving
from promote_cli.local import sample
from promote_cli.local.plane import LocalControlPlane
from promotion.console import execution_console_url
from promotion.github.attestation import is_attested
from promotion.github.dependabot import LambdaProdCommit, Unproven
from promotion.models.config import PipelineConfig
from promotion.models.execution import ExecutionInput
from promotion.naming import execution_name
from promotion.pipeline.artifacts import lambda_code_sha256
from tests.support.approval_plane import attestation_key, signing_key
from tests.support.github import (
    DEPENDABOT,
    body_of,
    compare_commit,
    comparison,
    delivery_headers,
    dependabot_commit,
    fixture,
    new_sha,
    pull_request,
    spoofed_dependabot_commit,
    user,
    workflow_run_payload,
)
from tests.support.promotion import (
    approval_links,
    control,
    decide_via_link,
    history,
    outbox,
    publish_for,
    states_visited,
    wait_for_end,
    wait_for_state,
)

PIPELINE = "sentiment-service"


# ---- helpers ------------------------------------------------------------------------------------------
def deliver(
    plane: LocalControlPlane,
    payload: dict[str, Any] | bytes,
    *,
    event: str = "workflow_run",
    secret: str | None = "",
    delivery: str | None = None,
    content_type: str = "application/json",
) -> requests.Response:
    """POST a delivery to the pipeline's webhook as GitHub would; ``secret=""`` means the plane's own."""
    body = payload if isinstance(payload, bytes) else body_of(payload)
    signing = plane.webhook_secret(PIPELINE) if secret == "" else secret
    headers = delivery_headers(
        body, secret=signing, event=event, delivery=delivery, content_type=content_type
    )
    return requests.post(plane.webhook_url(PIPELINE), data=body, headers=headers, timeout=15)


def config_of(plane: LocalControlPlane) -> PipelineConfig:
    return control(plane).pipeline(PIPELINE)


def publish(plane: LocalControlPlane, sha: str) -> sample.PublishedBuild:
    """CI publishes the build of ``sha`` (before its run completes, as a real build workflow does)."""
    config = config_of(plane)
    return publish_for(plane, config, sha, "good")


def executions_of(plane: LocalControlPlane, sha: str) -> list[str]:
    sfn = plane.client("stepfunctions")
    assert plane.stack is not None
    prefix = f"{PIPELINE}-{sha[:12]}-a"
    names = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=plane.stack.state_machine_arn):
        names += [e["name"] for e in page["executions"] if e["name"].startswith(prefix)]
    return names


def approval_path_decided(plane: LocalControlPlane, execution_arn: str) -> dict[str, Any]:
    """What "Decide approval path" put into the execution's data ($.approval_path)."""
    for event in history(plane, execution_arn):
        details = event.get("stateExitedEventDetails")
        if details and details["name"] == "Decide approval path":
            return dict(json.loads(details["output"])["approval_path"])
    raise AssertionError(f"Decide approval path never finished: {states_visited(plane, execution_arn)}")


def approve_or_reject(plane: LocalControlPlane, execution_arn: str, sha: str, decision: str) -> None:
    wait_for_state(plane, execution_arn, "Wait for approval")
    for _ in range(300):
        links = approval_links(plane, sha)
        if links:
            answer = decide_via_link(links[0], decision, f"webhook tests: {decision}")
            assert answer.status_code == 200, answer.text
            return
        status = plane.client("stepfunctions").describe_execution(executionArn=execution_arn)["status"]
        assert status == "RUNNING", f"ended {status} before an approval link was sent"
        time.sleep(0.1)
    raise AssertionError(f"no approval link for {sha[:12]}")


def approval_requests(plane: LocalControlPlane, execution_arn: str, subject: str) -> list[dict[str, Any]]:
    """The approval emails whose subject starts with ``subject``, once sent (the task sends them after its
    state is entered)."""
    for _ in range(300):
        found = [m for m in outbox(plane) if m["channel"] == "email" and m["subject"].startswith(subject)]
        if found:
            return found
        status = plane.client("stepfunctions").describe_execution(executionArn=execution_arn)["status"]
        assert status == "RUNNING", f"ended {status} before an approval email was sent"
        time.sleep(0.1)
    raise AssertionError(f"no approval email {subject!r}")


def statuses_by_environment(plane: LocalControlPlane, repo: str, sha: str) -> dict[str, list[dict[str, Any]]]:
    return {d["environment"]: d["statuses"] for d in plane.github.deployments(repo, sha)}


def prod_commit(plane: LocalControlPlane) -> str:
    return LambdaProdCommit(plane.environment_client("prod", "lambda")).current_commit(config_of(plane))


@pytest.fixture
def github_answers_cleared(plane: LocalControlPlane) -> Iterator[None]:
    yield
    plane.github.set_outage(None)


# ---- tests ----------------------------------------------------------------------------------------------
def test_a_signed_build_run_promotes_once_and_github_sees_each_environment(plane: LocalControlPlane) -> None:
    # Given CI published the build of a commit and its build workflow succeeded on main
    config = config_of(plane)
    sha = new_sha()
    build = publish(plane, sha)
    payload = workflow_run_payload(sha=sha, repo=config.repo)

    # When GitHub delivers the run, then redelivers it, then a re-run of the build is delivered too
    first = deliver(plane, payload, delivery="d-first")
    redelivery = deliver(plane, payload, delivery="d-first")
    rerun = deliver(plane, payload, delivery="d-rerun")

    # Then one promotion started, under the spine's execution name
    assert first.status_code == 201, first.text
    assert first.json()["execution_name"] == execution_name(PIPELINE, sha, 1)
    assert [redelivery.status_code, rerun.status_code] == [200, 200]
    assert [redelivery.json()["status"], rerun.json()["status"]] == ["duplicate", "duplicate"]
    assert executions_of(plane, sha) == [execution_name(PIPELINE, sha, 1)]
    execution_arn = first.json()["execution_arn"]

    # And its input says what GitHub signed and what it only claimed
    described = plane.client("stepfunctions").describe_execution(executionArn=execution_arn)
    started = json.loads(described["input"])
    assert started["trigger"]["source"] == "webhook"
    assert started["trigger"]["github"]["sha"] == {"value": sha, "provenance": "verified"}
    assert started["trigger"]["github"]["delivery_id"] == {"value": "d-first", "provenance": "claimed"}
    assert started["commit"]["verified"] is True
    # and the control plane vouches for those facts, so the approval step trusts them
    assert is_attested(
        ExecutionInput.model_validate(started),
        attestation_key(plane),
        execution_arn=execution_arn,
        execution_name=execution_name(PIPELINE, sha, 1),
    )
    # with its own key: the approval-link key does not attest
    assert not is_attested(
        ExecutionInput.model_validate(started),
        signing_key(plane),
        execution_arn=execution_arn,
        execution_name=execution_name(PIPELINE, sha, 1),
    )

    # When nothing proves a Dependabot update, a person approves
    approve_or_reject(plane, execution_arn, sha, "approve")
    ended = wait_for_end(plane, execution_arn, timeout=90)

    # Then the promotion succeeded with prod on the published bytes
    assert ended["status"] == "SUCCEEDED", states_visited(plane, execution_arn)
    assert approval_path_decided(plane, execution_arn)["decision"] == "approval_required"
    prod = serving(plane.environment_client("prod", "lambda"), config, "prod")
    assert {f["code_sha256"] for f in prod.values()} == {lambda_code_sha256(build.sha256)}
    # And GitHub has a deployment per environment, with statuses linked to the execution
    statuses = statuses_by_environment(plane, config.repo, sha)
    assert [s["state"] for s in statuses["preprod"]] == ["in_progress", "success"]
    assert [s["state"] for s in statuses["prod"]] == ["queued", "in_progress", "success"]
    console = execution_console_url(execution_arn, plane.console_url)
    assert all(s["log_url"] == console for s in statuses["preprod"] + statuses["prod"])
    assert statuses["prod"][-1]["environment_url"] == config.environments.prod.base_url


def known_prod_commit(plane: LocalControlPlane) -> str:
    """The commit prod runs (any earlier promotion leaves one; run one if none has)."""
    try:
        return prod_commit(plane)
    except Unproven:
        test_a_signed_build_run_promotes_once_and_github_sees_each_environment(plane)
        return prod_commit(plane)


def test_racing_deliveries_of_one_commit_start_one_promotion(plane: LocalControlPlane) -> None:
    # Given a commit's successful build run, delivered eight times at once: one delivery sent four
    # times (GitHub's redeliveries) and four new deliveries of the same run
    config = config_of(plane)
    sha = new_sha()
    payload = workflow_run_payload(sha=sha, repo=config.repo)
    deliveries = ["d-race"] * 4 + [f"d-race-{n}" for n in range(4)]

    # When they all reach the webhook together
    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        answers = list(pool.map(lambda delivery: deliver(plane, payload, delivery=delivery), deliveries))

    # Then one of them started the commit's promotion and the other seven were told it is a duplicate
    assert sorted(answer.status_code for answer in answers) == [200] * 7 + [201], [a.text for a in answers]
    assert sorted(answer.json()["status"] for answer in answers) == ["duplicate"] * 7 + ["started"]
    assert executions_of(plane, sha) == [execution_name(PIPELINE, sha, 1)]
    (started,) = [answer.json()["execution_arn"] for answer in answers if answer.status_code == 201]
    control(plane).cancel(started, reason="test done: no build was published", requested_by="tests")


def test_a_proven_dependabot_update_skips_the_approval(plane: LocalControlPlane) -> None:
    # Given prod runs a known commit
    config = config_of(plane)
    base = known_prod_commit(plane)
    # And GitHub says: Dependabot's pull request #77 was merged as the new commit, which changes only a
    # lock file and is the only commit since prod's
    sha = new_sha()
    publish(plane, sha)
    plane.github.set_pull_requests(
        config.repo, sha, [pull_request(number=77, author=DEPENDABOT, merge_commit_sha=sha, repo=config.repo)]
    )
    plane.github.set_comparison(
        config.repo, base, sha, comparison([dependabot_commit(sha)], ["requirements.txt"])
    )

    # When the build run is delivered
    started = deliver(plane, workflow_run_payload(sha=sha, repo=config.repo))
    assert started.status_code == 201, started.text
    execution_arn = started.json()["execution_arn"]
    ended = wait_for_end(plane, execution_arn, timeout=90)

    # Then it went to prod without waiting for a person, and says why
    states = states_visited(plane, execution_arn)
    assert ended["status"] == "SUCCEEDED", states
    assert "Approval bypassed" in states
    assert "Wait for approval" not in states
    output = json.loads(ended["output"])
    assert output["approval_path"]["decision"] == "bypass"
    assert "pull request #77 by dependabot[bot]" in output["approval_path"]["reason"]
    assert output["approval"]["approved_by"] == "bypass-policy"
    assert prod_commit(plane) == sha


# Each: (sha, prod's sha, repo) -> (GitHub's pull requests of the commit, its compare answer, the reason).
Spoof = Callable[[str, str, str], tuple[list[dict[str, Any]], dict[str, Any], str]]
SPOOFS: dict[str, Spoof] = {
    # A human account named like the bot opened the pull request.
    "lookalike_author": lambda sha, base, repo: (
        [pull_request(number=81, author=user("dependabot", 4242), merge_commit_sha=sha, repo=repo)],
        comparison([dependabot_commit(sha)], ["requirements.txt"]),
        "opened by dependabot (id 4242, type User)",
    ),
    # A person pushed a commit on top of Dependabot's merged pull request.
    "human_commit_on_top": lambda sha, base, repo: (
        [pull_request(number=82, author=DEPENDABOT, merge_commit_sha=sha, repo=repo)],
        comparison(
            [dependabot_commit(new_sha()), compare_commit(sha, user("mallory", 666), name="m", email="m@x")],
            ["requirements.txt"],
        ),
        "authored by mallory",
    ),
    # Dependabot's pull request, but it changed application code too.
    "not_only_manifests": lambda sha, base, repo: (
        [pull_request(number=83, author=DEPENDABOT, merge_commit_sha=sha, repo=repo)],
        comparison([dependabot_commit(sha)], ["requirements.txt", "src/app.py"]),
        "src/app.py changed",
    ),
    # Someone with push access committed as Dependabot's email onto its branch: GitHub's API attributes the
    # author to dependabot[bot] (it follows the email), but they committed it and nothing signed it.
    "spoofed_by_email": lambda sha, base, repo: (
        [pull_request(number=84, author=DEPENDABOT, merge_commit_sha=sha, repo=repo)],
        comparison([spoofed_dependabot_commit(sha, user("mallory", 666))], ["requirements.txt"]),
        f"commit {sha[:12]} since prod's {base[:12]} is not verified by GitHub (unsigned)",
    ),
    # The commit claims Dependabot in its free-text author, and the webhook's sender and actor say
    # dependabot[bot] too; GitHub knows no pull request for it.
    "claims_in_the_payload_only": lambda sha, base, repo: (
        [],
        comparison(
            [
                compare_commit(
                    sha,
                    None,
                    name="dependabot[bot]",
                    email="49699333+dependabot[bot]@users.noreply.github.com",
                )
            ],
            ["requirements.txt"],
        ),
        "no pull request merged into main",
    ),
}


@pytest.mark.parametrize("spoof", sorted(SPOOFS))
def test_spoofed_dependabot_updates_wait_for_a_person(plane: LocalControlPlane, spoof: str) -> None:
    # Given prod runs a known commit, and GitHub's answers for a change that only looks like a Dependabot
    # update
    config = config_of(plane)
    base = known_prod_commit(plane)
    sha = new_sha()
    publish(plane, sha)
    pulls, compared, reason = SPOOFS[spoof](sha, base, config.repo)
    plane.github.set_pull_requests(config.repo, sha, pulls)
    plane.github.set_comparison(config.repo, base, sha, compared)
    payload = workflow_run_payload(sha=sha, repo=config.repo)
    for who in (
        payload["sender"],
        payload["workflow_run"]["actor"],
        payload["workflow_run"]["triggering_actor"],
    ):
        who.update(login="dependabot[bot]", id=49699333, type="Bot")
    payload["workflow_run"]["head_commit"]["author"] = {
        "name": "dependabot[bot]",
        "email": "49699333+dependabot[bot]@users.noreply.github.com",
    }

    # When the build run is delivered
    started = deliver(plane, payload)
    assert started.status_code == 201, started.text
    execution_arn = started.json()["execution_arn"]

    # Then the promotion waits for a person, with the reason the bypass was refused
    wait_for_state(plane, execution_arn, "Wait for approval", timeout=60)
    decided = approval_path_decided(plane, execution_arn)
    assert decided["decision"] == "approval_required"
    assert reason in decided["reason"]
    assert "Approval bypassed" not in states_visited(plane, execution_arn)
    # and the approvers are told why they are asked
    asked = approval_requests(plane, execution_arn, f"Approve {config.repo}@{sha[:12]}")
    assert all(reason in html.unescape(" ".join(m["text"].split())) for m in asked)

    # And the person's rejection ends it, with prod untouched by this commit
    approve_or_reject(plane, execution_arn, sha, "reject")
    ended = wait_for_end(plane, execution_arn, timeout=60)
    assert ended["status"] == "FAILED"
    assert prod_commit(plane) != sha


def test_github_failing_neither_fails_nor_bypasses_a_promotion(
    plane: LocalControlPlane, github_answers_cleared: None
) -> None:
    # Given GitHub answering 503 to what the proof and the statuses ask (pull requests, deployments), and a
    # real Dependabot update it cannot vouch for now. (Compare stays up: prod's never-backwards check asks
    # it and refuses to deploy without an answer, by design.)
    config = config_of(plane)
    sha = new_sha()
    publish(plane, sha)
    plane.github.set_pull_requests(
        config.repo, sha, [pull_request(number=90, author=DEPENDABOT, merge_commit_sha=sha, repo=config.repo)]
    )
    before = len(plane.github.deployments(config.repo, sha))
    plane.github.set_outage(503, paths=("/pulls", "/deployments"))

    # When its build run is delivered (the webhook itself never calls GitHub)
    started = deliver(plane, workflow_run_payload(sha=sha, repo=config.repo))
    assert started.status_code == 201, started.text
    execution_arn = started.json()["execution_arn"]

    # Then approval is required, and with it the promotion completes; no status reached GitHub
    approve_or_reject(plane, execution_arn, sha, "approve")
    ended = wait_for_end(plane, execution_arn, timeout=90)
    assert ended["status"] == "SUCCEEDED", states_visited(plane, execution_arn)
    decided = approval_path_decided(plane, execution_arn)
    assert decided["decision"] == "approval_required"
    assert "HTTP 503" in decided["reason"]
    assert len(plane.github.deployments(config.repo, sha)) == before == 0


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("unknown_pipeline", 404),
        ("unsigned", 401),
        ("wrong_secret", 401),
        ("form_encoded", 415),
        ("not_json", 400),
        ("other_repository", 422),
        ("tag_push", 202),
        ("too_large", 413),
    ],
)
def test_bad_deliveries_over_http_start_nothing(plane: LocalControlPlane, case: str, status: int) -> None:
    config = config_of(plane)
    sha = new_sha()
    payload = workflow_run_payload(sha=sha, repo=config.repo)
    if case == "unknown_pipeline":
        body = body_of(payload)
        headers = delivery_headers(body, secret=plane.webhook_secret(PIPELINE), event="workflow_run")
        answer = requests.post(plane.webhook_url("no-such-pipeline"), data=body, headers=headers, timeout=10)
    elif case == "unsigned":
        answer = deliver(plane, payload, secret=None)
    elif case == "wrong_secret":
        answer = deliver(plane, payload, secret="not-the-webhook-secret-at-all")
    elif case == "form_encoded":
        answer = deliver(
            plane, b"payload=" + body_of(payload), content_type="application/x-www-form-urlencoded"
        )
    elif case == "not_json":
        answer = deliver(plane, b"{not json")
    elif case == "other_repository":
        answer = deliver(plane, workflow_run_payload(sha=sha, repo="someone/else"))
    elif case == "tag_push":
        tag = fixture("push.json")
        tag["repository"]["full_name"] = config.repo
        answer = deliver(plane, tag, event="push")
    else:
        payload["padding"] = "x" * (1024 * 1024)
        answer = deliver(plane, payload)
    assert answer.status_code == status, answer.text
    assert executions_of(plane, sha) == []
