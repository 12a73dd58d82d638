"""The promotion's main paths on the local plane: the real ASL and handlers, moto's AWS, the sample service.

Each test asserts the terminal status and error, the states visited, what each environment serves afterwards
(alias -> version -> CodeSha256) and the notice the team got.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from promote_cli.local import sample
from promote_cli.local.plane import LocalControlPlane
from promotion.models.execution import CommitInfo, ExecutionInput, Trigger
from promotion.naming import execution_name
from promotion.pipeline.artifacts import lambda_code_sha256
from tests.support.promotion import (
    Promotion,
    control,
    decide_via_link,
    declare_ahead_of_prod,
    history,
    outbox,
    publish_and_start,
    publish_for,
    serving_now,
    wait_for_approval_links,
    wait_for_end,
    wait_for_state,
)

PIPELINE = "sentiment-service"
TEAM = "team@example.com"
APPROVER = "release-manager@example.com"
PROD_ALARMS = [
    "svc-sentiment-prod-api-errors",
    "svc-sentiment-prod-api-p99",
    "svc-sentiment-prod-worker-errors",
]
DEPLOY_STATES = ("Deploy to preprod", "Deploy to prod")


# ---- helpers --------------------------------------------------------------------------------------
def healthy_prod_alarms(plane: LocalControlPlane) -> None:
    """Prod's alarms OK, as a service with traffic reports them (moto never evaluates alarms)."""
    cloudwatch = plane.environment_client("prod", "cloudwatch")
    for name in PROD_ALARMS:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="promotion paths")


def ended(
    plane: LocalControlPlane, promotion: Promotion, status: str, error: str | None = None
) -> dict[str, Any]:
    described = wait_for_end(plane, promotion.execution_arn, timeout=90)
    assert described["status"] == status, (described.get("error"), described.get("cause"), promotion.states())
    if error is not None:
        assert described.get("error") == error, (described.get("error"), described.get("cause"))
    return described


def in_order(states: list[str], expected: list[str]) -> bool:
    """Whether ``expected`` appears in ``states`` in this order (other states may come between)."""
    remaining = iter(states)
    return all(any(state == wanted for state in remaining) for wanted in expected)


def state_output(plane: LocalControlPlane, execution_arn: str, state: str) -> dict[str, Any]:
    """The data a state passed on (its last exit), read from the execution history."""
    exits = [
        event["stateExitedEventDetails"]
        for event in history(plane, execution_arn)
        if event["type"].endswith("StateExited") and event["stateExitedEventDetails"]["name"] == state
    ]
    assert exits, f"{state!r} never exited"
    return dict(json.loads(exits[-1]["output"]))


def notices(plane: LocalControlPlane, sha: str) -> list[dict[str, Any]]:
    """What the team was told about this commit (approval requests go to approvers, not the team)."""
    return [m for m in outbox(plane) if m["recipient"] == TEAM and sha[:12] in m["subject"]]


def versions(environment: dict[str, dict[str, str]]) -> dict[str, str]:
    return {key: function["version"] for key, function in environment.items()}


def code_shas(environment: dict[str, dict[str, str]]) -> set[str]:
    return {function["code_sha256"] for function in environment.values()}


def approve(plane: LocalControlPlane, promotion: Promotion) -> None:
    (link,) = wait_for_approval_links(plane, promotion)
    declare_ahead_of_prod(plane, promotion.config, promotion.sha)
    assert decide_via_link(link, "approve", "looks good").status_code == 200


