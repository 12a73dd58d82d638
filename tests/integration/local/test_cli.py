"""The ``promote`` CLI against the local plane: clear one-line errors, exit codes, and attempts."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import promotion.observability  # noqa: F401 - see below
from promote_cli import cli
from promote_cli.local.plane import LocalControlPlane
from tests.integration.conftest import TIME_SCALE
from tests.support.pipelines import SAMPLE_PIPELINE_FILE
from tests.support.promotion import point_cli_at, wait_for_end

# The control plane's handlers log through one powertools Logger, whose handler keeps the stream that was
# sys.stdout when it was made. Made here, at collection, it writes to the session's output; made inside a
# capsys test it would keep that test's stream, closed once the test ends.

# A pipeline of its own: CI never publishes its builds and it waits 0 s for them, so every promotion
# started here ends at once with BuildNotPublished, before anything is deployed.
CLI_PIPELINE = "cli-tests"


@pytest.fixture
def local_state(plane: LocalControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The state file ``promote local up`` writes, pointing at the test session's plane."""
    return point_cli_at(plane, tmp_path, monkeypatch)


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
    monkeypatch.setenv("PROMOTE_STATE_DIR", str(tmp_path))
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


def start(pipeline: str, sha: str, *extra: str) -> list[str]:
    return ["--local", "start", "--pipeline", pipeline, "--sha", sha, *extra]


@pytest.fixture
def running_attempt(
    plane: LocalControlPlane, capsys: pytest.CaptureFixture[str], local_state: Path
) -> Iterator[dict[str, Any]]:
    """Attempt 1 of a commit whose build never comes: it waits in "Fetch artifact" (minutes, even scaled)."""
    sha = secrets.token_hex(20)
    assert cli.main(start("sentiment-service", sha, "--wait-for-build")) == 0
    started = json.loads(capsys.readouterr().out)
    yield {**started, "sha": sha}
    sfn = plane.client("stepfunctions")
    for execution in executions(plane):
        if execution["name"].startswith(f"sentiment-service-{sha[:12]}") and execution["status"] == "RUNNING":
            sfn.stop_execution(executionArn=execution["executionArn"])


@pytest.mark.usefixtures("local_state")
def test_a_commit_without_a_published_build_is_refused_before_anything_starts(
    plane: LocalControlPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = secrets.token_hex(20)
    count = len(executions(plane))
    assert cli.main(start("sentiment-service", sha)) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"promote: no build of {sha[:12]} is published (s3://")
    assert f"/builds/example-org/sentiment-service/{sha}/manifest.json not found)" in line
    assert line.endswith("or pass --wait-for-build to let the promotion wait up to 900s for it")
    assert len(executions(plane)) == count


