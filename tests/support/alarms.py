"""CloudWatch alarms for tests on moto."""

from __future__ import annotations

from typing import Any

from promote_cli.local.plane import LocalControlPlane


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


def set_alarms(plane: LocalControlPlane, names: list[str], state: str) -> None:
    """Set alarms of the local plane's sample service, each in its environment's account (the sample names
    them svc-sentiment-{env}-...)."""
    for name in names:
        environment = "preprod" if "-preprod-" in name else "prod"
        cloudwatch = plane.environment_client(environment, "cloudwatch")
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")
