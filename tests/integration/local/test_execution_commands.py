"""``promote executions``, ``describe`` and ``watch`` against real promotions on the local plane."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import promotion.observability  # noqa: F401 - the handlers' logger is made at collection (see test_cli.py)
from promote_cli import cli, execution_commands
from promote_cli.local.plane import LocalControlPlane
from promotion.console import execution_console_url
from tests.support.approval_plane import derived_pipeline
from tests.support.promotion import (
    Promotion,
    decide_via_link,
    point_cli_at,
    publish_and_start,
    wait_for_approval_links,
    wait_for_end,
    wait_for_state,
)

APPROVER = "release-manager@example.com"


@pytest.fixture
def local_state(plane: LocalControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The state file ``promote local up`` writes, pointing at the test session's plane."""
    return point_cli_at(plane, tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def pipeline(plane: LocalControlPlane) -> str:
    """The sample pipeline under a name of its own, so the listings here hold only these tests' promotions."""
    return derived_pipeline(plane, "watch-cli")


def name_of(promotion: Promotion) -> str:
    return promotion.execution_arn.rsplit(":", 1)[1]


def run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = cli.main(["--local", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("local_state")
def test_executions_lists_a_running_and_a_failed_promotion_with_their_state(
    plane: LocalControlPlane, pipeline: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a promotion that failed in preprod, and one waiting for approval
    failed = publish_and_start(plane, pipeline=pipeline, variant="fails-preprod")
    assert wait_for_end(plane, failed.execution_arn)["status"] == "FAILED"
    waiting = publish_and_start(plane, pipeline=pipeline)
    wait_for_state(plane, waiting.execution_arn, "Wait for approval")

    # When an operator lists the pipeline's executions
    code, out, _ = run(capsys, "executions", "--pipeline", pipeline, "--json")

    # Then both are there, newest first, with their commit, status and current state
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert list(rows)[:2] == [name_of(waiting), name_of(failed)]
    assert rows[name_of(failed)]["status"] == "FAILED"
    assert rows[name_of(failed)]["commit"] == failed.sha[:12]
    assert rows[name_of(failed)]["state"] is None
    assert rows[name_of(failed)]["seconds"] > 0
    assert rows[name_of(waiting)]["status"] == "RUNNING"
    assert rows[name_of(waiting)]["state"] == "Wait for approval"
    assert {row["pipeline"] for row in rows.values()} == {pipeline}

    # And --status narrows the list to what is in it
    code, out, _ = run(capsys, "executions", "--pipeline", pipeline, "--status", "running", "--json")
    assert code == 0
    assert name_of(waiting) in [row["name"] for row in json.loads(out)]
    assert all(row["status"] == "RUNNING" for row in json.loads(out))

    # And the table names the same things
    code, out, _ = run(capsys, "executions", "--pipeline", pipeline)
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith(name_of(waiting)))
    assert line.split()[1:4] == [pipeline, waiting.sha[:12], "RUNNING"]
    assert line.endswith("  Wait for approval")
    assert run(capsys, "cancel", waiting.execution_arn)[0] == 0


@pytest.mark.usefixtures("local_state")
def test_describe_by_name_or_arn_shows_the_states_and_the_failure_without_a_stack_trace(
    plane: LocalControlPlane, pipeline: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a promotion whose integration tests failed
    failed = publish_and_start(plane, pipeline=pipeline, variant="fails-preprod")
    assert wait_for_end(plane, failed.execution_arn)["status"] == "FAILED"

    # When it is described by name, and by ARN
    code, out, _ = run(capsys, "describe", name_of(failed), "--json")
    by_arn_code, by_arn, _ = run(capsys, "describe", failed.execution_arn, "--json")

    # Then both name the same execution: its input, the states it went through, and why it failed
    assert (code, by_arn_code) == (0, 0)
    report = json.loads(out)
    assert {key: value for key, value in json.loads(by_arn).items()} == report
    assert report["execution_arn"] == failed.execution_arn
    # the local console's page of it, as every notice links it
    assert report["console_url"] == execution_console_url(failed.execution_arn, plane.console_url)
    assert report["console_url"].startswith(plane.console_url)
    assert (report["input"]["pipeline"], report["input"]["sha"]) == (pipeline, failed.sha)
    assert report["error"] == "IntegrationTestsFailed"
    assert "integration checks failed" in report["cause"]
    assert "Traceback" not in report["cause"]
    states = [state["state"] for state in report["states"]]
    assert states[states.index("Run integration tests") + 1] == "Roll back preprod"
    checks = report["states"][states.index("Run integration tests")]
    assert checks["error"]["error"] == "IntegrationTestsFailed"
    assert all(state["seconds"] >= 0 for state in report["states"])

    # And the text form says the same
    code, out, _ = run(capsys, "describe", name_of(failed))
    assert code == 0
    assert out.splitlines()[0].split() == [name_of(failed), "FAILED"]
    assert "IntegrationTestsFailed" in out
    assert "Traceback" not in out
    assert all(line == line.rstrip() for line in out.splitlines())  # piped: no table padding


@pytest.mark.usefixtures("local_state")
@pytest.mark.parametrize("command", ["describe", "watch"])
@pytest.mark.parametrize("execution", ["watch-cli-000000000000-a9", "not a name"])
def test_an_unknown_execution_is_one_line_and_exit_2(
    plane: LocalControlPlane, capsys: pytest.CaptureFixture[str], command: str, execution: str
) -> None:
    code, out, err = run(capsys, command, execution)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert plane.stack is not None
    expected = (
        f"promote: no execution named {execution!r} on {plane.stack.state_machine_arn}"
        if " " not in execution
        else f"promote: {execution!r} is neither an execution name nor an execution ARN"
    )
    assert err.strip() == expected


@pytest.mark.usefixtures("local_state")
def test_watch_shows_who_is_asked_and_the_link_then_follows_the_approval_to_success(
    plane: LocalControlPlane,
    pipeline: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a promotion, and an approver who approves from the emailed link once the watch has shown it
    promotion = publish_and_start(plane, pipeline=pipeline)
    approved: list[str] = []
    link_shown = threading.Event()
    outbox_links = execution_commands._outbox_links

    def watched_outbox_links(outbox_url: str) -> Callable[[str], dict[str, str]]:
        lookup = outbox_links(outbox_url)

        def links(approval_id: str) -> dict[str, str]:
            found = lookup(approval_id)
            if found:
                link_shown.set()
            return found

        return links

    monkeypatch.setattr(execution_commands, "_outbox_links", watched_outbox_links)

    def approver() -> None:
        (link,) = wait_for_approval_links(plane, promotion, timeout=60)
        if link_shown.wait(timeout=60):
            assert decide_via_link(link, "approve", "ship it").status_code == 200
            approved.append(link)

    thread = threading.Thread(target=approver)
    thread.start()

    # When an operator watches it by name
    code, out, err = run(capsys, "watch", name_of(promotion), "--interval", "0.2")
    thread.join(timeout=60)

    # Then the watch ended with the execution, which succeeded, and said who was asked and where the link is
    assert approved, "the approver never saw a link"
    assert (code, err) == (0, "")
    described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "SUCCEEDED"
    lines = out.splitlines()
    assert lines[1].strip() == f"console: {execution_console_url(promotion.execution_arn, plane.console_url)}"
    assert f"asked: {APPROVER} (1 approval(s) needed)" in out
    assert f"link for {APPROVER}: {approved[0]}" in out
    assert "decide: promote approve " in out
    assert lines.index(next(line for line in lines if "asked:" in line)) > lines.index(
        next(line for line in lines if line.endswith("  Wait for approval"))
    )
    assert "bake: poll 3 of 3" in out
    assert lines[-1].split("  ", 1)[1].startswith("SUCCEEDED after ")
    for state in promotion.states():
        assert any(line.endswith(f"  {state}") for line in lines), state


@pytest.mark.usefixtures("local_state")
def test_watch_of_a_failing_promotion_exits_1_with_the_error_and_its_cause(
    plane: LocalControlPlane, pipeline: str, capsys: pytest.CaptureFixture[str]
) -> None:
    promotion = publish_and_start(plane, pipeline=pipeline, variant="fails-preprod")
    code, out, err = run(capsys, "watch", promotion.execution_arn, "--interval", "0.2")
    assert (code, err) == (1, "")
    final = out.splitlines()[-1]
    assert "FAILED after " in final
    # (the HTTP checks and the service's own cases: 1 failed of them all)
    assert re.search(r": IntegrationTestsFailed: 1/\d+ integration checks failed", final), final
    assert "✗ IntegrationTestsFailed after " in out
    assert "Traceback" not in out


@pytest.mark.usefixtures("local_state")
def test_watch_with_a_timeout_gives_up_with_one_line_and_exit_1(
    plane: LocalControlPlane, pipeline: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a promotion waiting for an approval nobody gives
    promotion = publish_and_start(plane, pipeline=pipeline)
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")

    # When it is watched with a timeout
    code, _, err = run(capsys, "watch", name_of(promotion), "--timeout", "0.5", "--interval", "0.2")

    # Then the watch gives up in one line, and the promotion goes on
    assert code == 1
    assert err.splitlines() == [
        f"promote: {name_of(promotion)} is still RUNNING in 'Wait for approval' after the --timeout of 0.5 s"
    ]
    described = plane.client("stepfunctions").describe_execution(executionArn=promotion.execution_arn)
    assert described["status"] == "RUNNING"
    assert run(capsys, "cancel", promotion.execution_arn)[0] == 0
    assert wait_for_end(plane, promotion.execution_arn)["status"] == "ABORTED"