def test_a_running_attempt_is_not_superseded_unless_asked(
    plane: LocalControlPlane, running_attempt: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given attempt 1 of a commit, still running
    sha, first = running_attempt["sha"], running_attempt["execution_arn"]
    count = len(executions(plane))

    # When the operator starts the commit again, then asks for attempt 1 again
    refused_next = cli.main(start("sentiment-service", sha, "--wait-for-build"))
    next_line = one_error_line(capsys)
    refused_same = cli.main(start("sentiment-service", sha, "--wait-for-build", "--attempt", "1"))
    same_line = one_error_line(capsys)

    # Then both are refused, naming the running execution, and nothing new starts
    assert (refused_next, refused_same) == (2, 2)
    assert next_line.startswith(f"promote: attempt 1 of {sha[:12]} is still running ({first}): ")
    assert next_line.endswith("or pass --supersede to start attempt 2, which takes over from it")
    assert same_line == (
        f"promote: attempt 1 of {sha[:12]} already exists (sentiment-service-{sha[:12]}-a1, RUNNING): "
        "leave out --attempt to start the next one"
    )
    assert len(executions(plane)) == count

    # And with --supersede, attempt 2 starts
    assert cli.main(start("sentiment-service", sha, "--wait-for-build", "--supersede")) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["attempt"] == 2
    assert second["execution_arn"] != first


def test_a_second_cancel_says_the_execution_is_already_stopped(
    plane: LocalControlPlane, running_attempt: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a promotion in "Fetch artifact"'s retry backoff (its build never comes)
    arn = running_attempt["execution_arn"]
    wait_for_retry_backoff(plane, arn)

    # When an operator cancels it twice: by the name the notices show, then by its ARN
    assert cli.main(["--local", "cancel", running_attempt["name"]]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "execution_arn": arn,
        "status": "ABORTED",
        "cleanup": "by the EventBridge rule",
    }
    second = cli.main(["--local", "cancel", arn])

    # Then the second cancel says it is already stopped, and the execution really stopped: no task
    # runs after the abort
    assert second == 2
    assert one_error_line(capsys) == f"promote: {arn} is already ABORTED"
    sfn = plane.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    time.sleep(2 * TIME_SCALE * 10)  # longer than the next retry interval would have been
    later = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert [e["type"] for e in later] == [e["type"] for e in events]
    assert later[-1]["type"] == "ExecutionAborted"
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"


def wait_for_retry_backoff(plane: LocalControlPlane, arn: str, timeout: float = 30) -> None:
    """Until the execution's task has failed at least once and is waiting to be retried."""
    sfn = plane.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        assert described["status"] == "RUNNING", described
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        if events[-1]["type"] == "LambdaFunctionFailed":
            return
        time.sleep(0.05)
    raise AssertionError(f"{arn} never failed a task to retry it")


@pytest.mark.usefixtures("local_state")
def test_starting_twice_makes_attempts_1_and_2_with_different_names(
    plane: LocalControlPlane, cli_pipeline: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a commit of the CLI's pipeline
    sha = secrets.token_hex(20)

    # When an operator starts its promotion, and again once the first attempt has ended
    assert cli.main(start(cli_pipeline, sha, "--wait-for-build")) == 0
    first = json.loads(capsys.readouterr().out)
    wait_for_end(plane, first["execution_arn"], timeout=60)
    assert cli.main(start(cli_pipeline, sha, "--wait-for-build")) == 0
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
    assert cli.main(start(cli_pipeline, sha, "--wait-for-build", "--attempt", "1")) == 0
    started = json.loads(capsys.readouterr().out)
    assert wait_for_end(plane, started["execution_arn"], timeout=60)["status"] == "FAILED"
    count = len(executions(plane))

    # When the operator asks for attempt 1 again
    code = cli.main(start(cli_pipeline, sha, "--wait-for-build", "--attempt", "1"))

    # Then the CLI says it exists, in one line
    assert code == 2
    assert one_error_line(capsys) == (
        f"promote: attempt 1 of {sha[:12]} already exists ({cli_pipeline}-{sha[:12]}-a1, FAILED): "
        "leave out --attempt to start the next one"
    )
    assert len(executions(plane)) == count


@pytest.mark.usefixtures("local_state")
@pytest.mark.parametrize(
    "argv",
    [
        ["rollback", "prod", "--pipeline", "no-such-pipeline", "--reason", "incident"],
        ["redeploy", "preprod", "0" * 40, "--pipeline", "no-such-pipeline"],
        ["redeploy", "prod", "--pipeline", "no-such-pipeline"],
        ["status", "--pipeline", "no-such-pipeline"],
        ["approvals", "list", "--pipeline", "no-such-pipeline"],
    ],
)
def test_an_unknown_pipeline_is_named_by_every_command(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--local", *argv]) == 2
    assert "unknown pipeline 'no-such-pipeline'" in one_error_line(capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ["local", "alarm", "svc-sentiment-prod-api-errors", "OK"],
        ["--local", "status", "--pipeline", "sentiment-service", "--json"],
    ],
)
def test_local_commands_need_no_aws_credentials(
    plane: LocalControlPlane, tmp_path: Path, argv: list[str]
) -> None:
    # A shell with no AWS configuration at all: the local plane takes any credentials, the CLI brings them.
    (tmp_path / "local.json").write_text(json.dumps(plane.ready_info()))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment |= {
        "PROMOTE_STATE_DIR": str(tmp_path),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    ran = subprocess.run(
        [sys.executable, "-m", "promote_cli", *argv],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)
