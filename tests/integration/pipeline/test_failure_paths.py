"""Every failure path of the promotion on the real ASL and handlers (local plane, time scale 0.1).

Each test asserts the terminal status and error, the states visited, what each environment serves
afterwards (alias -> version -> CodeSha256), the frozen flag where it matters, and the notice sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from promote_cli.local.plane import LocalControlPlane
from promotion.dal.environments import DynamoEnvironmentStateStore
from promotion.pipeline.artifacts import lambda_code_sha256, manifest_key
from tests.support.alarms import set_alarms
from tests.support.faults import AwsFault, aws_fault
from tests.support.operator_cli import promote
from tests.support.promotion import (
    Promotion,
    alarm_during_bake,
    approve_by_link,
    control,
    outbox,
    publish_and_start,
    publish_for,
    tuned_pipeline,
    wait_for_approval_links,
    wait_for_end,
    wait_for_state,
)

PROD_ALARMS = [
    "svc-sentiment-prod-api-errors",
    "svc-sentiment-prod-api-p99",
    "svc-sentiment-prod-worker-errors",
]


@pytest.fixture
def healthy_alarms(plane: LocalControlPlane) -> Iterator[None]:
    """Prod's alarms OK before and after the test, whatever the test did to them."""
    set_alarms(plane, PROD_ALARMS, "OK")
    yield
    set_alarms(plane, PROD_ALARMS, "OK")


def notices(plane: LocalControlPlane, promotion: Promotion) -> list[dict[str, Any]]:
    return [
        m
        for m in outbox(plane)
        if m["recipient"] == "team@example.com" and promotion.sha[:12] in m["subject"]
    ]


def failed(plane: LocalControlPlane, promotion: Promotion, error: str) -> dict[str, Any]:
    described = wait_for_end(plane, promotion.execution_arn, timeout=90)
    assert described["status"] == "FAILED", promotion.states()
    assert described.get("error") == error, (described.get("error"), described.get("cause"))
    return described


def versions(serving: dict[str, dict[str, str]]) -> dict[str, str]:
    return {key: value["version"] for key, value in serving.items()}


def frozen(plane: LocalControlPlane, pipeline: str, environment: str) -> bool:
    return DynamoEnvironmentStateStore(environments_table(plane)).get(pipeline, environment).frozen


def environments_table(plane: LocalControlPlane) -> Any:
    dynamodb = boto3.resource(
        "dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url
    )
    return dynamodb.Table(f"{plane.options.stack_name}-environments")


# ---- before anything is deployed ------------------------------------------------------------------
def test_missing_build_is_waited_for_then_stops_with_a_clear_cause(plane: LocalControlPlane) -> None:
    # Given a pipeline that waits 2 s for CI, and a commit CI never publishes
    pipeline = tuned_pipeline(plane, "wait-short", artifacts={"wait_seconds": 2})
    ctl = control(plane)
    before = promotion_snapshot(plane)
    started = ctl.start(pipeline, "a" * 40, requested_by="tests")

    # When the promotion runs
    described = wait_for_end(plane, started["execution_arn"], timeout=60)

    # Then it retried the fetch with backoff, then stopped naming the missing build
    assert described["status"] == "FAILED"
    assert described["error"] == "BuildNotPublished"
    assert "no build of example-org/sentiment-service@" in described["cause"]
    history = plane.client("stepfunctions").get_execution_history(executionArn=started["execution_arn"])[
        "events"
    ]
    fetch_attempts = [e for e in history if e["type"] == "LambdaFunctionScheduled"]
    assert len(fetch_attempts) >= 3  # load + at least two fetch attempts
    assert promotion_snapshot(plane) == before


def test_checksum_mismatch_stops_at_once(plane: LocalControlPlane) -> None:
    # Given a build whose manifest promises other bytes than the package holds
    sha = "b" * 40
    ctl = control(plane)
    config = ctl.pipeline("sentiment-service")
    build = publish_for(plane, config, sha, "good")
    key = manifest_key(config.artifacts, config.repo, sha)
    manifest = json.loads(plane.client("s3").get_object(Bucket=build.bucket, Key=key)["Body"].read())
    manifest["package"]["sha256"] = "0" * 64
    plane.client("s3").put_object(Bucket=build.bucket, Key=key, Body=json.dumps(manifest).encode())
    before = promotion_snapshot(plane)

    # When it is promoted
    started = ctl.start("sentiment-service", sha, requested_by="tests")
    described = wait_for_end(plane, started["execution_arn"], timeout=60)

    # Then it fails on the first fetch, without retrying, and nothing is deployed
    assert described["status"] == "FAILED"
    assert described["error"] == "ChecksumMismatch"
    history = plane.client("stepfunctions").get_execution_history(executionArn=started["execution_arn"])[
        "events"
    ]
    scheduled = [e for e in history if e["type"] == "LambdaFunctionScheduled"]
    assert len(scheduled) == 4  # load, fetch (once), record failure, notify
    assert promotion_snapshot(plane) == before