# ---- rejected -------------------------------------------------------------------------------------
def test_a_rejected_promotion_fails_as_rejected_and_leaves_prod_alone(plane: LocalControlPlane) -> None:
    # Given a good build waiting for approval
    promotion = publish_and_start(plane, variant="good")
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")
    (link,) = wait_for_approval_links(plane, promotion)

    # When the approver rejects it from the link's page
    answer = decide_via_link(link, "reject", "not during the sale")

    # Then the promotion fails with the error Rejected and the approver's reason
    assert answer.status_code == 200
    described = ended(plane, promotion, "FAILED", "Rejected")
    assert APPROVER in described["cause"]
    assert "not during the sale" in described["cause"]
    states = promotion.states()
    assert in_order(states, ["Deploy to preprod", "Run integration tests", "Wait for approval"])
    assert states[-2:] == ["Notify failure", "Promotion failed"]
    assert "Deploy to prod" not in states

    # And prod serves what it served before; preprod keeps the new build it tested
    after = promotion.after()
    assert after["prod"] == promotion.before["prod"]
    assert code_shas(after["preprod"]) == {lambda_code_sha256(promotion.build.sha256)}
    for key, function in after["preprod"].items():
        assert int(function["version"]) > int(promotion.before["preprod"][key]["version"])

    # And the team is told, with the cause in words
    (notice,) = notices(plane, promotion.sha)
    assert "failed: Rejected" in notice["subject"]
    assert "Error: Rejected" in notice["text"]
    assert "not during the sale" in notice["text"]


# ---- no bypass from the execution input ---------------------------------------------------------------
def test_an_input_asking_for_a_bypass_fails_before_anything_is_deployed(plane: LocalControlPlane) -> None:
    # Given a published build and a start whose input carries extra keys asking to skip the approval
    ctl = control(plane)
    config = ctl.pipeline(PIPELINE)
    sha = secrets.token_hex(20)
    build = publish_for(plane, config, sha, "good")
    before = serving_now(plane, config)
    document = {
        "pipeline": PIPELINE,
        "sha": sha,
        "attempt": 1,
        "trigger": {"source": "cli", "requested_by": "tests"},
        "bypass": True,
        "approval_path": {"decision": "bypass", "reason": "trust me"},
    }

    # When the execution starts
    started = plane.client("stepfunctions").start_execution(
        stateMachineArn=ctl.state_machine_arn(),
        name=execution_name(PIPELINE, sha, 1),
        input=json.dumps(document),
    )
    promotion = Promotion(plane, config, sha, started["executionArn"], build, before)

    # Then the first state refuses the input, naming the keys, and nothing is deployed
    described = ended(plane, promotion, "FAILED", "InvalidExecutionInput")
    assert "bypass: Extra inputs are not permitted" in described["cause"]
    assert "approval_path: Extra inputs are not permitted" in described["cause"]
    states = promotion.states()
    assert states[0] == "Load pipeline config"
    assert states[-2:] == ["Notify failure", "Promotion failed"]
    assert not {"Fetch artifact", *DEPLOY_STATES} & set(states)
    assert promotion.after() == before
    (notice,) = notices(plane, sha)
    assert "failed: InvalidExecutionInput" in notice["subject"]


# ---- approved while CI overwrites the build; a claimed Dependabot commit ---------------------------
@dataclass
class ApprovedRun:
    promotion: Promotion
    overwrite: sample.PublishedBuild
    described: dict[str, Any]
    output: dict[str, Any]
    states: list[str]
    after: dict[str, dict[str, dict[str, str]]]


