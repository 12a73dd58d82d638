"""Automated canary analysis on the real ASL and the local plane, both ways: a build that is only slower in
prod (its checks pass, no alarm fires) is rolled back by the analysis alone, during a canary traffic step;
a good build passes it in the bake.

Traffic: the local plane has no users, so a ``TrafficGenerator`` replays the pipeline's checks against
prod's alias all through the module; the plane records Lambda's per-version metrics of those invocations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from promote_cli.local.plane import LocalControlPlane
from promote_cli.local.traffic import TrafficGenerator
from promotion.dal.ledger import DynamoLedger, LedgerEntry
from promotion.models.execution import CanaryAnalysis
from promotion.pipeline.notify import cause_text
from tests.support.promotion import (
    Promotion,
    control,
    decide_via_link,
    derived_pipeline,
    outbox,
    publish_and_start,
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


def promote(
    plane: LocalControlPlane, variant: str, pipeline: str = PIPELINE
) -> tuple[Promotion, dict[str, Any]]:
    promotion = publish_and_start(plane, pipeline=pipeline, variant=variant)
    links = wait_for_approval_links(plane, promotion)
    assert decide_via_link(links[0], "approve").status_code == 200
    return promotion, wait_for_end(plane, promotion.execution_arn, timeout=120)


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
    for key, before in promotion.before["prod"].items():
        assert promotion.after()["prod"][key]["version"] == before["version"], key
    # ... alone: its canary checks passed and no alarm was in ALARM
    assert "Shift traffic" in states
    cloudwatch = plane.environment_client("prod", "cloudwatch")
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix="svc-sentiment-prod-")["MetricAlarms"]
    assert alarms
    assert all(alarm["StateValue"] != "ALARM" for alarm in alarms)

    # The numbers that decided are on the ledger entry and in the notice
    recorded = ledger_entry(plane, promotion)
    assert recorded.outcome == "rolled_back"
    assert recorded.canary_analysis is not None
    analysis = CanaryAnalysis.model_validate(recorded.canary_analysis)
    (api,) = analysis.functions
    assert (analysis.verdict, api.verdict) == ("fail", "fail")
    assert api.new.p99_ms is not None
    assert api.previous.p99_ms is not None
    assert api.new.p99_ms >= 200 > api.previous.p99_ms + 100
    assert api.new.errors == 0
    text = notice(plane, promotion)
    assert "Error: CanaryAnalysisFailed" in text
    assert f"api v{api.new.version} vs v{api.previous.version}: fail (p99" in text


def test_an_analysis_still_inconclusive_when_the_bake_ends_fails_where_so_configured(
    plane: LocalControlPlane, traffic: TrafficGenerator
) -> None:
    # Given a pipeline whose analysis can never reach its minimum, and fails an inconclusive result
    pipeline = derived_pipeline(
        plane,
        "sentiment-inconclusive",
        canary_analysis=ANALYSIS | {"min_invocations": 10_000_000, "inconclusive": "fail"},
        bake=BAKE,
    )
    promotion, described = promote(plane, "good", pipeline)

    # Then the good build is rolled back at the end of the bake, the numbers in the cause
    assert described["status"] == "FAILED"
    assert described["error"] == "CanaryAnalysisFailed", described
    message = cause_text(described["cause"])
    assert message.startswith(
        "still inconclusive at the end of the bake: canary analysis inconclusive; api v"
    )
    assert "of 10000000 invocations" in message
    assert promotion.states().count("Check prod alarms") >= 2
    for key, before in promotion.before["prod"].items():
        assert promotion.after()["prod"][key]["version"] == before["version"], key