def promotion_snapshot(plane: LocalControlPlane) -> dict[str, dict[str, str]]:
    from promote_cli.control import serving

    config = control(plane).pipeline("sentiment-service")
    return {
        env: versions(serving(plane.environment_client(env, "lambda"), config, env))
        for env in ("preprod", "prod")
    }


# ---- preprod ------------------------------------------------------------------------------------------
def test_failed_integration_tests_put_preprod_back_and_leave_prod_alone(plane: LocalControlPlane) -> None:
    # Given a build that fails the integration checks
    promotion = publish_and_start(plane, variant="fails-preprod")

    # When the promotion runs
    failed(plane, promotion, "IntegrationTestsFailed")

    # Then preprod was rolled back to what it ran before, prod was never touched
    states = promotion.states()
    assert states[-5:] == [
        "Run integration tests",
        "Roll back preprod",
        "Record failure",
        "Notify failure",
        "Promotion failed",
    ]
    after = promotion.after()
    assert versions(after["preprod"]) == versions(promotion.before["preprod"])
    assert after["prod"] == promotion.before["prod"]
    (notice,) = notices(plane, promotion)
    assert notice["subject"].startswith("Promotion of sentiment-service@")
    assert "IntegrationTestsFailed; preprod rolled back" in notice["subject"]
    assert "expected 'positive'" in notice["text"]
    assert "preprod is back on the versions it ran before" in notice["text"]


def test_preprod_deploy_failure_moves_nothing_and_stops(plane: LocalControlPlane) -> None:
    # Given the second preprod alias refuses to move
    fault = AwsFault(
        "lambda", "UpdateAlias", when=lambda p: p["FunctionName"] == "svc-sentiment-preprod-worker", times=1
    )
    with aws_fault(fault):
        promotion = publish_and_start(plane, variant="good")
        failed(plane, promotion, "DeployFailed")

    # Then the alias already moved was undone, and the rollback found preprod as it was
    assert fault.hits == 1
    assert "Roll back preprod" in promotion.states()
    after = promotion.after()
    assert versions(after["preprod"]) == versions(promotion.before["preprod"])
    assert after["prod"] == promotion.before["prod"]


# ---- approval -----------------------------------------------------------------------------------------
def test_approval_timeout_ends_the_promotion_and_expires_the_links(plane: LocalControlPlane) -> None:
    # Given a pipeline whose approvals time out after 10 s (1 s at the local time scale)
    pipeline = tuned_pipeline(plane, "approval-short", approval={"timeout_seconds": 10})
    promotion = publish_and_start(plane, pipeline=pipeline)
    links = wait_for_approval_links(plane, promotion)

    # When nobody decides
    failed(plane, promotion, "ApprovalTimedOut")

    # Then the record is expired, the link says so, and prod is untouched
    assert promotion.states()[-6:] == [
        "Wait for approval",
        "Approval timed out",
        "Expire approval",
        "Record failure",
        "Notify failure",
        "Promotion failed",
    ]
    assert requests.get(links[0], timeout=5).status_code == 410
    assert promotion.after()["prod"] == promotion.before["prod"]
    (notice,) = notices(plane, promotion)
    assert "ApprovalTimedOut" in notice["subject"]


def test_cancelled_promotion_is_cleaned_up(plane: LocalControlPlane) -> None:
    # Given a promotion waiting for approval
    promotion = publish_and_start(plane)
    links = wait_for_approval_links(plane, promotion)

    # When an operator cancels it
    control(plane).cancel(promotion.execution_arn, reason="wrong build", requested_by="tests")

    # Then the EventBridge rule's cleanup expires its approval and tells the team
    assert wait_for_end(plane, promotion.execution_arn)["status"] == "ABORTED"
    deadline_notices = wait_until(lambda: notices(plane, promotion))
    assert "stopped: Cancelled" in deadline_notices[0]["subject"]
    assert "wrong build" in deadline_notices[0]["text"]
    assert requests.get(links[0], timeout=5).status_code == 410
    assert promotion.after()["prod"] == promotion.before["prod"]


