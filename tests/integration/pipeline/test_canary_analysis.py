"""Automated canary analysis on the real ASL and the local plane, both ways: a build that is only slower in
prod (its checks pass, no alarm fires) is rolled back by the analysis alone, during a canary traffic step;
one that fails only some users' requests in prod is rolled back on its error rate in the bake; a good build
passes it in the bake. An inconclusive result fails, continues or holds the bake, as configured; a held
bake gets its verdict once the traffic comes.

Traffic: the local plane has no users, so a ``TrafficGenerator`` sends the pipeline's checks and a few
users' requests against prod's alias all through the module; the plane records Lambda's per-version
metrics of those invocations.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from promote_cli import cli
from promote_cli.local.plane import LocalControlPlane
from promote_cli.local.traffic import TrafficGenerator
from promotion.dal.ledger import DynamoLedger, LedgerEntry
from promotion.models.config import HttpCheck
from promotion.models.execution import CanaryAnalysis, FunctionAnalysis
from promotion.pipeline.canary_analysis import read_versions
from promotion.pipeline.checks import HttpTransport
from promotion.pipeline.notify import cause_text
from tests.support.pipelines import SAMPLE_PIPELINE_FILE
from tests.support.promotion import (
    Promotion,
    control,
    decide_via_link,
    derived_pipeline,
    errors_in,
    history,
    outbox,
    point_cli_at,
    publish_and_start,
    serving_now,
    wait_for_approval_links,
    wait_for_end,
)

PIPELINE = "sentiment-analysis"
# The api serves the traffic; the worker gets none through its alias, so it is not judged. The slow
# build's /score takes 200 ms longer: far past 100 % and 100 ms over the previous p99.
ANALYSIS = {
    "enabled": True,
    "functions": ["api"],
    "max_error_rate_increase": 0.05,
    "max_p99_increase_percent": 100,
    "p99_tolerance_ms": 100,
    "min_invocations": 20,
    "window_seconds": 120,
    "inconclusive": "hold",
    "max_hold_seconds": 200,
}
# At the integration tests' time scale (0.1): a 6 s bake polled every second, held up to 20 s more.
BAKE = {"duration_seconds": 60, "poll_interval_seconds": 10}


@pytest.fixture(scope="module")
def traffic(plane: LocalControlPlane) -> Iterator[TrafficGenerator]:
    derived_pipeline(plane, PIPELINE, canary_analysis=ANALYSIS, bake=BAKE)
    config = control(plane).pipeline(PIPELINE)
    with TrafficGenerator(config.environments.prod.base_url, config.checks) as generator:
        yield generator


def start_approved(plane: LocalControlPlane, variant: str, pipeline: str) -> Promotion:
    promotion = publish_and_start(plane, pipeline=pipeline, variant=variant)
    links = wait_for_approval_links(plane, promotion)
    assert decide_via_link(links[0], "approve").status_code == 200
    return promotion


def promote(
    plane: LocalControlPlane, variant: str, pipeline: str = PIPELINE
) -> tuple[Promotion, dict[str, Any]]:
    promotion = start_approved(plane, variant, pipeline)
    return promotion, wait_for_end(plane, promotion.execution_arn, timeout=120)


def wait_until_held(plane: LocalControlPlane, execution_arn: str, *, timeout: float = 90) -> CanaryAnalysis:
    """The analysis of the first bake check that held the promotion awaiting a verdict; fails fast if the
    execution ends first."""
    sfn = plane.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = ""
        for event in history(plane, execution_arn):
            if event["type"].endswith("StateEntered"):
                state = event["stateEnteredEventDetails"]["name"]
            elif state == "Check prod alarms" and event["type"] == "LambdaFunctionSucceeded":
                analysis = json.loads(event["lambdaFunctionSucceededEventDetails"]["output"]).get("analysis")
                if analysis and analysis["held"]:
                    return CanaryAnalysis.model_validate(analysis)
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
        if status != "RUNNING":
            raise AssertionError(f"execution ended {status} before its bake held")
        time.sleep(0.2)
    raise AssertionError(f"the bake did not hold within {timeout}s")


def ledger_entry(plane: LocalControlPlane, promotion: Promotion) -> LedgerEntry:
    pipeline = promotion.config.name
    assert plane.stack is not None
    dynamodb = boto3.resource(
        "dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url
    )
    ledger = DynamoLedger(dynamodb.Table(plane.stack.environment["DEPLOYMENTS_TABLE"]))
    name = promotion.execution_arn.rsplit(":", 1)[1]
    (entry,) = [e for e in ledger.history(pipeline, "prod", limit=20) if e.execution_name == name]
    return entry


def notice(plane: LocalControlPlane, promotion: Promotion) -> str:
    name = promotion.execution_arn.rsplit(":", 1)[1]
    (text,) = [
        m["text"]
        for m in outbox(plane)
        if m["recipient"] == "team@example.com" and f"Execution: {name}" in m["text"]
    ]
    return str(text)


def assert_prod_back_on_previous_versions(promotion: Promotion) -> None:
    for key, before in promotion.before["prod"].items():
        assert promotion.after()["prod"][key]["version"] == before["version"], key


def assert_no_alarm_fired(plane: LocalControlPlane, names: list[str]) -> None:
    cloudwatch = plane.environment_client("prod", "cloudwatch")
    alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert sorted(alarm["AlarmName"] for alarm in alarms) == sorted(names)
    assert all(alarm["StateValue"] != "ALARM" for alarm in alarms)


def failed_api_analysis(
    plane: LocalControlPlane, promotion: Promotion
) -> tuple[CanaryAnalysis, FunctionAnalysis]:
    """The failed analysis on the rolled-back deployment's ledger entry, and its one function's (the api)."""
    recorded = ledger_entry(plane, promotion)
    assert recorded.outcome == "rolled_back"
    assert recorded.canary_analysis is not None
    analysis = CanaryAnalysis.model_validate(recorded.canary_analysis)
    (api,) = analysis.functions
    assert (api.key, analysis.verdict, api.verdict) == ("api", "fail", "fail")
    return analysis, api


def test_a_good_build_passes_the_analysis(plane: LocalControlPlane, traffic: TrafficGenerator) -> None:
    promotion, described = promote(plane, "good")

    assert described["status"] == "SUCCEEDED", described
    analysis = CanaryAnalysis.model_validate(promotion.output()["bake"]["analysis"])
    assert analysis.verdict == "pass"
    (api,) = analysis.functions
    assert api.new.version == promotion.after()["prod"]["api"]["version"]
    assert api.previous.version == promotion.before["prod"]["api"]["version"]
    assert min(api.new.invocations, api.previous.invocations) >= 20
    recorded = ledger_entry(plane, promotion)
    assert recorded.outcome == "succeeded"
    assert recorded.canary_analysis is not None
    assert recorded.canary_analysis["verdict"] == "pass"
    assert "Canary analysis: pass; api v" in notice(plane, promotion)
    assert traffic.sent > 0


def test_a_build_slower_in_prod_is_rolled_back_by_the_analysis_alone(
    plane: LocalControlPlane, traffic: TrafficGenerator
) -> None:
    # Given the same analysis with a canary rollout: half the traffic on the new version for 15 s
    pipeline = derived_pipeline(
        plane,
        "sentiment-analysis-canary",
        canary_analysis=ANALYSIS,
        bake=BAKE,
        rollout={"strategy": "canary", "canary_percent": 50, "interval_seconds": 150},
    )
    promotion, described = promote(plane, "slow-in-prod", pipeline)

    # Rolled back by the analysis, on latency, during the traffic shift
    assert described["status"] == "FAILED"
    assert described["error"] == "CanaryAnalysisFailed", described
    assert "p99" in described["cause"]
    assert "canary analysis fail" in described["cause"]
    states = promotion.states()
    assert "Roll back prod" in states
    assert "Check alarms during rollout" in states
    assert "Start bake" not in states
    assert_prod_back_on_previous_versions(promotion)
    # ... alone: its canary checks passed and no alarm was in ALARM
    assert "Shift traffic" in states
    assert_no_alarm_fired(plane, promotion.config.environments.prod.alarms)

    # The numbers that decided are on the ledger entry and in the notice
    _, api = failed_api_analysis(plane, promotion)
    assert api.new.p99_ms is not None
    assert api.previous.p99_ms is not None
    assert api.new.p99_ms >= 200 > api.previous.p99_ms + 100
    assert api.new.errors == 0
    text = notice(plane, promotion)
    assert "Error: CanaryAnalysisFailed" in text
    assert f"api v{api.new.version} vs v{api.previous.version}: fail (p99" in text


@pytest.mark.parametrize(
    ("inconclusive", "opening"),
    [
        ("fail", "still inconclusive at the end of the bake: "),
        # Held three polls (30 s, 3 s at the time scale) past the bake, then failed.
        ("hold", "still inconclusive at the end of the bake after holding 30s past the bake: "),
    ],
    ids=["fail", "hold"],
)
def test_an_analysis_still_inconclusive_when_the_bake_ends_fails_where_so_configured(
    plane: LocalControlPlane, traffic: TrafficGenerator, inconclusive: str, opening: str
) -> None:
    # Given a pipeline whose analysis can never reach its minimum, and fails an inconclusive result, at once
    # or after holding the bake
    pipeline = derived_pipeline(
        plane,
        f"sentiment-inconclusive-{inconclusive}",
        canary_analysis=ANALYSIS
        | {"min_invocations": 10_000_000, "inconclusive": inconclusive, "max_hold_seconds": 30},
        bake=BAKE,
    )
    promotion, described = promote(plane, "good", pipeline)

    # Then the good build is rolled back at the end of the bake, the numbers in the cause
    assert described["status"] == "FAILED"
    assert described["error"] == "CanaryAnalysisFailed", described
    message = cause_text(described["cause"])
    assert message.startswith(opening + "canary analysis inconclusive; api v"), message
    assert "of 10000000 invocations" in message
    # 60 s bake polled every 10 s: 7 checks, and 3 more while held
    checks = promotion.states().count("Check prod alarms")
    assert checks == (10 if inconclusive == "hold" else 7), promotion.states()
    assert_prod_back_on_previous_versions(promotion)


def test_an_inconclusive_analysis_lets_the_promotion_through_where_so_configured(
    plane: LocalControlPlane, traffic: TrafficGenerator
) -> None:
    # Given a pipeline whose analysis can never reach its minimum, and lets an inconclusive result pass
    pipeline = derived_pipeline(
        plane,
        "sentiment-inconclusive-continue",
        canary_analysis=ANALYSIS | {"min_invocations": 10_000_000, "inconclusive": "continue"},
        bake=BAKE,
    )
    promotion, described = promote(plane, "good", pipeline)

    # Then the build reaches prod when the bake ends, not held, the inconclusive result recorded
    assert described["status"] == "SUCCEEDED", described
    bake = promotion.output()["bake"]
    assert bake["elapsed_seconds"] == bake["duration_seconds"] == 60
    analysis = CanaryAnalysis.model_validate(bake["analysis"])
    assert (analysis.verdict, analysis.held) == ("inconclusive", False)
    (api,) = analysis.functions
    assert api.new.version == promotion.after()["prod"]["api"]["version"] != api.previous.version
    assert "of 10000000 invocations" in api.reason
    recorded = ledger_entry(plane, promotion)
    assert recorded.outcome == "succeeded"
    assert recorded.canary_analysis is not None
    assert recorded.canary_analysis["verdict"] == "inconclusive"
    assert f"Canary analysis: inconclusive; api v{api.new.version} vs v{api.previous.version}" in notice(
        plane, promotion
    )


def test_a_held_bake_gets_its_verdict_when_the_traffic_comes(
    plane: LocalControlPlane, traffic: TrafficGenerator
) -> None:
    # Given an analysis of the worker alone, which users never call through its alias, holding an
    # inconclusive result; the previous worker version has served its minimum through the alias
    minimum = 5
    pipeline = derived_pipeline(
        plane,
        "sentiment-hold",
        canary_analysis=ANALYSIS | {"functions": ["worker"], "min_invocations": minimum},
        bake=BAKE,
    )
    prod = control(plane).pipeline(pipeline).environments.prod
    origin = prod.base_url.split("/_local/fn/", 1)[0]
    worker = HttpTransport(f"{origin}/_local/fn/{prod.functions['worker']}/{prod.alias}", requests.Session())
    health = HttpCheck(name="worker-health", path="/health")

    def call_worker() -> None:
        for _ in range(minimum):
            assert worker.send(health).status == 200

    call_worker()
    promotion = start_approved(plane, "good", pipeline)

    # When the bake ends without a verdict (the new worker version has had no traffic) it holds ...
    held = wait_until_held(plane, promotion.execution_arn)
    (judged,) = held.functions
    assert (held.verdict, judged.key) == ("inconclusive", "worker")
    assert judged.new.invocations == 0
    assert judged.previous.invocations >= minimum
    # ... and once the new version has its minimum too, the next check passes it
    call_worker()
    described = wait_for_end(plane, promotion.execution_arn, timeout=60)

    assert described["status"] == "SUCCEEDED", described
    bake = promotion.output()["bake"]
    assert bake["elapsed_seconds"] > bake["duration_seconds"]
    analysis = CanaryAnalysis.model_validate(bake["analysis"])
    (worker_analysis,) = analysis.functions
    assert analysis.verdict == worker_analysis.verdict == "pass"
    assert analysis.held is True
    assert worker_analysis.new.version == promotion.after()["prod"]["worker"]["version"]
    assert worker_analysis.new.invocations == minimum
    recorded = ledger_entry(plane, promotion)
    assert (recorded.outcome, (recorded.canary_analysis or {}).get("verdict")) == ("succeeded", "pass")
    assert f"Canary analysis: pass; worker v{worker_analysis.new.version}" in notice(plane, promotion)


def test_a_build_failing_users_requests_in_prod_is_rolled_back_by_the_analysis_on_its_error_rate(
    plane: LocalControlPlane, traffic: TrafficGenerator
) -> None:
    # Given a pipeline whose prod alarms leave out the api's errors alarm. On AWS that alarm fires at the
    # first error through the alias; a service with a base error rate cannot alarm on every error and
    # relies on the analysis, which compares the new version's error rate with the previous one's.
    document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
    environments = document["environments"]
    environments["prod"]["alarms"].remove("svc-sentiment-prod-api-errors")
    pipeline = derived_pipeline(
        plane, "sentiment-errors", canary_analysis=ANALYSIS, bake=BAKE, environments=environments
    )
    failures_before = traffic.failures.copy()
    promotion, described = promote(plane, "errors-in-prod", pipeline)

    # Rolled back by the analysis, on its error rate, at a check of the bake
    assert described["status"] == "FAILED"
    assert described["error"] == "CanaryAnalysisFailed", described
    events, states = history(plane, promotion.execution_arn), promotion.states()
    assert errors_in(events, "Check prod alarms") == ["CanaryAnalysisFailed"]
    assert "Roll back prod" in states
    assert_prod_back_on_previous_versions(promotion)
    # ... alone: its checks passed, no alarm of the pipeline was in ALARM; only users' accented texts failed
    assert "Run canary checks" in states
    assert errors_in(events, "Run canary checks") == []
    assert promotion.config.environments.prod.alarms == environments["prod"]["alarms"]
    assert len(environments["prod"]["alarms"]) == 2
    assert_no_alarm_fired(plane, environments["prod"]["alarms"])
    assert set(traffic.failures - failures_before) == {"user-review-accented"}

    # The numbers that decided are on the ledger entry, in the execution's cause and in the notice
    analysis, api = failed_api_analysis(plane, promotion)
    assert api.reason.startswith("error rate ")
    assert api.new.errors > 0
    assert api.previous.errors == 0
    # One request in five is an accented text, in each of the generator's three threads: each thread's
    # share of the new version's invocations is off a fifth by less than one request
    assert api.new.error_rate is not None
    assert abs(api.new.error_rate - 1 / 5) <= 3 / api.new.invocations
    summary = analysis.summary()
    assert summary in cause_text(described["cause"])
    text = notice(plane, promotion)
    assert "Error: CanaryAnalysisFailed" in text
    assert summary in text


def test_promote_local_traffic_sends_users_traffic_that_the_plane_counts_per_version(
    plane: LocalControlPlane,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Preprod: the module's own traffic goes to prod, and no promotion runs meanwhile
    point_cli_at(plane, tmp_path, monkeypatch)
    config = control(plane).pipeline("sentiment-service")
    api = config.environments.preprod.functions["api"]
    version = serving_now(plane, config)["preprod"]["api"]["version"]
    started = datetime.now(UTC)

    code = cli.main(
        ["local", "traffic", "--pipeline", config.name, "--environment", "preprod", "--seconds", "2"]
    )

    assert code == 0
    sent = json.loads(capsys.readouterr().out)
    assert sent["environment"] == "preprod"
    assert sent["sent"] > 0
    assert sent["failed"] == {}
    ended = datetime.now(UTC)
    (metrics,) = read_versions(
        plane.environment_client("preprod", "cloudwatch"),
        [(api, config.environments.preprod.alias, version)],
        window_seconds=int((ended - started).total_seconds()) + 1,
        now=ended,
    )
    assert (metrics.invocations, metrics.errors) == (sent["sent"], 0)
