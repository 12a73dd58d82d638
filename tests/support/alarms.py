"""CloudWatch alarms for tests on moto."""

from __future__ import annotations

from typing import Any


def put_alarm(cloudwatch: Any, name: str, state: str | None = None) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    if state is not None:
        # moto never evaluates alarms: their state is set directly
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")
