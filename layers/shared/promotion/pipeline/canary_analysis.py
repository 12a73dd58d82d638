"""Automated canary analysis: the new prod versions judged against the previous ones on Lambda's metrics.

For invocations through an alias, Lambda publishes ``AWS/Lambda`` metrics per executed version (dimensions
``FunctionName``, ``Resource`` = ``function:alias``, ``ExecutedVersion``). Each check reads both versions of
every deployed function over the last ``window_seconds`` with one GetMetricData call and judges them:

- inconclusive while either version has fewer than ``min_invocations``;
- fail when the new error rate exceeds the previous one by more than ``max_error_rate_increase``, or the
  new p99 Duration exceeds the previous one by more than ``max_p99_increase_percent`` percent and more
  than ``p99_tolerance_ms``;
- pass otherwise.

The environment's verdict is the worst of its functions' (fail, then inconclusive, then pass).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from promotion.errors import CanaryAnalysisFailed
from promotion.models.config import CanaryAnalysisSettings
from promotion.models.execution import (
    BakeProgress,
    CanaryAnalysis,
    EnvironmentDeployment,
    FunctionAnalysis,
    VersionMetrics,
)

Verdict = Literal["pass", "fail", "inconclusive"]
NAMESPACE = "AWS/Lambda"
# name in the query id -> (metric, statistic)
_QUERIES = {
    "inv": ("Invocations", "Sum"),
    "err": ("Errors", "Sum"),
    "thr": ("Throttles", "Sum"),
    "p99": ("Duration", "p99"),
}


def _dimensions(function: str, alias: str, version: str) -> list[dict[str, str]]:
    # A function configured by ARN (arn:aws:lambda:region:account:function:name) is named by its name.
    name = function.split(":")[6] if function.startswith("arn:") else function
    return [
        {"Name": "FunctionName", "Value": name},
        {"Name": "Resource", "Value": f"{name}:{alias}"},
        {"Name": "ExecutedVersion", "Value": version},
    ]


def _period(window_seconds: int) -> int:
    """One datapoint for the whole window: a period of whole minutes that covers it."""
    return max(60, math.ceil(window_seconds / 60) * 60)


def read_versions(
    cloudwatch: Any,
    targets: Sequence[tuple[str, str, str]],
    *,
    window_seconds: int,
    now: datetime,
) -> list[VersionMetrics]:
    """The metrics of each (function name, alias, version) over the window ending ``now``, in one call.

    The query runs a minute past ``now``: CloudWatch drops the partial second at the end of the range, and
    the latest datapoints are the ones that matter most.
    """
    period = _period(window_seconds + 60)
    queries = [
        {
            "Id": f"{prefix}{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": metric,
                    "Dimensions": _dimensions(function_name, alias, version),
                },
                "Period": period,
                "Stat": stat,
            },
            "ReturnData": True,
        }
        for index, (function_name, alias, version) in enumerate(targets)
        for prefix, (metric, stat) in _QUERIES.items()
    ]
    values: dict[str, list[float]] = {}
    paginator = cloudwatch.get_paginator("get_metric_data")
    # GetMetricData takes at most 500 queries per call.
    for start in range(0, len(queries), 500):
        for page in paginator.paginate(
            MetricDataQueries=queries[start : start + 500],
            StartTime=now - timedelta(seconds=window_seconds),
            EndTime=now + timedelta(seconds=60),
        ):
            for result in page.get("MetricDataResults", []):
                values.setdefault(result["Id"], []).extend(
                    float(v) for v in result.get("Values", []) if v is not None
                )
    metrics = []
    for index, (_, _, version) in enumerate(targets):
        invocations = int(sum(values.get(f"inv{index}", [])))
        errors = int(sum(values.get(f"err{index}", [])))
        p99s = values.get(f"p99{index}", [])
        metrics.append(
            VersionMetrics(
                version=version,
                invocations=invocations,
                errors=errors,
                throttles=int(sum(values.get(f"thr{index}", []))),
                error_rate=errors / invocations if invocations else None,
                # Several datapoints (a window across period boundaries): the worst one, to stay cautious.
                p99_ms=max(p99s) if p99s else None,
            )
        )
    return metrics


def judge(
    new: VersionMetrics, previous: VersionMetrics, settings: CanaryAnalysisSettings
) -> tuple[Verdict, str]:
    """One function's verdict and why."""
    short = [
        f"v{m.version} has {m.invocations} of {settings.min_invocations} invocations"
        for m in (new, previous)
        if m.invocations < settings.min_invocations
    ]
    if short:
        return "inconclusive", "; ".join(short)
    # Both have invocations now (min_invocations >= 1).
    new_rate, previous_rate = new.errors / new.invocations, previous.errors / previous.invocations
    margin = settings.max_error_rate_increase
    if new_rate > previous_rate + margin:
        return "fail", (
            f"error rate {new_rate:.2%} exceeds the previous {previous_rate:.2%} by more than {margin:.2%}"
        )
    if new.p99_ms is None or previous.p99_ms is None:
        return "inconclusive", "no Duration p99 for " + (
            f"v{new.version}" if new.p99_ms is None else f"v{previous.version}"
        )
    limit = max(
        previous.p99_ms * (1 + settings.max_p99_increase_percent / 100),
        previous.p99_ms + settings.p99_tolerance_ms,
    )
    if new.p99_ms > limit:
        increase = (new.p99_ms / previous.p99_ms - 1) * 100 if previous.p99_ms else math.inf
        return "fail", (
            f"p99 {new.p99_ms:.1f} ms is {increase:.0f}% over the previous {previous.p99_ms:.1f} ms "
            f"(limit {limit:.1f} ms)"
        )
    return "pass", "within the margins"


