"""Automated canary analysis: the verdict, the bake's decisions, and reading Lambda's per-version metrics
(moto CloudWatch, with the local plane's percentile patch and its per-invocation recorder)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from promote_cli.cli import status_lines
from promote_cli.local import moto_patches
from promote_cli.local.runtime import record_invocation_metrics
from promotion.dal.ledger import DynamoLedger, LedgerEntry, entry_key
from promotion.errors import CanaryAnalysisFailed, InvalidPipelineConfig
from promotion.models.config import CanaryAnalysisSettings, PipelineConfig, parse_pipeline_config
from promotion.models.execution import (
    BakeProgress,
    CanaryAnalysis,
    EnvironmentDeployment,
    FunctionAnalysis,
    FunctionDeployment,
    VersionMetrics,
)
from promotion.models.steps import CheckAlarmsRequest, PromotionState
from promotion.pipeline.canary_analysis import analyse, apply_to_bake, judge, overall
from promotion.pipeline.notify import Outcome
from promotion.steps.check_alarms import check_alarms
from tests.support.alarms import put_alarm
from tests.support.approval_fakes import REGION as TABLE_REGION
from tests.support.approval_fakes import create_table_from_template
from tests.support.pipelines import sample_config, sample_config_dict

SETTINGS = CanaryAnalysisSettings(
    enabled=True,
    max_error_rate_increase=0.02,
    max_p99_increase_percent=50,
    p99_tolerance_ms=10,
    min_invocations=20,
)
ACCOUNT, REGION = "123456789012", "eu-west-1"


def metrics(version: str, invocations: int, errors: int = 0, p99: float | None = 10.0) -> VersionMetrics:
    return VersionMetrics(
        version=version,
        invocations=invocations,
        errors=errors,
        throttles=0,
        error_rate=errors / invocations if invocations else None,
        p99_ms=p99,
    )


# ---- the verdict --------------------------------------------------------------------------------------
def test_a_new_version_within_the_margins_passes() -> None:
    verdict, reason = judge(
        metrics("5", 100, errors=2, p99=14.0), metrics("4", 300, errors=3, p99=10.0), SETTINGS
    )
    assert (verdict, reason) == ("pass", "within the margins")


def test_an_error_rate_above_the_baseline_plus_the_margin_fails() -> None:
    # 5 % against 1 %: more than the 2 points allowed
    verdict, reason = judge(metrics("5", 100, errors=5), metrics("4", 100, errors=1), SETTINGS)
    assert verdict == "fail"
    assert reason == "error rate 5.00% exceeds the previous 1.00% by more than 2.00%"
    # exactly at the margin still passes
    assert judge(metrics("5", 100, errors=3), metrics("4", 100, errors=1), SETTINGS)[0] == "pass"


def test_a_p99_regression_beyond_the_percentage_and_the_tolerance_fails() -> None:
    verdict, reason = judge(metrics("5", 100, p99=220.0), metrics("4", 100, p99=20.0), SETTINGS)
    assert verdict == "fail"
    assert reason == "p99 220.0 ms is 1000% over the previous 20.0 ms (limit 30.0 ms)"
    # 2 ms -> 11 ms is +450 %, but within the 10 ms tolerance: noise on a fast function
    assert judge(metrics("5", 100, p99=11.0), metrics("4", 100, p99=2.0), SETTINGS)[0] == "pass"


def test_too_few_invocations_of_either_version_is_inconclusive() -> None:
    verdict, reason = judge(metrics("5", 19, errors=19), metrics("4", 100), SETTINGS)
    assert (verdict, reason) == ("inconclusive", "v5 has 19 of 20 invocations")
    verdict, reason = judge(metrics("5", 50), metrics("4", 0, p99=None), SETTINGS)
    assert (verdict, reason) == ("inconclusive", "v4 has 0 of 20 invocations")


def test_the_environment_takes_the_worst_verdict_of_its_functions() -> None:
    assert overall(["pass", "inconclusive", "fail"]) == "fail"
    assert overall(["pass", "inconclusive"]) == "inconclusive"
    assert overall(["pass", "pass"]) == "pass"


# ---- what a check does with the verdict ----------------------------------------------------------------
def analysis(verdict: str) -> CanaryAnalysis:
    new, previous = metrics("5", 5), metrics("4", 100)
    function = FunctionAnalysis(
        key="api",
        function_name="svc-prod-api",
        alias="live",
        new=new,
        previous=previous,
        verdict=verdict,
        reason="r",
    )
    return CanaryAnalysis.model_validate({"verdict": verdict, "window_seconds": 900, "functions": [function]})


def progress(elapsed: int, *, duration: int = 60, done: bool | None = None) -> BakeProgress:
    finished = elapsed >= duration if done is None else done
    return BakeProgress(
        elapsed_seconds=elapsed,
        duration_seconds=duration,
        poll_seconds=20,
        wait_seconds=0 if finished else 20,
        done=finished,
        alarms={},
    )


@pytest.mark.parametrize("mode", ["gate", "bake"])
def test_a_failed_analysis_fails_the_check_with_its_numbers(mode: Any) -> None:
    with pytest.raises(CanaryAnalysisFailed) as failed:
        apply_to_bake(progress(20), analysis("fail"), SETTINGS, mode=mode)
    assert str(failed.value) == (
        "canary analysis fail; api v5 vs v4: fail (r); invocations 5/100, error rate 0.00%/0.00%, "
        "p99 10.0 ms/10.0 ms"
    )


def test_an_inconclusive_analysis_lets_the_traffic_shift_and_the_bake_go_on() -> None:
    for mode, step in (("gate", progress(0, duration=0)), ("bake", progress(20))):
        result = apply_to_bake(
            step, analysis("inconclusive"), SETTINGS.model_copy(update={"inconclusive": "fail"}), mode=mode
        )  # type: ignore[arg-type]
        assert result.analysis is not None
        assert result.analysis.verdict == "inconclusive"
        assert result.done is step.done


def test_inconclusive_at_the_end_of_the_bake_continues_when_so_configured() -> None:
    settings = SETTINGS.model_copy(update={"inconclusive": "continue"})
    result = apply_to_bake(progress(60), analysis("inconclusive"), settings, mode="bake")
    assert result.done is True
    assert result.analysis is not None
    assert result.analysis.verdict == "inconclusive"


def test_inconclusive_at_the_end_of_the_bake_fails_when_so_configured() -> None:
    settings = SETTINGS.model_copy(update={"inconclusive": "fail"})
    with pytest.raises(CanaryAnalysisFailed, match=r"^still inconclusive at the end of the bake: canary"):
        apply_to_bake(progress(60), analysis("inconclusive"), settings, mode="bake")


def test_hold_keeps_the_bake_polling_past_its_end_then_fails() -> None:
    settings = SETTINGS.model_copy(update={"inconclusive": "hold", "max_hold_seconds": 30})
    held = apply_to_bake(progress(60), analysis("inconclusive"), settings, mode="bake")
    assert (held.done, held.wait_seconds, held.elapsed_seconds) == (False, 20, 80)
    assert held.analysis is not None
    assert held.analysis.held is True
    # the next poll has 10 s of hold left; then the hold is over
    again = apply_to_bake(progress(80), analysis("inconclusive"), settings, mode="bake")
    assert (again.done, again.wait_seconds, again.elapsed_seconds) == (False, 10, 90)
    with pytest.raises(CanaryAnalysisFailed, match="after holding 30s past the bake"):
        apply_to_bake(progress(90), analysis("inconclusive"), settings, mode="bake")
    # a verdict reached while holding ends the bake, and the analysis says it was held for
    passed = apply_to_bake(progress(80), analysis("pass"), settings, mode="bake")
    assert passed.done is True
    assert passed.analysis is not None
    assert (passed.analysis.verdict, passed.analysis.held) == ("pass", True)
    # one reached on time was not
    on_time = apply_to_bake(progress(60), analysis("pass"), settings, mode="bake").analysis
    assert on_time is not None
    assert on_time.held is False


def test_the_analysis_is_off_by_default() -> None:
    assert CanaryAnalysisSettings().enabled is False
    assert sample_config().canary_analysis.enabled is False


def test_the_config_refuses_unknown_functions_and_a_hold_that_overflows_the_history() -> None:
    document = sample_config_dict()
    with pytest.raises(InvalidPipelineConfig, match="canary_analysis names unknown functions: queue"):
        parse_pipeline_config(document | {"canary_analysis": {"functions": ["api", "queue"]}}, source="t")
    held = {"enabled": True, "inconclusive": "hold", "max_hold_seconds": 86_400}
    bake = {"duration_seconds": 600, "poll_interval_seconds": 10}
    with pytest.raises(InvalidPipelineConfig, match="held up to 86400 s past its end takes 8701 polls"):
        parse_pipeline_config(document | {"canary_analysis": held, "bake": bake}, source="t")
    assert parse_pipeline_config(document | {"canary_analysis": held | {"inconclusive": "fail"}}, source="t")


# ---- reading the metrics Lambda publishes per version ----------------------------------------------------
@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws():
        moto_patches._apply_metric_percentiles()
        yield boto3.client("cloudwatch", region_name=REGION)


def changed(key: str, previous: str, version: str) -> FunctionDeployment:
    return FunctionDeployment.model_validate(
        {"key": key, "function_name": f"svc-prod-{key}", "alias": "live", "previous_version": previous}
        | {"version": version, "code_sha256": "x"}
    )


def deployment() -> EnvironmentDeployment:
    return EnvironmentDeployment(
        environment="prod", functions=[changed("api", "4", "5"), changed("worker", "7", "7")]
    )


def invoke(version: str, times: int, *, duration_ms: float, errors: int = 0) -> None:
    for index in range(times):
        record_invocation_metrics(
            ACCOUNT,
            REGION,
            function_name="svc-prod-api",
            alias="live",
            version=version,
            error=index < errors,
            duration_ms=duration_ms + index % 3,
        )


def test_each_versions_invocations_errors_and_p99_are_read_through_the_alias(cloudwatch: Any) -> None:
    invoke("4", 40, duration_ms=10.0, errors=1)
    invoke("5", 25, duration_ms=200.0)
    # an invocation of version 5 called directly (no alias) is not the alias's traffic
    cloudwatch.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Duration",
                "Dimensions": [
                    {"Name": "FunctionName", "Value": "svc-prod-api"},
                    {"Name": "Resource", "Value": "svc-prod-api:5"},
                ],
                "Value": 9000.0,
            }
        ],
    )

    result = analyse(cloudwatch, deployment(), SETTINGS)

    (api,) = result.functions  # the worker's version did not change: nothing to compare
    assert (api.previous.invocations, api.previous.errors, api.previous.p99_ms) == (40, 1, 12.0)
    assert api.previous.error_rate == pytest.approx(0.025)
    assert (api.new.invocations, api.new.errors, api.new.p99_ms) == (25, 0, 202.0)
    assert (api.verdict, result.verdict) == ("fail", "fail")
    assert api.reason.startswith("p99 202.0 ms is")


def test_only_the_named_functions_are_judged_and_an_arn_reads_as_its_name(cloudwatch: Any) -> None:
    invoke("4", 30, duration_ms=10.0)
    invoke("5", 30, duration_ms=10.0)
    api = changed("api", "4", "5").model_copy(
        update={"function_name": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:svc-prod-api"}
    )
    only_api = EnvironmentDeployment(environment="prod", functions=[api, changed("worker", "7", "8")])
    result = analyse(cloudwatch, only_api, SETTINGS.model_copy(update={"functions": ["api"]}))
    assert [(f.key, f.verdict, f.new.invocations) for f in result.functions] == [("api", "pass", 30)]
    # the worker, judged too, has no traffic through its alias: the whole analysis is inconclusive
    assert analyse(cloudwatch, only_api, SETTINGS).verdict == "inconclusive"


def test_no_traffic_through_the_alias_is_inconclusive(cloudwatch: Any) -> None:
    result = analyse(cloudwatch, deployment(), SETTINGS)
    (api,) = result.functions
    assert (api.new.invocations, api.new.error_rate, api.new.p99_ms) == (0, None, None)
    assert result.verdict == "inconclusive"


class Configs:
    def __init__(self, config: PipelineConfig) -> None:
        self._config = config

    def get(self, pipeline: str) -> PipelineConfig:
        assert pipeline == self._config.name
        return self._config


# ---- the step: alarms and analysis in one check, recorded on the ledger entry --------------------------
def test_the_alarm_check_runs_the_analysis_and_records_it_on_the_ledger_entry(cloudwatch: Any) -> None:
    config = sample_config().model_copy(
        update={"canary_analysis": SETTINGS.model_copy(update={"min_invocations": 5})}
    )
    for name in config.environments.prod.alarms:
        put_alarm(cloudwatch, name)
    dynamodb = boto3.client("dynamodb", region_name=TABLE_REGION)
    ledger = DynamoLedger(create_table_from_template(dynamodb, "DeploymentsTable", "deployments"))
    key = entry_key(1_700_000_000, "run-1")
    ledger.start(
        LedgerEntry(
            pipeline=config.name,
            environment="prod",
            entry_key=key,
            execution_arn="arn:aws:states:eu-west-1:123456789012:execution:sm:run-1",
            execution_name="run-1",
            sha="a" * 40,
            functions=[],
            started_at=1_700_000_000,
        )
    )
    invoke("4", 10, duration_ms=5.0)
    invoke("5", 10, duration_ms=5.0, errors=10)

    request = CheckAlarmsRequest(
        pipeline=config.name,
        execution_name="run-1",
        mode="gate",
        deployment=deployment(),
        ledger_key=key,
    )
    with pytest.raises(CanaryAnalysisFailed, match=r"error rate 100\.00% exceeds the previous 0\.00%"):
        check_alarms(Configs(config), cloudwatch, request, ledger=ledger)

    entry = ledger.entry(config.name, "prod", key)
    assert entry is not None
    assert entry.canary_analysis is not None
    recorded = CanaryAnalysis.model_validate(entry.canary_analysis)
    assert recorded.verdict == "fail"
    assert (recorded.functions[0].new.error_rate, recorded.functions[0].previous.p99_ms) == (1.0, 7.0)

    # With the analysis off (the default), the same check only polls the alarms
    plain = check_alarms(Configs(sample_config()), cloudwatch, request, ledger=ledger)
    assert plain.analysis is None


# ---- the notice ------------------------------------------------------------------------------------------
def test_a_promoted_notice_carries_the_analysis_that_let_it_through() -> None:
    state = {"pipeline": "sentiment-service", "sha": "a" * 40}
    passed = analysis("pass").to_payload()
    assert (
        PromotionState.model_validate(
            state | {"bake": {"elapsed_seconds": 0, "seen_data": []}}
        ).canary_analysis()
        is None
    )
    found = PromotionState.model_validate(
        state | {"bake": {"done": True, "analysis": passed}}
    ).canary_analysis()
    notice = Outcome(
        outcome="promoted",
        pipeline="sentiment-service",
        sha="a" * 40,
        execution_name="run-1",
        execution_arn="arn:aws:states:eu-west-1:123456789012:execution:sm:run-1",
        canary_analysis=found,
    )
    assert (
        "Canary analysis: pass; api v5 vs v4: pass (r); invocations 5/100, error rate 0.00%/0.00%, "
        "p99 10.0 ms/10.0 ms"
    ) in notice.text().splitlines()
    assert notice.model_dump(mode="json")["canary_analysis"]["functions"][0]["new"]["invocations"] == 5


def test_promote_status_shows_each_deployments_analysis_verdict() -> None:
    entry = {"execution": "sentiment-service-6d6a723bad67-a1", "mode": "promote", "outcome": "rolled_back"}
    serving = {"api": {"function": "svc-prod-api", "alias": "live", "version": "4", "code_sha256": "c"}}
    prod = {"serving": serving, "sha": None, "known_good_sha": None, "frozen": None, "locked_by": None}
    history = [entry | {"approver": None, "canary_analysis": analysis("fail").to_payload()}]
    report = {
        "pipeline": "p",
        "repo": "o/r",
        "frozen": None,
        "environments": {"prod": prod | {"history": history}},
    }
    assert status_lines(report)[-1] == (
        "    sentiment-service-6d6a723bad67-a1             promote  rolled_back      approver none"
        "  canary analysis fail"
    )