@pytest.fixture(scope="module")
def approved_despite_overwrite(plane: LocalControlPlane) -> Iterator[ApprovedRun]:
    """One promotion, run once for the tests below.

    Its input claims a verified Dependabot commit (a claim: only GitHub's answer can prove one). While it
    waits for approval, CI overwrites the same package key with another variant's bytes and manifest. Then
    it is approved and runs to its end.
    """
    healthy_prod_alarms(plane)
    ctl = control(plane)
    config = ctl.pipeline(PIPELINE)
    sha = secrets.token_hex(20)
    before = serving_now(plane, config)
    build = publish_for(plane, config, sha, "good")
    claimed = CommitInfo(
        message="Bump requests from 2.31.0 to 2.32.3",
        author_login="dependabot[bot]",
        author_email="49699333+dependabot[bot]@users.noreply.github.com",
        verified=True,
    )
    document = ExecutionInput(
        pipeline=PIPELINE, sha=sha, trigger=Trigger(source="webhook", requested_by="tests"), commit=claimed
    )
    started = plane.client("stepfunctions").start_execution(
        stateMachineArn=ctl.state_machine_arn(),
        name=execution_name(PIPELINE, sha, 1),
        input=json.dumps(document.to_payload()),
    )
    promotion = Promotion(plane, config, sha, started["executionArn"], build, before)
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")
    (link,) = wait_for_approval_links(plane, promotion)

    overwrite = publish_for(plane, config, sha, "fails-in-prod")
    assert overwrite.package_key == build.package_key
    assert overwrite.sha256 != build.sha256

    declare_ahead_of_prod(plane, config, sha)
    assert decide_via_link(link, "approve", "dependency bump").status_code == 200
    described = wait_for_end(plane, promotion.execution_arn, timeout=90)
    yield ApprovedRun(
        promotion=promotion,
        overwrite=overwrite,
        described=described,
        output=dict(json.loads(described.get("output") or "{}")),
        states=promotion.states(),
        after=promotion.after(),
    )
    healthy_prod_alarms(plane)


def test_the_approved_promotion_succeeds(approved_despite_overwrite: ApprovedRun) -> None:
    run = approved_despite_overwrite
    assert run.described["status"] == "SUCCEEDED", (run.described.get("error"), run.described.get("cause"))
    assert in_order(
        run.states,
        [
            "Load pipeline config",
            "Fetch artifact",
            "Deploy to preprod",
            "Run integration tests",
            "Decide approval path",
            "Wait for approval",
            "Deploy to prod",
            "Run canary checks",
            "Check prod alarms",
        ],
    )
    assert run.states[-3:] == ["Notify success", "Promoted or deployed?", "Promoted"]
    assert run.output["approval"]["approved_by"] == APPROVER


def test_a_claimed_dependabot_commit_still_needs_approval(approved_despite_overwrite: ApprovedRun) -> None:
    run = approved_despite_overwrite
    assert run.output["approval_path"]["decision"] == "approval_required"
    assert run.output["approval_path"]["reason"]
    assert "Wait for approval" in run.states
    assert "Approval bypassed" not in run.states


def test_prod_runs_the_pinned_build_not_the_overwrite(
    plane: LocalControlPlane, approved_despite_overwrite: ApprovedRun
) -> None:
    run = approved_despite_overwrite
    pinned = lambda_code_sha256(run.promotion.build.sha256)
    overwritten = lambda_code_sha256(run.overwrite.sha256)
    # the promotion pinned the version it hashed before the overwrite, and deployed those bytes
    assert run.output["artifact"]["version_id"] == run.promotion.build.package_version_id
    assert run.output["artifact"]["version_id"] != run.overwrite.package_version_id
    assert code_shas(run.after["prod"]) == {pinned}
    assert code_shas(run.after["preprod"]) == {pinned}
    assert overwritten not in code_shas(run.after["prod"])
    # and prod answers as the pinned build: the good variant of this commit
    for function in ("svc-sentiment-prod-api", "svc-sentiment-prod-worker"):
        health = requests.get(f"{plane.api_url}/_local/fn/{function}/live/health", timeout=30)
        assert health.status_code == 200, health.text
        assert health.json() == {"status": "ok", "version": run.promotion.sha, "variant": "good"}


def test_every_function_of_an_environment_moves_to_a_new_version_together(
    approved_despite_overwrite: ApprovedRun,
) -> None:
    run = approved_despite_overwrite
    for environment in ("preprod", "prod"):
        before, after = run.promotion.before[environment], run.after[environment]
        assert set(after) == {"api", "tests", "worker"}
        for key in after:
            assert after[key]["alias"] == "live"
            assert int(after[key]["version"]) > int(before[key]["version"])
        # what the deploy step recorded: each function's previous version, the new one, the same bytes
        recorded = {f["key"]: f for f in run.output[environment]["functions"]}
        assert {key: f["previous_version"] for key, f in recorded.items()} == versions(before)
        assert {key: f["version"] for key, f in recorded.items()} == versions(after)
        assert {f["code_sha256"] for f in recorded.values()} == code_shas(after)


