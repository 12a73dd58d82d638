"""The garbage collector's pause for INIT: only inside Lambda, only if it was on, ended once by a request."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from promotion import cold_start

LAMBDA = {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.13"}


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    cold_start._paused_for_init = False
    gc.unfreeze()
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_inside_lambda_the_collector_pauses_until_the_first_request() -> None:
    gc.enable()
    cold_start.pause_collector_for_init(LAMBDA)
    assert not gc.isenabled()
    assert cold_start.collector_paused_for_init()

    cold_start.resume_collector()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    assert not cold_start.collector_paused_for_init()


@pytest.mark.parametrize(
    "environ",
    [{}, {"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"}, {"AWS_LAMBDA_FUNCTION_NAME": "local-plane-copy"}],
    ids=["no runtime", "another AWS runtime", "a function name alone"],
)
def test_outside_lambda_nothing_changes(environ: dict[str, str]) -> None:
    gc.enable()
    cold_start.pause_collector_for_init(environ)
    assert gc.isenabled()
    cold_start.resume_collector()
    assert gc.get_freeze_count() == 0


def test_a_collector_someone_else_disabled_stays_disabled() -> None:
    gc.disable()
    cold_start.pause_collector_for_init(LAMBDA)
    cold_start.resume_collector()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_later_requests_leave_the_collector_alone() -> None:
    gc.enable()
    cold_start.pause_collector_for_init(LAMBDA)
    cold_start.resume_collector()
    gc.unfreeze()
    gc.disable()  # whatever the function does with it afterwards is its own business
    cold_start.resume_collector()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0
