"""The ``promote`` CLI against the local plane: clear one-line errors, exit codes, and attempts."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

import promotion.observability  # noqa: F401 - see below
from promote_cli import cli
from promote_cli.local.plane import LocalControlPlane
from tests.support.pipelines import SAMPLE_PIPELINE_FILE
from tests.support.promotion import wait_for_end

# The control plane's handlers log through one powertools Logger, whose handler keeps the stream that was
# sys.stdout when it was made. Made here, at collection, it writes to the session's output; made inside a
# capsys test it would keep that test's stream, closed once the test ends.

# A pipeline of its own: CI never publishes its builds and it waits 0 s for them, so every promotion
# started here ends at once with BuildNotPublished, before anything is deployed.
CLI_PIPELINE = "cli-tests"


@pytest.fixture
def local_state(plane: LocalControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The state file ``promote local up`` writes, pointing at the test session's plane."""
    state_file = tmp_path / "local.json"
    state_file.write_text(json.dumps(plane.ready_info()))
    monkeypatch.setenv("PROMOTE_STATE_DIR", str(tmp_path))
    # The CLI reads PROMOTE_STATE_DIR once, at import; point the already imported module at this file too.
    monkeypatch.setattr(cli, "LOCAL_STATE_FILE", state_file)
    return state_file


@pytest.fixture(scope="module")
def cli_pipeline(plane: LocalControlPlane) -> str:
    document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
    document["name"] = CLI_PIPELINE
    document["artifacts"] = {**document["artifacts"], "wait_seconds": 0}
    return plane.put_pipeline(json.dumps(document), source=f"test pipeline {CLI_PIPELINE}")


def executions(plane: LocalControlPlane) -> list[dict[str, Any]]:
    sfn = plane.client("stepfunctions")
    assert plane.stack is not None
    return list(
        sfn.list_executions(stateMachineArn=plane.stack.state_machine_arn, maxResults=1000)["executions"]
    )


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.mark.usefixtures("local_state")
def test_an_unknown_pipeline_is_one_line_and_exit_2(
    plane: LocalControlPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    started_before = len(executions(plane))
    code = cli.main(["--local", "start", "--pipeline", "no-such-pipeline", "--sha", secrets.token_hex(20)])
    assert code == 2
    assert one_error_line(capsys) == (
        "promote: unknown pipeline 'no-such-pipeline' "
        f"(no SSM parameter /{plane.options.stack_name}/pipelines/no-such-pipeline)"
    )
    assert len(executions(plane)) == started_before


def test_the_same_error_through_an_explicit_endpoint(
    plane: LocalControlPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--endpoint-url", plane.aws_endpoint_url, "--region", plane.options.region]
    args += ["--stack", plane.options.stack_name]
    code = cli.main([*args, "start", "--pipeline", "no-such-pipeline", "--sha", secrets.token_hex(20)])
    assert code == 2
    assert one_error_line(capsys).startswith("promote: unknown pipeline 'no-such-pipeline'")


@pytest.mark.usefixtures("local_state")
@pytest.mark.parametrize("sha", ["abc123", "A" * 40, "g" * 40, "0" * 41])
def test_a_bad_sha_is_refused_by_the_argument_parser(
    plane: LocalControlPlane, capsys: pytest.CaptureFixture[str], sha: str
) -> None:
    started_before = len(executions(plane))
    with pytest.raises(SystemExit) as exited:
        cli.main(["--local", "start", "--pipeline", "sentiment-service", "--sha", sha])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "argument --sha: must be a full 40-character lowercase hex commit SHA" in error
    assert len(executions(plane)) == started_before


def test_without_a_running_local_plane_the_cli_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "local.json"
    monkeypatch.setattr(cli, "LOCAL_STATE_FILE", missing)
    code = cli.main(["--local", "start", "--pipeline", "sentiment-service", "--sha", secrets.token_hex(20)])
    assert code == 2
    assert one_error_line(capsys) == (
        f"promote: no local control plane found ({missing} missing): run 'promote local up'"
    )


def test_local_up_with_a_missing_template_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "template.yaml"
    code = cli.main(["local", "up", "--template", str(missing), "--no-iam-enforcement"])
    assert code == 2
    assert one_error_line(capsys) == f"promote: --template {missing}: no such file"


@pytest.mark.usefixtures("local_state")
def test_starting_twice_makes_attempts_1_and_2_with_different_names(
    plane: LocalControlPlane, cli_pipeline: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a commit of the CLI's pipeline
    sha = secrets.token_hex(20)

    # When an operator starts its promotion twice
    assert cli.main(["--local", "start", "--pipeline", cli_pipeline, "--sha", sha]) == 0
    first = json.loads(capsys.readouterr().out)
    assert cli.main(["--local", "start", "--pipeline", cli_pipeline, "--sha", sha]) == 0
    second = json.loads(capsys.readouterr().out)

    # Then the second start is a new attempt under a new name, not a redelivery of the first
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert first["name"] == f"{cli_pipeline}-{sha[:12]}-a1"
    assert second["name"] == f"{cli_pipeline}-{sha[:12]}-a2"
    assert first["execution_arn"] != second["execution_arn"]
    sfn = plane.client("stepfunctions")
    for started, attempt in ((first, 1), (second, 2)):
        described = sfn.describe_execution(executionArn=started["execution_arn"])
        document = json.loads(described["input"])
        assert (document["pipeline"], document["sha"], document["attempt"]) == (cli_pipeline, sha, attempt)
        assert document["trigger"]["source"] == "cli"
        # no build was ever published for this commit: each attempt stops before deploying anything
        ended = wait_for_end(plane, started["execution_arn"], timeout=60)
        assert ended["status"] == "FAILED"
        assert ended["error"] == "BuildNotPublished"


@pytest.mark.usefixtures("local_state")
def test_restarting_an_attempt_that_ended_is_one_line_and_exit_2(
    plane: LocalControlPlane, cli_pipeline: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given attempt 1 of a commit, ended
    sha = secrets.token_hex(20)
    assert cli.main(["--local", "start", "--pipeline", cli_pipeline, "--sha", sha, "--attempt", "1"]) == 0
    started = json.loads(capsys.readouterr().out)
    assert wait_for_end(plane, started["execution_arn"], timeout=60)["status"] == "FAILED"
    count = len(executions(plane))

    # When the operator asks for attempt 1 again
    code = cli.main(["--local", "start", "--pipeline", cli_pipeline, "--sha", sha, "--attempt", "1"])

    # Then Step Functions refuses the name, and the CLI says so in one line
    assert code == 2
    assert one_error_line(capsys) == (
        f"promote: attempt 1 of {sha[:12]} already exists ({cli_pipeline}-{sha[:12]}-a1)"
    )
    assert len(executions(plane)) == count
