"""Rules Step Functions enforces when a definition is created, which moto's interpreter does not check."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.paths import REPO_ROOT

ASL = json.loads((REPO_ROOT / "statemachine" / "promotion.asl.json").read_text())
TASKS = {name: state for name, state in ASL["States"].items() if state["Type"] == "Task"}


@pytest.mark.parametrize("name", sorted(TASKS))
@pytest.mark.parametrize("field", ["Retry", "Catch"])
def test_states_all_stands_alone_in_the_last_retrier_or_catcher(name: str, field: str) -> None:
    rules: list[dict[str, Any]] = TASKS[name].get(field, [])
    for index, rule in enumerate(rules):
        if "States.ALL" in rule["ErrorEquals"]:
            assert rule["ErrorEquals"] == ["States.ALL"], f"{name}: States.ALL must be alone"
            assert index == len(rules) - 1, f"{name}: the States.ALL {field.lower()} must be the last"


def test_the_approval_timeout_is_named_before_anything_can_fail() -> None:
    catches = ASL["States"]["Wait for approval"]["Catch"]
    assert catches[0]["ErrorEquals"] == ["States.Timeout"]
    named = ASL["States"][catches[0]["Next"]]
    assert named["Type"] == "Pass"
    assert named["Parameters"]["Error"] == "ApprovalTimedOut"
    assert named["ResultPath"] == "$.failure"
    # Expiring the record may fail; its error must not replace the named outcome.
    expire = ASL["States"][named["Next"]]
    assert all(catch["ResultPath"] != "$.failure" for catch in expire["Catch"])
