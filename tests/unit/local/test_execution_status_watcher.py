"""The local EventBridge watcher stops cleanly: no poll outlives the plane that owned it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from promote_cli.local.events import ExecutionStatusWatcher


class _BlockingStepFunctions:
    """A Step Functions client whose listing waits for a release, then fails as a torn-down moto would."""

    def __init__(self) -> None:
        self.listing = threading.Event()
        self.release = threading.Event()

    def get_paginator(self, operation: str) -> _BlockingStepFunctions:
        assert operation == "list_executions"
        return self

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        self.listing.set()
        self.release.wait(5)
        raise RuntimeError("State Machine Does Not Exist")


def test_stop_waits_for_a_poll_in_flight_and_reports_nothing_once_stopped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a watcher caught in the middle of a poll
    sfn = _BlockingStepFunctions()
    watcher = ExecutionStatusWatcher(
        sfn=sfn,
        state_machine_arns=["arn:aws:states:us-east-1:123456789012:stateMachine:promotion"],
        rules=[],
        invoke=lambda function, payload: None,
        account="123456789012",
        region="us-east-1",
        interval=60,
    )
    watcher.start()
    watcher.wake()
    assert sfn.listing.wait(5)

    # When the plane stops it while the poll's backend disappears underneath
    threading.Timer(0.2, sfn.release.set).start()
    watcher.stop()

    # Then stop returned after the poll ended, and its failure was not printed into another test's output
    assert not watcher.running
    assert capsys.readouterr().err == ""
