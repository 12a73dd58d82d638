"""Record success / Record failure: the ledger closes, locks are released, and a promotion that reached
prod reports how long it took (the dashboard's time to prod)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from promotion.models.execution import EnvironmentBaseline
from promotion.models.steps import FinishRequest, PromotionState
from promotion.steps.finish_promotion import finish

STARTED = 1_700_000_000
NOW = STARTED + 754


class _Ledger:
    def __init__(self) -> None:
        self.finished: list[tuple[str, str]] = []

    def entry(self, pipeline: str, environment: str, key: str) -> Any:
        return SimpleNamespace(
            outcome="deployed", started_at=STARTED if environment == "preprod" else NOW - 60
        )

    def finish(self, pipeline: str, environment: str, key: str, **fields: Any) -> None:
        self.finished.append((environment, fields["outcome"]))


class _Environments:
    def release_lock(self, pipeline: str, environment: str, *, owner: str) -> bool:
        return True


def request(outcome: str, environments: tuple[str, ...]) -> FinishRequest:
    baselines = {
        f"{environment}_baseline": EnvironmentBaseline(
            environment=environment, functions=[], ledger_key=f"deploy#{STARTED:013d}#run"
        )
        for environment in environments
    }
    return FinishRequest(
        outcome=outcome,
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:release-promotion-promotion:run",
        promotion=PromotionState(pipeline="sentiment-service", sha="a" * 40, **baselines),
    )


def test_a_promotion_that_reached_prod_reports_its_time_from_locking_preprod() -> None:
    ledger = _Ledger()
    result = finish(_Environments(), ledger, request("succeeded", ("preprod", "prod")), now=NOW)  # type: ignore[arg-type]
    assert ledger.finished == [("preprod", "succeeded"), ("prod", "succeeded")]
    assert result["time_to_prod_seconds"] == 754


@pytest.mark.parametrize(
    ("outcome", "environments"), [("failed", ("preprod", "prod")), ("succeeded", ("preprod",))]
)
def test_a_failed_or_preprod_only_run_reports_no_time_to_prod(
    outcome: str, environments: tuple[str, ...]
) -> None:
    result = finish(_Environments(), _Ledger(), request(outcome, environments), now=NOW)  # type: ignore[arg-type]
    assert "time_to_prod_seconds" not in result
