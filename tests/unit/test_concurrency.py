"""``map_all``: calls at once, answered as a loop would answer."""

from __future__ import annotations

import contextvars
import threading

import pytest

from promotion.concurrency import map_all

_ACTING_AS: contextvars.ContextVar[str] = contextvars.ContextVar("acting_as", default="nobody")


def test_the_calls_run_at_once_and_the_results_keep_the_inputs_order() -> None:
    everyone_started = threading.Barrier(3, timeout=5)

    def call(item: int) -> int:
        everyone_started.wait()  # one call at a time would break the barrier after 5 s
        return item * 10

    assert map_all(call, [3, 1, 2]) == [30, 10, 20]


def test_every_call_ends_and_the_first_failure_in_the_inputs_order_is_raised() -> None:
    ended: list[str] = []
    second_failed = threading.Event()

    def call(name: str) -> str:
        if name == "first":
            second_failed.wait(timeout=5)  # fails after "second" has already failed
            ended.append(name)
            raise ValueError("first failed")
        if name == "second":
            ended.append(name)
            second_failed.set()
            raise KeyError("second failed")
        ended.append(name)
        return name

    with pytest.raises(ValueError, match="first failed"):
        map_all(call, ["first", "second", "third"])
    assert sorted(ended) == ["first", "second", "third"]


def test_each_call_runs_in_a_copy_of_the_callers_context() -> None:
    token = _ACTING_AS.set("deployer-prod")
    try:
        assert map_all(lambda _: _ACTING_AS.get(), [1, 2]) == ["deployer-prod", "deployer-prod"]
    finally:
        _ACTING_AS.reset(token)


def test_one_item_or_none_runs_in_the_callers_thread() -> None:
    caller = threading.get_ident()
    assert map_all(lambda _: threading.get_ident(), [1]) == [caller]
    assert map_all(lambda _: 1, []) == []
