"""template.yaml's dashboard and operator alarms read metrics the code really publishes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.templates import load_template

CODE = [*REPO_ROOT.glob("functions/*/app.py"), *REPO_ROOT.glob("layers/shared/promotion/**/*.py")]
# Names built at run time: Promotion{Outcome} (notify) and Webhook{Outcome} (the webhook route).
RUN_TIME_NAMES = {
    **{f"Promotion{outcome}": "notify" for outcome in ("Promoted", "Failed", "RollbackFailed")},
    **{
        f"Webhook{outcome}": "webhook"
        for outcome in ("Started", "Ignored", "Duplicate", "Pong", "Rejected", "Unavailable")
    },
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(REPO_ROOT / "template.yaml")


def published_metric_names() -> set[str]:
    names = set(RUN_TIME_NAMES)
    for path in CODE:
        names |= set(re.findall(r'add_metric\(\s*name="(\w+)"', path.read_text()))
    return names


def custom_metrics(text: str) -> set[str]:
    """The ReleasePromotion metrics a dashboard or alarm reads (Metrics Insights and SEARCH)."""
    return set(re.findall(r"(?:SUM|AVG|MAX)\((\w+)\) FROM ReleasePromotion", text)) | set(
        re.findall(r'MetricName=\\?"(\w+)\\?"', text)
    ) - {"Errors", "Duration"}


def test_the_run_time_metric_names_match_the_outcomes_the_code_knows() -> None:
    notify = (REPO_ROOT / "functions/notify/app.py").read_text()
    assert "f\"Promotion{request.outcome.title().replace('_', '')}\"" in notify
    webhook_outcomes = re.search(
        r"^Outcome = Literal\[(.*)\]",
        (REPO_ROOT / "layers/shared/promotion/github/webhook.py").read_text(),
        re.M,
    )
    assert webhook_outcomes is not None
    outcomes = {o.strip().strip('"').capitalize() for o in webhook_outcomes.group(1).split(",")}
    assert {f"Webhook{o}" for o in outcomes} == {n for n, kind in RUN_TIME_NAMES.items() if kind == "webhook"}


def test_the_dashboard_is_valid_json_and_charts_only_published_metrics(template: dict[str, Any]) -> None:
    body = template["Resources"]["PromotionsDashboard"]["Properties"]["DashboardBody"]["Sub"]
    widgets = json.loads(body)["widgets"]
    titles = {widget["properties"]["title"] for widget in widgets}
    assert {"Promotions", "Function errors", "Function duration p99 (ms)"} <= titles
    assert any(title.startswith("Approval wait") for title in titles)
    assert any(title.startswith("Time to prod") for title in titles)
    read = custom_metrics(body)
    assert {"PromotionPromoted", "Rollbacks", "PromotionRollbackFailed", "ApprovalWait", "TimeToProd"} <= read
    assert read <= published_metric_names(), read - published_metric_names()


@pytest.mark.parametrize(
    ("alarm", "metric"),
    [
        ("RollbackFailedAlarm", "PromotionRollbackFailed"),
        ("NotificationFailedAlarm", "NotificationFailed"),
        ("ForgedApprovalAlarm", "ForgedApprovalCompletion"),
    ],
)
def test_operator_alarms_on_published_metrics_page_the_operators(
    template: dict[str, Any],
    alarm: str,
    metric: str,
) -> None:
    properties = template["Resources"][alarm]["Properties"]
    assert properties["AlarmActions"] == [{"Ref": "OperatorsTopic"}]
    (query,) = properties["Metrics"]
    assert query["Expression"] == f"SELECT SUM({metric}) FROM ReleasePromotion"  # noqa: S608 - a test
    assert metric in published_metric_names()


def test_failed_and_timed_out_executions_and_cleanup_errors_page_the_operators(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    for alarm, metric in (
        ("PromotionExecutionsFailedAlarm", "ExecutionsFailed"),
        ("PromotionExecutionsTimedOutAlarm", "ExecutionsTimedOut"),
    ):
        properties = resources[alarm]["Properties"]
        assert (properties["Namespace"], properties["MetricName"]) == ("AWS/States", metric)
        assert properties["Dimensions"] == [
            {"Name": "StateMachineArn", "Value": {"Ref": "PromotionStateMachine"}}
        ]
        assert {"Ref": "OperatorsTopic"} in properties["AlarmActions"]
    cleanup = resources["CleanupFailedAlarm"]["Properties"]
    assert cleanup["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "CleanupExecutionFunction"}}]
    assert resources["OperatorsEmailSubscription"]["Condition"] == "OperatorsEmailGiven"
