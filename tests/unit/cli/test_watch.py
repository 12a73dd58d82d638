"""``promote watch`` over recorded histories replayed as if running: its lines, its end, its exit."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from promote_cli.execution_history import format_seconds
from promote_cli.watch import Watcher, make_console
from promotion.models.approval import ApprovalPolicy, ApprovalRecord
from tests.support.histories import RECORDED, Recorded, ReplayedExecution, recorded

APPROVER = "release-manager@example.com"


def approval_for(history: Recorded, *, votes: int = 0) -> ApprovalRecord:
    requested = int(history.describe["startDate"].timestamp())
    return ApprovalRecord.model_validate(
        {
            "approval_id": "a1b2c3d4e5f6",
            "task_token": "token",
            "execution_arn": history.describe["executionArn"],
            "execution_name": history.describe["name"],
            "pipeline": "sentiment-service",
            "repo": "example-org/sentiment-service",
            "sha": "0" * 40,
            "artifact_sha256": "0" * 64,
            "preprod_report": "",
            "approvers": [APPROVER, "second@example.com"],
            "requested_at": requested,
            "expires_at": requested + 600,
            "policy": ApprovalPolicy(approvers=[APPROVER, "second@example.com"], required_approvals=2),
            "votes": {APPROVER: {"at": requested, "channel": "email"}} if votes else {},
        }
    )


def watch(
    history: Recorded, *, step: int = 5, timeout: float | None = None, **options: object
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    ticks = iter(range(10_000))
    watcher = Watcher(
        ReplayedExecution(history, step=step),
        history.describe,
        make_console(out),
        timeout=timeout,
        errors=err,
        sleep=lambda _: None,
        clock=lambda: float(next(ticks)),
        now=lambda: history.describe["startDate"],
        **options,  # type: ignore[arg-type]
    )
    return watcher.run(), out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", RECORDED)
def test_it_follows_to_the_end_printing_each_state_once_and_exits_0_only_on_success(name: str) -> None:
    history = recorded(name)
    code, out, err = watch(history)
    assert code == (0 if history.describe["status"] == "SUCCEEDED" else 1)
    assert err == ""
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in history.events if e["type"].endswith("StateEntered")
    ]
    lines = out.splitlines()
    state_lines = [line[10:] for line in lines if line[:2].isdigit() and not line[10:].startswith(" ")]
    assert state_lines[: len(entered)] == entered
    assert lines[-1].split("  ", 1)[1].startswith(f"{history.describe['status']} after ")
    assert "Traceback" not in out
    assert "stackTrace" not in out


def test_the_final_line_has_the_error_and_the_cause_message() -> None:
    history = recorded("never_published")
    code, out, _ = watch(history)
    assert code == 1
    final = out.splitlines()[-1]
    assert ": BuildNotPublished: no build of example-org/sentiment-service@" in final
    assert "    ↻ ArtifactNotFound on attempt 1: retrying" in out
    assert "    ↻ ArtifactNotFound on attempt 2: retrying" in out


def test_at_the_approval_it_says_who_is_asked_until_when_and_the_link_once() -> None:
    history = recorded("approved")
    record = approval_for(history)
    lookups: list[str] = []

    def approvals(execution_arn: str) -> list[ApprovalRecord]:
        lookups.append(execution_arn)
        return [record]

    link = f"http://127.0.0.1:9/approvals/{record.approval_id}?approver=x&expires=1&sig=00"
    code, out, _ = watch(history, step=1, approvals=approvals, links=lambda approval_id: {APPROVER: link})
    assert code == 0
    assert lookups
    assert set(lookups) == {history.describe["executionArn"]}
    assert out.count(f"asked: {APPROVER}, second@example.com (2 approval(s) needed)") == 1
    until = datetime.fromtimestamp(record.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    left = format_seconds(record.expires_at - history.describe["startDate"].timestamp())  # the replay's now
    assert left.startswith("9 min 59 s") or left == "10 min 00 s"
    assert out.count(f"until: {until} (in {left})") == 1
    assert out.count(f"decide: promote approve {record.approval_id}") == 1
    assert out.count(f"link for {APPROVER}: {link}") == 1
    # all of it under the wait, before the state after it
    assert out.index("asked:") > out.index("Wait for approval")
    assert out.index("asked:") < out.index("Verify approval")


def test_a_vote_while_waiting_is_shown_as_it_arrives() -> None:
    history = recorded("approved")
    answers = iter([approval_for(history), approval_for(history), approval_for(history, votes=1)])
    last = approval_for(history, votes=1)
    code, out, _ = watch(history, step=1, approvals=lambda arn: [next(answers, last)])
    assert code == 0
    assert "(2 approval(s) needed)" in out
    assert "(2 approval(s) needed, 1 so far)" in out


def test_an_unreadable_approvals_table_is_said_once_and_the_watch_goes_on() -> None:
    history = recorded("approved")

    def denied(execution_arn: str) -> list[ApprovalRecord]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not you"}}, "Query")

    code, out, _ = watch(history, step=1, approvals=denied)
    assert code == 0
    assert out.count("who is asked: promote approvals list") == 1


def test_timeout_is_one_line_on_stderr_and_exit_1() -> None:
    history = recorded("approved")
    code, out, err = watch(history, step=1, timeout=3)
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(f"promote: {history.describe['name']} is still RUNNING in ")
    assert err.rstrip().endswith("after the --timeout of 3 s")
    assert "SUCCEEDED" not in out


def test_without_a_timeout_it_waits_as_long_as_the_execution_runs() -> None:
    history = recorded("approved")
    code, _, _ = watch(history, step=1)  # one event per poll: as many polls as events
    assert code == 0