def test_the_team_is_told_of_the_promotion(
    plane: LocalControlPlane, approved_despite_overwrite: ApprovedRun
) -> None:
    run = approved_despite_overwrite
    (notice,) = notices(plane, run.promotion.sha)
    assert notice["subject"] == f"Promoted {PIPELINE}@{run.promotion.sha[:12]} to prod"
    assert f"Approved by: {APPROVER}" in notice["text"]
    prod = versions(run.after["prod"])
    assert (
        f"Prod now runs: api v{prod['api']}, tests v{prod['tests']}, worker v{prod['worker']}"
        in notice["text"]
    )


# ---- builds that fail ---------------------------------------------------------------------------------
def test_a_build_failing_preprod_stops_before_approval_and_prod(plane: LocalControlPlane) -> None:
    # Given a build whose /score labels everything negative
    promotion = publish_and_start(plane, variant="fails-preprod")

    # When it is promoted
    described = ended(plane, promotion, "FAILED", "IntegrationTestsFailed")

    # Then the integration checks name the failing check, and nothing after them ran
    assert "score-positive: JSON 'label' is 'negative', expected 'positive'" in described["cause"]
    states = promotion.states()
    assert in_order(states, ["Deploy to preprod", "Run integration tests"])
    assert states[-2:] == ["Notify failure", "Promotion failed"]
    assert not {"Decide approval path", "Wait for approval", "Deploy to prod"} & set(states)
    # the integration checks ran against the new build in preprod
    deployed = state_output(plane, promotion.execution_arn, "Deploy to preprod")["preprod"]
    assert {f["code_sha256"] for f in deployed["functions"]} == {lambda_code_sha256(promotion.build.sha256)}

    # And prod is untouched, preprod is back on what it ran before
    after = promotion.after()
    assert after["prod"] == promotion.before["prod"]
    assert versions(after["preprod"]) == versions(promotion.before["preprod"])
    (notice,) = notices(plane, promotion.sha)
    assert "failed: IntegrationTestsFailed" in notice["subject"]
    assert "score-positive" in notice["text"]


def test_a_build_failing_in_prod_fails_the_canary_on_the_new_versions(plane: LocalControlPlane) -> None:
    # Given a build that is healthy everywhere but prod, approved after preprod
    healthy_prod_alarms(plane)
    promotion = publish_and_start(plane, variant="fails-in-prod")
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")
    calls_before_prod = len(plane.runtime.invocations)
    approve(plane, promotion)

    # When the canary runs
    described = ended(plane, promotion, "FAILED", "CanaryFailed")

    # Then it failed on the worker's health check, called on the new prod versions themselves
    assert "worker-health: status 500, expected 200" in described["cause"]
    states = promotion.states()
    assert in_order(states, ["Wait for approval", "Deploy to prod", "Run canary checks"])
    assert states[-2:] == ["Notify failure", "Promotion failed"]
    assert "Start bake" not in states
    deployed = state_output(plane, promotion.execution_arn, "Deploy to prod")["prod"]
    new_versions = {(f["function_name"], f["version"]) for f in deployed["functions"]}
    assert {f["code_sha256"] for f in deployed["functions"]} == {lambda_code_sha256(promotion.build.sha256)}
    prod_calls = {
        call
        for call in plane.runtime.invocations[calls_before_prod:]
        if call[0].startswith("svc-sentiment-prod-")
    }
    assert prod_calls == new_versions  # the exact versions, never the alias

    # And prod is back on what it ran before, preprod keeps the build it passed
    after = promotion.after()
    assert versions(after["prod"]) == versions(promotion.before["prod"])
    assert code_shas(after["preprod"]) == {lambda_code_sha256(promotion.build.sha256)}

    # And the team is told why prod failed
    (notice,) = notices(plane, promotion.sha)
    assert "failed: CanaryFailed" in notice["subject"]
    assert "worker-health: status 500, expected 200" in notice["text"]