def wait_until(probe: Any, timeout: float = 15) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


# ---- prod -----------------------------------------------------------------------------------------------
def test_alarms_already_firing_stop_the_promotion_before_anyone_is_asked(
    plane: LocalControlPlane, healthy_alarms: None
) -> None:
    # Given prod's error alarm fires before the promotion asks for approval
    set_alarms(plane, ["svc-sentiment-prod-api-errors"], "ALARM")
    promotion = publish_and_start(plane)

    # Then it stops at "Decide approval path": nobody is asked to approve what prod would refuse
    described = failed(plane, promotion, "AlarmsAlreadyFiring")
    assert "svc-sentiment-prod-api-errors" in described["cause"]
    states = promotion.states()
    assert "Decide approval path" in states
    assert not {"Wait for approval", "Deploy to prod"} & set(states)
    assert not [
        m
        for m in outbox(plane)
        if m.get("subject", "").startswith("Approve") and promotion.sha[:12] in m["subject"]
    ]
    assert promotion.after()["prod"] == promotion.before["prod"]


def test_alarms_that_start_firing_during_the_approval_stop_before_prod_is_touched(
    plane: LocalControlPlane, healthy_alarms: None
) -> None:
    # Given a promotion waiting for approval, when prod's error alarm starts firing meanwhile
    promotion = publish_and_start(plane)
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")
    set_alarms(plane, ["svc-sentiment-prod-api-errors"], "ALARM")

    # When the build is approved
    approve_by_link(plane, promotion)

    # Then "Check and lock prod" checks again: nothing is deployed to prod and the cause is named
    described = failed(plane, promotion, "AlarmsAlreadyFiring")
    assert "svc-sentiment-prod-api-errors" in described["cause"]
    assert "Deploy to prod" not in promotion.states()
    assert promotion.after()["prod"] == promotion.before["prod"]


def test_prod_deploy_failure_rolls_every_function_back(
    plane: LocalControlPlane, healthy_alarms: None
) -> None:
    # Given the second prod alias refuses to move
    fault = AwsFault(
        "lambda", "UpdateAlias", when=lambda p: p["FunctionName"] == "svc-sentiment-prod-worker", times=1
    )
    promotion = publish_and_start(plane)
    with aws_fault(fault):
        approve_by_link(plane, promotion)
        failed(plane, promotion, "DeployFailed")

    # Then prod serves exactly what it served before
    assert promotion.states()[-5:] == [
        "Deploy to prod",
        "Roll back prod",
        "Record failure",
        "Notify failure",
        "Promotion failed",
    ]
    after = promotion.after()
    assert after["prod"] == promotion.before["prod"]
    assert not frozen(plane, "sentiment-service", "prod")


def test_canary_failure_rolls_prod_back_to_the_previous_version(
    plane: LocalControlPlane, healthy_alarms: None
) -> None:
    # Given a build that passes preprod but fails in prod
    promotion = publish_and_start(plane, variant="fails-in-prod")

    # When it is approved
    approve_by_link(plane, promotion)

    # Then the canary fails, and every prod function is back on the exact version it served before
    described = failed(plane, promotion, "CanaryFailed")
    assert "canary checks failed on svc-sentiment-prod-api:" in described["cause"]
    assert promotion.states()[-5:] == [
        "Run canary checks",
        "Roll back prod",
        "Record failure",
        "Notify failure",
        "Promotion failed",
    ]
    after = promotion.after()
    assert after["prod"] == promotion.before["prod"]
    # preprod keeps the build it tested (it passed there)
    expected = lambda_code_sha256(promotion.build.sha256)
    assert all(f["code_sha256"] == expected for f in after["preprod"].values())
    (notice,) = notices(plane, promotion)
    assert "CanaryFailed; prod rolled back" in notice["subject"]
    assert "prod is back on the versions it ran before" in notice["text"]


def test_alarm_during_bake_rolls_prod_back(plane: LocalControlPlane, healthy_alarms: None) -> None:
    # Given a pipeline with a 60 s bake (6 s at the local time scale), when an alarm fires during the bake
    promotion = alarm_during_bake(plane, "bake-long", "svc-sentiment-prod-api-p99")

    # Then the bake fails and prod goes back
    described = failed(plane, promotion, "BakeAlarm")
    assert "svc-sentiment-prod-api-p99" in described["cause"]
    assert "Roll back prod" in promotion.states()
    assert promotion.after()["prod"] == promotion.before["prod"]


