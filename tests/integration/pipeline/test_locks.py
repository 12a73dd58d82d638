"""Deploy locks on the real state machine: two promotions racing for one environment take turns, and a
lock left by an execution that is no longer running is reclaimed (local plane, time scale 0.1)."""

from __future__ import annotations

from datetime import datetime

import boto3
import pytest

from promote_cli.local.plane import LocalControlPlane
from promotion.pipeline.artifacts import lambda_code_sha256
from tests.support.fault_matrix import environment_store, inject_state_fault, matrix_pipeline_document
from tests.support.promotion import (
    LOCK_RELEASED,
    LOCK_TAKEN,
    Promotion,
    decide_via_link,
    errors_in,
    history,
    publish_and_start,
    succeeded_at,
    wait_for_approval_links,
    wait_for_end,
    wait_for_state,
)


def approve(plane: LocalControlPlane, promotion: Promotion) -> None:
    links = wait_for_approval_links(plane, promotion)
    assert decide_via_link(links[0], "approve", "ok").status_code == 200


def lock_window(
    plane: LocalControlPlane, promotion: Promotion, environment: str
) -> tuple[datetime, datetime]:
    events = history(plane, promotion.execution_arn)
    (taken,) = succeeded_at(events, LOCK_TAKEN[environment])
    (released,) = succeeded_at(events, LOCK_RELEASED[environment])
    return taken, released


def serves(plane: LocalControlPlane, promotion: Promotion, environment: str) -> set[str]:
    return {value["code_sha256"] for value in promotion.after()[environment].values()}


def test_two_promotions_racing_for_one_environment_take_turns(plane: LocalControlPlane) -> None:
    # Given a promotion baking in prod for 100 s (10 s at the local time scale), holding prod's lock
    pipeline = plane.put_pipeline(
        matrix_pipeline_document("lock-race", bake={"duration_seconds": 100, "poll_interval_seconds": 10}),
        source="test_locks",
    )
    first = publish_and_start(plane, pipeline=pipeline)
    approve(plane, first)
    wait_for_state(plane, first.execution_arn, "Bake")

    # When a newer promotion of the same pipeline is approved and reaches prod meanwhile
    second = publish_and_start(plane, pipeline=pipeline)
    approve(plane, second)
    wait_for_state(plane, second.execution_arn, "Check and lock prod")
    assert environment_store(plane).get(pipeline, "prod").lock_owner == first.execution_arn
    assert "Bake" not in second.states()

    # Then the second waits at "Check and lock prod" (EnvironmentLocked, retried) and takes prod only
    # after the first has released it; both succeed, in order, and prod ends on the second build
    first_end = wait_for_end(plane, first.execution_arn, timeout=90)
    assert first_end["status"] == "SUCCEEDED"
    second_end = wait_for_end(plane, second.execution_arn, timeout=120)
    assert second_end["status"] == "SUCCEEDED"
    assert "EnvironmentLocked" in errors_in(history(plane, second.execution_arn), "Check and lock prod")
    assert second_end["stopDate"] > first_end["stopDate"]
    first_window, second_window = (lock_window(plane, p, "prod") for p in (first, second))
    assert first_window[1] <= second_window[0], f"prod locks overlap: {first_window} and {second_window}"
    assert serves(plane, second, "prod") == {lambda_code_sha256(second.build.sha256)}
    assert environment_store(plane).get(pipeline, "prod").lock_owner == ""


def test_a_lock_whose_owner_no_longer_runs_is_reclaimed(
    plane: LocalControlPlane, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a promotion that succeeded but could not record it: prod's lock stays with an execution that
    # has ended
    pipeline = plane.put_pipeline(matrix_pipeline_document("stale-lock"), source="test_locks")
    fault = inject_state_fault(plane, "Record success", "permanent", pipeline)
    try:
        stale = publish_and_start(plane, pipeline=pipeline)
        approve(plane, stale)
        assert wait_for_end(plane, stale.execution_arn, timeout=90)["status"] == "SUCCEEDED"
    finally:
        plane.runtime.clear_faults()
    assert fault.hits == 4  # the first try and the Record state's three retries
    assert environment_store(plane).get(pipeline, "prod").lock_owner == stale.execution_arn

    # When the next promotion reaches prod
    fresh = publish_and_start(plane, pipeline=pipeline)
    approve(plane, fresh)
    described = wait_for_end(plane, fresh.execution_arn, timeout=90)

    # Then it took the lock over without waiting, logged whose it was, and deployed prod
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert errors_in(history(plane, fresh.execution_arn), "Check and lock prod") == []
    assert serves(plane, fresh, "prod") == {lambda_code_sha256(fresh.build.sha256)}
    assert plane.stack is not None
    table = boto3.resource(
        "dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url
    ).Table(plane.stack.environment["ENVIRONMENTS_TABLE"])
    item = table.get_item(Key={"pipeline": pipeline, "environment": "prod"}, ConsistentRead=True)["Item"]
    assert item["lock_reclaimed_from"] == stale.execution_arn
    assert "lock_owner" not in item  # released again by the new owner's Record success
    (reclaimed,) = [r for r in caplog.records if r.getMessage() == "reclaimed a stale deploy lock"]
    assert reclaimed.__dict__["stale_owner"] == stale.execution_arn
