"""Safe prod rollout on the real ASL: ledger, traffic shifting, never backwards, operator commands."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
import requests

from promote_cli.cli import main as promote
from promote_cli.control import ControlPlane
from promote_cli.local import sample
from promote_cli.local.plane import LocalControlPlane
from promotion.pipeline.artifacts import lambda_code_sha256
from tests.support.promotion import (
    decide_via_link,
    derived_pipeline,
    new_sha,
    outbox,
    point_cli_at,
    publish_and_start,
    publish_for,
    states_visited,
    wait_for_approval_links,
    wait_for_end,
    wait_for_state,
)


def operator(plane: LocalControlPlane) -> ControlPlane:
    dynamodb = boto3.resource(
        "dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url
    )
    return ControlPlane(
        plane.options.stack_name, plane.client("stepfunctions"), plane.client("ssm"), dynamodb
    )


def notices_of(plane: LocalControlPlane, execution_name: str) -> list[dict[str, Any]]:
    """The outcome notices (to the pipeline's notification emails) of one execution."""
    return [
        m
        for m in outbox(plane)
        if m["recipient"] == "team@example.com" and f"Execution: {execution_name}" in m["text"]
    ]


def approve(plane: LocalControlPlane, promotion: Any) -> None:
    links = wait_for_approval_links(plane, promotion)
    assert decide_via_link(links[0], "approve").status_code == 200


def publish(plane: LocalControlPlane, sha: str, variant: str = "good") -> sample.PublishedBuild:
    config = operator(plane).pipeline("sentiment-service")
    return publish_for(plane, config, sha, variant)


def run_to_end(
    plane: LocalControlPlane, started: dict[str, Any], sha: str, *, approve_it: bool = True
) -> str:
    if approve_it:
        links = []
        deadline = time.monotonic() + 30
        while not links and time.monotonic() < deadline:
            status = plane.client("stepfunctions").describe_execution(executionArn=started["execution_arn"])[
                "status"
            ]
            if status != "RUNNING":
                break
            # Earlier attempts of the same commit sent links too: only this execution's count.
            links = [
                link
                for m in requests.get(f"{plane.api_url}/_local/outbox", timeout=5).json()
                if sha[:12] in m["subject"] and started["name"] in m["text"]
                for link in m["links"]
                if "/approvals/" in link
            ]
            time.sleep(0.1)
        if links:
            assert decide_via_link(links[-1], "approve").status_code == 200
    return str(wait_for_end(plane, started["execution_arn"], timeout=90)["status"])


def test_the_ledger_records_each_deployment_and_what_each_environment_runs(plane: LocalControlPlane) -> None:
    # Given a promotion that succeeds and one that fails the canary
    good = publish_and_start(plane)
    approve(plane, good)
    assert wait_for_end(plane, good.execution_arn)["status"] == "SUCCEEDED"
    bad = publish_and_start(plane, variant="fails-in-prod")
    approve(plane, bad)
    assert wait_for_end(plane, bad.execution_arn)["status"] == "FAILED"

    # When an operator asks for the status
    report = operator(plane).status(plane.environment_clients("lambda"), "sentiment-service", history=5)

    # Then prod runs (and knows as good) the first build; the second is in the history as rolled back
    prod = report["environments"]["prod"]
    assert prod["sha"] == good.sha
    assert prod["known_good_sha"] == good.sha
    latest, previous = prod["history"][0], prod["history"][1]
    assert latest["sha"] == bad.sha
    assert latest["outcome"] == "rolled_back"
    assert previous["sha"] == good.sha
    assert previous["outcome"] == "succeeded"
    assert previous["approver"] == "release-manager@example.com"
    assert previous["versions"] == {k: v["version"] for k, v in good.after()["prod"].items()}
    # preprod keeps the canary-failing build (it passed there) but its known-good is the good one
    assert report["environments"]["preprod"]["sha"] == bad.sha
    assert report["environments"]["preprod"]["known_good_sha"] == good.sha


def test_a_canary_rollout_sends_about_one_request_in_ten_to_the_new_version(plane: LocalControlPlane) -> None:
    # Given a pipeline that rolls out 10 % for 150 s (15 s at the local time scale), then 100 %
    pipeline = derived_pipeline(
        plane, "rollout-canary", rollout={"strategy": "canary", "canary_percent": 10, "interval_seconds": 150}
    )
    promotion = publish_and_start(plane, pipeline=pipeline)
    approve(plane, promotion)
    wait_for_state(plane, promotion.execution_arn, "Hold traffic step")

    # When requests reach prod's alias during the 10 % step
    alias = plane.environment_client("prod", "lambda").get_alias(
        FunctionName="svc-sentiment-prod-api", Name="live"
    )
    new_version = next(iter(alias["RoutingConfig"]["AdditionalVersionWeights"]))
    assert alias["RoutingConfig"]["AdditionalVersionWeights"][new_version] == pytest.approx(0.1)
    url = f"{plane.api_url}/_local/fn/svc-sentiment-prod-api/live/health"
    versions = [requests.get(url, timeout=10).json()["version"] for _ in range(100)]

    # Then about one in ten ran the new build (P(0 of 100) < 3e-5; P(> 30) is negligible)
    on_new = versions.count(promotion.sha)
    assert 1 <= on_new <= 30, on_new
    assert set(versions) <= {promotion.sha, versions[0] if versions[0] != promotion.sha else "bootstrap"} | {
        v for v in versions if v != promotion.sha
    }

    # And the rollout finishes on 100 %, the alarms polled at the step
    assert wait_for_end(plane, promotion.execution_arn)["status"] == "SUCCEEDED"
    states = promotion.states()
    assert states.count("Shift traffic") == 2
    assert "Check alarms during rollout" in states
    final = plane.environment_client("prod", "lambda").get_alias(
        FunctionName="svc-sentiment-prod-api", Name="live"
    )
    assert final["FunctionVersion"] == new_version
    assert not (final.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_an_alarm_during_a_linear_rollout_puts_all_traffic_back(plane: LocalControlPlane) -> None:
    pipeline = derived_pipeline(
        plane, "rollout-linear", rollout={"strategy": "linear", "step_percent": 25, "interval_seconds": 60}
    )
    cloudwatch = plane.environment_client("prod", "cloudwatch")
    promotion = publish_and_start(plane, pipeline=pipeline)
    approve(plane, promotion)
    wait_for_state(plane, promotion.execution_arn, "Hold traffic step")
    cloudwatch.set_alarm_state(
        AlarmName="svc-sentiment-prod-api-errors", StateValue="ALARM", StateReason="test"
    )
    try:
        described = wait_for_end(plane, promotion.execution_arn)
    finally:
        cloudwatch.set_alarm_state(
            AlarmName="svc-sentiment-prod-api-errors", StateValue="OK", StateReason="test"
        )
    assert described["status"] == "FAILED"
    assert described["error"] == "BakeAlarm"
    assert "Roll back prod" in promotion.states()
    for key, before in promotion.before["prod"].items():
        alias = plane.environment_client("prod", "lambda").get_alias(
            FunctionName=before["function"], Name="live"
        )
        assert alias["FunctionVersion"] == before["version"], key
        assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    # The ledger keeps who approved the deployment that was rolled back
    (entry,) = [
        e
        for e in operator(plane).status(plane.environment_clients("lambda"), pipeline)["environments"][
            "prod"
        ]["history"]
        if e["execution"] == promotion.execution_arn.rsplit(":", 1)[1]
    ]
    assert (entry["outcome"], entry["approver"]) == ("rolled_back", "release-manager@example.com")


def test_prod_never_goes_backwards_unless_an_operator_redeploys(plane: LocalControlPlane) -> None:
    # Given two commits built in order, older then newer, and the newer one in prod
    older, newer = new_sha(), new_sha()
    publish(plane, older)
    publish(plane, newer)
    ctl = operator(plane)
    assert (
        run_to_end(plane, ctl.start("sentiment-service", newer, requested_by="tests"), newer) == "SUCCEEDED"
    )

    # When the older commit is promoted, it is refused before prod is touched
    started = ctl.start("sentiment-service", older, requested_by="tests")
    assert run_to_end(plane, started, older) == "FAILED"
    described = plane.client("stepfunctions").describe_execution(executionArn=started["execution_arn"])
    assert described["error"] == "WouldGoBackwards"
    assert f"{older[:12]} is an ancestor of {newer[:12]}" in described["cause"]
    assert (
        operator(plane).status(plane.environment_clients("lambda"), "sentiment-service")["environments"][
            "prod"
        ]["sha"]
        == newer
    )

    # And an operator's explicit redeploy of the older build goes through (same lock, ledger, approval)
    redeploy = ctl.redeploy("sentiment-service", "prod", older, requested_by="ops")
    assert redeploy["attempt"] == 2  # a new attempt in the execution-name scheme
    assert run_to_end(plane, redeploy, older) == "SUCCEEDED"
    history = operator(plane).status(plane.environment_clients("lambda"), "sentiment-service")[
        "environments"
    ]["prod"]["history"]
    assert (history[0]["sha"], history[0]["mode"], history[0]["outcome"]) == (older, "redeploy", "succeeded")


def test_a_redeploy_without_a_sha_promotes_prods_last_known_good_build_again(
    plane: LocalControlPlane,
) -> None:
    ctl = operator(plane)
    known_good = ctl.ledger().pointer("sentiment-service", "prod", "known_good")
    assert known_good is not None
    started = ctl.redeploy("sentiment-service", "prod", None, requested_by="ops")
    assert started["sha"] == known_good.sha
    assert run_to_end(plane, started, known_good.sha) == "SUCCEEDED"
    assert states_visited(plane, started["execution_arn"])[-1] == "Deployed to prod"
    (notice,) = notices_of(plane, started["name"])
    assert notice["subject"] == (
        f"Rolled back prod to sentiment-service@{known_good.sha[:12]} (operator rollback)"
    )
    prod = ctl.status(plane.environment_clients("lambda"), "sentiment-service")["environments"]["prod"]
    assert prod["history"][0]["mode"] == "rollback"
    build_sha256 = json.loads(
        plane.client("s3")
        .get_object(
            Bucket=plane.stack.artifact_bucket if plane.stack else "",
            Key=f"builds/example-org/sentiment-service/{known_good.sha}/manifest.json",
        )["Body"]
        .read()
    )["package"]["sha256"]
    assert all(s["code_sha256"] == lambda_code_sha256(build_sha256) for s in prod["serving"].values())


def test_a_preprod_only_redeploy_stops_after_preprod(plane: LocalControlPlane) -> None:
    sha = new_sha()
    publish(plane, sha)
    ctl = operator(plane)
    prod_before = ctl.status(plane.environment_clients("lambda"), "sentiment-service")["environments"][
        "prod"
    ]["serving"]
    started = ctl.redeploy("sentiment-service", "preprod", sha, requested_by="ops")
    assert run_to_end(plane, started, sha, approve_it=False) == "SUCCEEDED"
    report = ctl.status(plane.environment_clients("lambda"), "sentiment-service")
    assert report["environments"]["preprod"]["sha"] == sha
    assert report["environments"]["prod"]["serving"] == prod_before
    # It ends as what it did, and says so: not "Promoted ... to prod"
    assert states_visited(plane, started["execution_arn"])[-3:] == [
        "Notify success",
        "Promoted or deployed?",
        "Deployed to preprod",
    ]
    (notice,) = notices_of(plane, started["name"])
    assert notice["subject"] == f"Redeployed sentiment-service@{sha[:12]} to preprod (operator redeploy)"
    assert "Preprod now runs: api v" in notice["text"]
    assert "Prod now runs" not in notice["text"]


def test_a_frozen_pipeline_starts_nothing_and_says_why(
    plane: LocalControlPlane,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_cli_at(plane, tmp_path, monkeypatch)
    assert (
        promote(["--local", "freeze", "--pipeline", "sentiment-service", "--reason", "release freeze"]) == 0
    )
    try:
        sha = new_sha()
        publish(plane, sha)
        capsys.readouterr()
        assert promote(["--local", "start", "--pipeline", "sentiment-service", "--sha", sha]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1
        assert "the pipeline is frozen (release freeze)" in error[0]
    finally:
        assert promote(["--local", "unfreeze", "--pipeline", "sentiment-service"]) == 0
    assert promote(["--local", "status", "--pipeline", "sentiment-service"]) == 0
    out = capsys.readouterr().out
    assert "sentiment-service (example-org/sentiment-service)" in out
    assert "prod:" in out