def test_bake_without_data_fails_unless_the_pipeline_accepts_it(
    plane: LocalControlPlane, healthy_alarms: None
) -> None:
    # Given prod's alarms have no data (nothing called the new version)
    set_alarms(plane, PROD_ALARMS, "INSUFFICIENT_DATA")

    # When a promotion bakes, it fails and rolls back
    promotion = publish_and_start(plane)
    approve_by_link(plane, promotion)
    described = failed(plane, promotion, "BakeNoData")
    assert "svc-sentiment-prod-api-errors" in described["cause"]
    assert promotion.after()["prod"] == promotion.before["prod"]

    # And a pipeline that accepts no data promotes the same way to success
    pipeline = tuned_pipeline(plane, "bake-no-data-ok", bake={"insufficient_data": "ok"})
    accepted = publish_and_start(plane, pipeline=pipeline)
    approve_by_link(plane, accepted)
    assert wait_for_end(plane, accepted.execution_arn)["status"] == "SUCCEEDED"


def test_failed_rollback_freezes_prod_and_sends_the_recovery_commands(
    plane: LocalControlPlane, healthy_alarms: None
) -> None:
    # Given a build that fails the canary, and prod's api alias that cannot be moved back
    promotion = publish_and_start(plane, variant="fails-in-prod")
    baseline = versions(promotion.before["prod"])
    approve_by_link(plane, promotion)
    wait_for_state(plane, promotion.execution_arn, "Run canary checks")
    fault = AwsFault("lambda", "UpdateAlias", when=lambda p: p["FunctionName"] == "svc-sentiment-prod-api")
    with aws_fault(fault):
        # When the rollback runs (and retries) and still fails
        described = wait_for_end(plane, promotion.execution_arn, timeout=90)

    # Then the execution fails as RollbackFailed, prod is frozen, the notice is critical with commands
    assert described["status"] == "FAILED"
    assert described["error"] == "RollbackFailed"
    assert fault.hits >= 4  # the first try and the rollback's own retries
    assert promotion.states()[-6:] == [
        "Run canary checks",
        "Roll back prod",
        "Freeze prod",
        "Record rollback failure",
        "Notify rollback failed",
        "Rollback failed",
    ]
    assert frozen(plane, "sentiment-service", "prod")
    (notice,) = [n for n in notices(plane, promotion) if n["subject"].startswith("CRITICAL")]
    assert "prod is frozen" in notice["subject"]
    command = (
        "aws lambda update-alias --function-name svc-sentiment-prod-api --name live "
        f"--function-version {baseline['api']}"
    )
    assert command in notice["text"]
    assert "promote unfreeze --pipeline sentiment-service --environment prod" in notice["text"]

    # And no new promotion deploys the frozen prod: it stops before anyone is asked to approve
    blocked = publish_and_start(plane)
    assert "is frozen" in failed(plane, blocked, "EnvironmentFrozen")["cause"]
    assert not {"Wait for approval", "Deploy to prod"} & set(blocked.states())

    # And after the operator runs the recovery commands and unfreezes, prod is as before and open again
    lam = plane.environment_client("prod", "lambda")
    lam.update_alias(
        FunctionName="svc-sentiment-prod-api",
        Name="live",
        FunctionVersion=baseline["api"],
        RoutingConfig={"AdditionalVersionWeights": {}},
    )
    unfrozen = promote(
        plane, "unfreeze", "--pipeline", "sentiment-service", "--environment", "prod", local=True
    )
    assert unfrozen.returncode == 0, unfrozen.stderr
    assert json.loads(unfrozen.stdout)["by"] == plane.operator["arn"]
    assert not frozen(plane, "sentiment-service", "prod")
    assert versions(promotion.after()["prod"]) == baseline


def test_a_failing_notice_never_changes_the_outcome(plane: LocalControlPlane, healthy_alarms: None) -> None:
    # Given SES refuses every email from the notify step
    promotion = publish_and_start(plane)
    approve_by_link(plane, promotion)
    wait_for_state(plane, promotion.execution_arn, "Run canary checks")
    fault = AwsFault("sesv2", "SendEmail", code="Throttling")
    with aws_fault(fault):
        described = wait_for_end(plane, promotion.execution_arn, timeout=60)

    # Then the promotion still succeeds; the notice failure is recorded, not fatal
    assert described["status"] == "SUCCEEDED"
    assert fault.hits >= 2  # retried
    output = promotion.output()
    assert "notification_error" in output
    assert promotion.states()[-4:] == [
        "Record success",
        "Notify success",
        "Promoted or deployed?",
        "Promoted",
    ]
