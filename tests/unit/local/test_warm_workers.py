"""Warm execution environments of service functions: reused per version, isolated between versions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from promote_cli.local.warm_workers import (
    EnvironmentExited,
    EnvironmentSpec,
    EnvironmentTimedOut,
    WarmEnvironments,
)

COUNTER = """
import os
import time

CALLS = 0


def handler(event, context):
    global CALLS
    CALLS += 1
    print("handled", event)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(3)
    return {
        "calls": CALLS,
        "pid": os.getpid(),
        "build": BUILD,
        "stage": os.environ.get("STAGE"),
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"""


def code(tmp_path: Path, build: str) -> Path:
    directory = tmp_path / build
    directory.mkdir()
    (directory / "app.py").write_text(COUNTER + f"\nBUILD = {build!r}\n")
    return directory


def spec(directory: Path, stage: str = "preprod") -> EnvironmentSpec:
    return EnvironmentSpec(directory, "app.handler", (("STAGE", stage),))


@pytest.fixture
def environments() -> Iterator[WarmEnvironments]:
    pool = WarmEnvironments()
    yield pool
    pool.close()


def test_a_version_keeps_its_environment_warm_between_invocations(
    tmp_path: Path, environments: WarmEnvironments
) -> None:
    version = spec(code(tmp_path, "build-1"))
    first = environments.invoke(version, {"n": 1}, timeout=10)
    second = environments.invoke(version, {"n": 2}, timeout=10)
    # the module was imported once and its state kept, as in a warm Lambda environment
    assert (first["result"]["calls"], second["result"]["calls"]) == (1, 2)
    assert first["result"]["pid"] == second["result"]["pid"]
    assert first["result"]["request_id"] != second["result"]["request_id"]
    assert 0 < first["result"]["remaining_ms"] <= 10_000
    assert first["result"]["stage"] == "preprod"
    # what the handler printed comes back as the invocation's logs, not mixed into its answer
    assert first["logs"] == "handled {'n': 1}\n"


def test_each_version_and_configuration_runs_in_an_environment_of_its_own(
    tmp_path: Path, environments: WarmEnvironments
) -> None:
    one, two = code(tmp_path, "build-1"), code(tmp_path, "build-2")
    answers = [
        environments.invoke(spec(one), {}, timeout=10)["result"],
        environments.invoke(spec(two), {}, timeout=10)["result"],
        environments.invoke(spec(one, stage="prod"), {}, timeout=10)["result"],
    ]
    assert [a["build"] for a in answers] == ["build-1", "build-2", "build-1"]
    assert [a["stage"] for a in answers] == ["preprod", "preprod", "prod"]
    assert [a["calls"] for a in answers] == [1, 1, 1]
    assert len({a["pid"] for a in answers}) == 3


def test_a_timed_out_invocation_ends_its_environment(tmp_path: Path, environments: WarmEnvironments) -> None:
    version = spec(code(tmp_path, "build-1"))
    warm = environments.invoke(version, {}, timeout=10)["result"]
    with pytest.raises(EnvironmentTimedOut):
        environments.invoke(version, {"sleep": 5}, timeout=0.5)
    fresh = environments.invoke(version, {}, timeout=10)["result"]
    assert fresh["pid"] != warm["pid"]
    assert fresh["calls"] == 1


def test_an_environment_that_exits_is_replaced(tmp_path: Path, environments: WarmEnvironments) -> None:
    version = spec(code(tmp_path, "build-1"))
    with pytest.raises(EnvironmentExited, match="exit status 3"):
        environments.invoke(version, {"exit": True}, timeout=10)
    assert environments.invoke(version, {}, timeout=10)["result"]["calls"] == 1


def test_a_module_that_fails_to_import_is_initialised_again_next_time(
    tmp_path: Path, environments: WarmEnvironments
) -> None:
    directory = tmp_path / "broken"
    directory.mkdir()
    (directory / "app.py").write_text("raise RuntimeError('no config')\n")
    version = spec(directory)
    answer = environments.invoke(version, {}, timeout=10)
    assert (answer["errorType"], answer["errorMessage"]) == ("RuntimeError", "no config")
    (directory / "app.py").write_text("def handler(event, context):\n    return 'fixed'\n")
    assert environments.invoke(version, {}, timeout=10)["result"] == "fixed"


def test_a_raising_handler_answers_its_error_and_stays_warm(
    tmp_path: Path, environments: WarmEnvironments
) -> None:
    directory = tmp_path / "raising"
    directory.mkdir()
    (directory / "app.py").write_text(
        "import os\n\nclass Refused(Exception):\n    pass\n\n"
        "def handler(event, context):\n"
        "    if event.get('refuse'):\n        raise Refused('no')\n    return os.getpid()\n"
    )
    version = spec(directory)
    pid = environments.invoke(version, {}, timeout=10)["result"]
    refused = environments.invoke(version, {"refuse": True}, timeout=10)
    assert (refused["errorType"], refused["errorMessage"]) == ("Refused", "no")
    assert any("Refused" in line for line in refused["stackTrace"])
    assert environments.invoke(version, {}, timeout=10)["result"] == pid


def test_idle_environments_beyond_the_limit_are_ended(tmp_path: Path) -> None:
    pool = WarmEnvironments(max_idle=1, prestart=False)
    try:
        one, two = spec(code(tmp_path, "build-1")), spec(code(tmp_path, "build-2"))
        first = pool.invoke(one, {}, timeout=10)["result"]["pid"]
        pool.invoke(two, {}, timeout=10)
        again = pool.invoke(one, {}, timeout=10)["result"]
        assert (again["pid"] != first, again["calls"]) == (True, 1)
        assert pool.started == 3
    finally:
        pool.close()
