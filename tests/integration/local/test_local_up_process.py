"""``promote local up`` as a process: one plane per state file, and a clean stop on SIGINT or SIGTERM even
when started in the background (where the shell starts it with SIGINT ignored)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

PROMOTE = [sys.executable, "-m", "promote_cli"]


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM])
def test_a_background_plane_refuses_a_second_and_stops_on_a_signal_with_one_line(
    tmp_path: Path, stop_with: signal.Signals
) -> None:
    environment = {**os.environ, "PROMOTE_STATE_DIR": str(tmp_path)}
    state_file = tmp_path / "local.json"
    # As `promote local up &` in a script: the job starts with SIGINT ignored.
    first = subprocess.Popen(
        [*PROMOTE, "local", "up", "--quiet", "--no-iam-enforcement"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert first.stdout is not None
        ready = json.loads(first.stdout.readline())
        assert json.loads(state_file.read_text())["pid"] == first.pid

        # A second plane on the same state file is refused, naming the first
        second = subprocess.run(
            [*PROMOTE, "local", "up", "--quiet"], env=environment, capture_output=True, text=True, timeout=60
        )
        assert (second.returncode, second.stdout) == (2, "")
        assert second.stderr == (
            f"promote: a local control plane is already running (pid {first.pid}, {ready['api_url']}, "
            f"{state_file}): stop it first (kill {first.pid}), or start another from a directory of its "
            "own or with PROMOTE_STATE_DIR set\n"
        )

        # The signal stops it, with one line, and takes its state file away
        first.send_signal(stop_with)
        _, stderr = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0
    assert stderr.splitlines()[-1] == f"promote: local control plane stopped ({stop_with.name})"
    assert not state_file.exists()


@pytest.mark.parametrize("verbose", [False, True])
def test_the_plane_is_quiet_by_default_and_verbose_shows_everything(tmp_path: Path, verbose: bool) -> None:
    # Given a plane started as a user starts it, and a promotion whose integration tests fail (the path on
    # which the emulator dumps its exceptions and Powertools warns)
    from promote_cli.local.demo import promote_sample_build

    environment = {**os.environ, "PROMOTE_STATE_DIR": str(tmp_path)}
    environment.setdefault("AWS_ACCESS_KEY_ID", "local")
    environment.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("w") as stderr:
        plane = subprocess.Popen(
            [*PROMOTE, "local", "up", *(["--verbose"] if verbose else [])],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            assert plane.stdout is not None
            ready = json.loads(plane.stdout.readline())
            final, *_ = promote_sample_build(ready, "fails-preprod", say=lambda _line: None)
        finally:
            plane.terminate()
            plane.wait(60)
    assert final == "FAILED"
    lines = stderr_path.read_text().splitlines()

    # Then quiet, it says what the promotion did (the outbox) and nothing about the emulation; verbose, it
    # shows the handlers' logs and the emulator's own lines too
    assert any(line.startswith("--- outbox: email to team@example.com: Promotion of") for line in lines)
    assert "Error: IntegrationTestsFailed" in lines
    emulation = [line for line in lines if "FailureEventException" in line or "Warning:" in line]
    handler_logs = [line for line in lines if line.startswith("{")]
    if verbose:
        assert emulation
        assert handler_logs
        assert all(json.loads(line)["correlation_id"] for line in handler_logs)
    else:
        assert emulation == []
        assert handler_logs == []
    assert not any(line.startswith("Traceback") for line in lines)
    assert lines[-1] == "promote: local control plane stopped (SIGTERM)"