def overall(verdicts: Sequence[Verdict]) -> Verdict:
    if "fail" in verdicts:
        return "fail"
    if "inconclusive" in verdicts:
        return "inconclusive"
    return "pass"


def analyse(
    cloudwatch: Any,
    deployment: EnvironmentDeployment,
    settings: CanaryAnalysisSettings,
    *,
    now: datetime | None = None,
) -> CanaryAnalysis:
    """Judge every function whose version changed (an unchanged one has nothing to compare), or those of
    them that ``settings.functions`` names."""
    changed = [
        f
        for f in deployment.functions
        if f.version != f.previous_version and (settings.functions is None or f.key in settings.functions)
    ]
    targets = [
        (f.function_name, f.alias, version) for f in changed for version in (f.version, f.previous_version)
    ]
    metrics = read_versions(
        cloudwatch, targets, window_seconds=settings.window_seconds, now=now or datetime.now(UTC)
    )
    functions = []
    for index, function in enumerate(changed):
        new, previous = metrics[2 * index], metrics[2 * index + 1]
        verdict, reason = judge(new, previous, settings)
        names = function.model_dump(include={"key", "function_name", "alias"})
        judged = {"new": new, "previous": previous, "verdict": verdict, "reason": reason}
        functions.append(FunctionAnalysis.model_validate(names | judged))
    return CanaryAnalysis(
        verdict=overall([f.verdict for f in functions]),
        window_seconds=settings.window_seconds,
        functions=functions,
    )


def apply_to_bake(
    progress: BakeProgress,
    analysis: CanaryAnalysis,
    settings: CanaryAnalysisSettings,
    *,
    mode: Literal["bake", "gate"],
) -> BakeProgress:
    """The check's result with the analysis in it; raise ``CanaryAnalysisFailed`` when it decides a failure.

    A fail verdict fails at once. During the traffic shift (``gate``) an inconclusive result lets the shift
    go on: more traffic reaches the new version. At the end of the bake an inconclusive result passes
    (``continue``), fails (``fail``), or keeps the bake polling (``hold``) for up to ``max_hold_seconds``
    past its duration, then fails.
    """
    if analysis.verdict == "fail":
        raise CanaryAnalysisFailed(analysis.summary())
    if mode == "bake" and progress.elapsed_seconds > progress.duration_seconds:
        # Only a hold polls past the bake's duration: this verdict was waited for.
        analysis = analysis.model_copy(update={"held": True})
    if (
        mode == "gate"
        or analysis.verdict == "pass"
        or not progress.done
        or settings.inconclusive == "continue"
    ):
        return progress.model_copy(update={"analysis": analysis})
    overrun = progress.elapsed_seconds - progress.duration_seconds
    if settings.inconclusive == "hold" and overrun < settings.max_hold_seconds:
        wait = min(progress.poll_seconds, settings.max_hold_seconds - overrun)
        return progress.model_copy(
            update={
                "analysis": analysis.model_copy(update={"held": True}),
                "done": False,
                "wait_seconds": wait,
                "elapsed_seconds": progress.elapsed_seconds + wait,
            }
        )
    held = f" after holding {overrun}s past the bake" if settings.inconclusive == "hold" else ""
    raise CanaryAnalysisFailed(f"still inconclusive at the end of the bake{held}: {analysis.summary()}")
