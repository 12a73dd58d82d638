"""The bake: one poll's arithmetic, and reading alarm states (moto CloudWatch)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from promotion.errors import AlarmMissing, BakeAlarm
from promotion.pipeline.alarms import alarm_states, bake_step
from tests.support.alarms import put_alarm

HEALTHY = {"svc-prod-api-errors": "OK", "svc-prod-api-p99": "OK"}


def test_a_four_second_bake_polled_every_two_seconds_waits_2_2_0_then_is_done() -> None:
    waits = []
    elapsed = 0
    for _ in range(10):  # bounded: a broken step must not loop forever
        step = bake_step(HEALTHY, elapsed_seconds=elapsed, duration_seconds=4, poll_seconds=2)
        waits.append(step.wait_seconds)
        elapsed = step.elapsed_seconds
        if step.done:
            break
    assert waits == [2, 2, 0]
    assert step.done is True
    assert step.elapsed_seconds == 4
    assert step.alarms == HEALTHY


def test_the_last_wait_is_what_is_left_of_the_bake() -> None:
    step = bake_step({}, elapsed_seconds=4, duration_seconds=5, poll_seconds=2)
    assert (step.wait_seconds, step.elapsed_seconds, step.done) == (1, 5, False)
    assert bake_step({}, elapsed_seconds=5, duration_seconds=5, poll_seconds=2).done is True


def test_a_zero_bake_is_done_at_once() -> None:
    step = bake_step({}, elapsed_seconds=0, duration_seconds=0, poll_seconds=60)
    assert (step.wait_seconds, step.done) == (0, True)


def test_an_alarm_in_alarm_fails_the_bake() -> None:
    states = {**HEALTHY, "svc-prod-worker-errors": "ALARM", "svc-prod-api-5xx": "ALARM"}
    with pytest.raises(
        BakeAlarm, match="alarm in ALARM 2s into the bake: svc-prod-api-5xx, svc-prod-worker-errors"
    ):
        bake_step(states, elapsed_seconds=2, duration_seconds=4, poll_seconds=2)


def test_an_alarm_on_the_final_poll_still_fails_the_bake() -> None:
    with pytest.raises(BakeAlarm):
        bake_step({"a": "ALARM"}, elapsed_seconds=4, duration_seconds=4, poll_seconds=2)


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def test_alarm_states_reads_each_named_alarm(cloudwatch: Any) -> None:
    put_alarm(cloudwatch, "svc-prod-api-errors", "OK")
    put_alarm(cloudwatch, "svc-prod-worker-errors", "ALARM")
    put_alarm(cloudwatch, "someone-elses-alarm", "ALARM")
    assert alarm_states(cloudwatch, ["svc-prod-api-errors", "svc-prod-worker-errors"]) == {
        "svc-prod-api-errors": "OK",
        "svc-prod-worker-errors": "ALARM",
    }


def test_a_missing_alarm_fails_closed(cloudwatch: Any) -> None:
    put_alarm(cloudwatch, "svc-prod-api-errors", "OK")
    with pytest.raises(AlarmMissing, match="alarms not found: svc-prod-api-p99, svc-prod-typo"):
        alarm_states(cloudwatch, ["svc-prod-api-errors", "svc-prod-typo", "svc-prod-api-p99"])


def test_no_configured_alarms_means_no_calls() -> None:
    class NoCalls:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"unexpected CloudWatch call {name}")

    assert alarm_states(NoCalls(), []) == {}


def test_more_than_one_hundred_alarms_are_read_in_batches(cloudwatch: Any) -> None:
    names = [f"svc-prod-alarm-{index:03d}" for index in range(101)]
    for name in names:
        put_alarm(cloudwatch, name)
    cloudwatch.set_alarm_state(AlarmName=names[100], StateValue="ALARM", StateReason="test")
    states = alarm_states(cloudwatch, names)
    assert set(states) == set(names)
    assert states[names[100]] == "ALARM"
