"""The approval rules, on moto tables shaped by template.yaml: one decision path for every channel."""

from __future__ import annotations

import dataclasses
import html
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from promote_cli.cli import build_parser
from promotion.approvals import links
from promotion.approvals.collaborators import ApprovalQueued, DecisionNotDelivered
from promotion.approvals.decisions import Actor, decide, decide_by_operator
from promotion.approvals.expiry import AuditedExpirer
from promotion.approvals.request import open_approval
from promotion.errors import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApproverNotAllowed,
    SelfApprovalRefused,
)
from promotion.models.approval import SlackMessageRef
from promotion.models.config import PipelineConfig
from promotion.models.execution import CommitIdentity, CommitInfo
from tests.support.approval_fakes import (
    SIGNING_KEY,
    ApprovalWorld,
    approval_world,
    github_identity,
    pipeline,
    request,
)

NOW = 1_800_000_000.0
SHA_A = "a" * 40
SHA_B = "b" * 40
RELEASE = "release-manager@example.com"
SECOND = "second@example.com"
AUTHOR_VERIFIED = github_identity("octo", RELEASE)
OTHER_AUTHOR = github_identity("dev", "dev@example.com")


@pytest.fixture
def world() -> Iterator[ApprovalWorld]:
    with approval_world() as world:
        yield world


def test_on_a_control_plane_with_its_own_console_every_message_links_there(world: ApprovalWorld) -> None:
    # Given a control plane whose console is its own (the local plane's)
    console = "http://127.0.0.1:8123/_local/console"
    notifier = dataclasses.replace(world.notifier, console_base=console)

    # When an approval is requested
    record = open_approval(world.services, notifier, config=pipeline(), request=request(SHA_A), now=NOW)

    # Then the record, and so the email's text and HTML, link to the execution there
    assert record.console_url.startswith(console + "/executions/")
    (mail,) = world.mailer.sent
    assert record.console_url in mail["text"]
    assert record.console_url in mail["html"]
    assert "console.aws.amazon.com" not in mail["text"] + mail["html"]


def email_actor(approver: str = RELEASE) -> Actor:
    return Actor(approver=approver, channel="email", identity=f"signed link for {approver}")


def test_a_request_stores_the_facts_and_mails_each_approver_without_the_token(world: ApprovalWorld) -> None:
    # Given a pipeline with two approvers, when a verified commit asks for approval
    config = pipeline(approvers=[RELEASE, SECOND], timeout_seconds=3600)
    record = world.ask(config=config, request=request(SHA_A, identity=OTHER_AUTHOR), now=NOW)

    # Then the record holds the facts, the expiry is the task's timeout, and the policy is snapshotted
    stored = world.store.get(record.approval_id)
    assert stored.status == "pending"
    assert stored.expires_at == int(NOW) + 3600
    assert stored.commit.author_login == "dev"
    assert stored.commit.verified
    assert stored.compare_url == f"https://github.com/example-org/sentiment-service/commit/{SHA_A}"
    assert "console.aws.amazon.com/states" in stored.console_url
    assert stored.rules.approvers == [RELEASE, SECOND]

    # And each approver gets text and HTML with their own Approve and Reject links; no task token anywhere
    assert [mail["to"] for mail in world.mailer.sent] == [[RELEASE], [SECOND]]
    for mail, approver in zip(world.mailer.sent, [RELEASE, SECOND], strict=True):
        signed = links.sign(SIGNING_KEY, record.approval_id, approver, record.expires_at)
        assert signed.signature in mail["text"]
        assert signed.signature in mail["html"]
        assert "intent=approve" in mail["text"]
        assert "intent=reject" in mail["text"]
        assert "Fix scoring" in mail["text"]
        assert "dev / dev@example.com (verified)" in mail["text"]
        assert record.task_token not in mail["text"] + mail["html"]
    assert world.actions(record.approval_id) == ["requested"]


def test_an_approval_id_never_reads_as_a_command_line_option(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given random bytes whose URL-safe base64 would begin with "-" (one request in 64)
    monkeypatch.setattr(secrets, "token_bytes", lambda size=None: b"\xf8" + b"\x00" * ((size or 32) - 1))

    # When a request is opened
    record = world.ask(config=pipeline(), request=request(SHA_A), now=NOW)

    # Then `promote approve ID` parses the id as the approval, not as an unknown option
    assert not record.approval_id.startswith("-")
    arguments = build_parser().parse_args(["approve", record.approval_id])
    assert arguments.approval_id == record.approval_id


def test_slack_gets_a_block_kit_message_with_buttons_that_carry_only_the_approval_id(
    world: ApprovalWorld,
) -> None:
    config = pipeline(
        channels=["email", "slack"],
        slack={"channel": "C0APPROVALS", "approvers": {"U0RM": RELEASE}, "team_id": "T0TEAM"},
    )
    record = world.ask(config=config, request=request(SHA_A), now=NOW)

    (post,) = world.slack.posts
    assert post["channel"] == "C0APPROVALS"
    buttons = [
        element for block in post["blocks"] if block["type"] == "actions" for element in block["elements"]
    ]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("approve", record.approval_id),
        ("reject", record.approval_id),
    ]
    assert record.task_token not in json.dumps(post)
    assert world.store.get(record.approval_id).slack_message is not None


def test_approval_sends_task_success_naming_the_approver_and_channel(world: ApprovalWorld) -> None:
    record = world.ask(
        config=pipeline(),
        request=request(SHA_A, identity=OTHER_AUTHOR),
        now=NOW,
    )

    result = decide(world.services, record.approval_id, email_actor(), "approve", comment="ship", now=NOW + 5)

    assert result.final
    assert result.record.status == "approved"
    ((operation, params),) = world.sfn.calls
    assert operation == "SendTaskSuccess"
    assert params["taskToken"] == record.task_token
    output = json.loads(params["output"])
    assert output["approved_by"] == RELEASE
    assert output["channel"] == "email"
    assert output["approvers"] == [RELEASE]
    assert world.actions(record.approval_id) == ["requested", "approved", "decided"]


def test_rejection_sends_task_failure_rejected_with_the_reason(world: ApprovalWorld) -> None:
    record = world.ask(config=pipeline(), request=request(SHA_A), now=NOW)

    decide(world.services, record.approval_id, email_actor(), "reject", comment="breaks billing", now=NOW + 1)

    ((operation, params),) = world.sfn.calls
    assert operation == "SendTaskFailure"
    assert params["error"] == "Rejected"
    assert "rejected by release-manager@example.com via email" in params["cause"]
    assert "breaks billing" in params["cause"]
    history = world.audit.history(record.approval_id)
    assert history[-1].action == "rejected"
    assert history[-1].comment == "breaks billing"


def test_a_second_decision_changes_nothing_and_says_who_decided_when(world: ApprovalWorld) -> None:
    record = world.ask(
        config=pipeline(),
        request=request(SHA_A, identity=OTHER_AUTHOR),
        now=NOW,
    )
    decide(world.services, record.approval_id, email_actor(), "approve", comment="", now=NOW + 1)

    with pytest.raises(ApprovalAlreadyDecided, match=r"already approved by release-manager@example.com at "):
        decide(world.services, record.approval_id, email_actor(), "reject", comment="", now=NOW + 2)

    assert len(world.sfn.calls) == 1
    assert world.store.get(record.approval_id).status == "approved"
    assert world.actions(record.approval_id)[-1] == "refused"


def test_someone_not_on_the_allowlist_cannot_decide(world: ApprovalWorld) -> None:
    record = world.ask(config=pipeline(), request=request(SHA_A), now=NOW)

    with pytest.raises(ApproverNotAllowed):
        decide(
            world.services,
            record.approval_id,
            email_actor("intruder@example.com"),
            "approve",
            comment="",
            now=NOW + 1,
        )

    assert world.sfn.calls == []
    assert world.store.get(record.approval_id).status == "pending"


NOREPLY_OCTO = "12345+octo@users.noreply.github.com"


@pytest.mark.parametrize(
    ("commit", "identity", "settings", "allowed"),
    [
        # GitHub's API names the author: matched by email
        (None, AUTHOR_VERIFIED, {}, False),
        # matched by GitHub login through the approver's mapping, even with another email on the commit
        (None, github_identity("Octo", "x@y.z"), {"github_logins": {RELEASE: "octo"}}, False),
        # ... or as the committer (someone else's authorship, the approver's push)
        (
            None,
            github_identity("dev", "dev@example.com", committer="octo", committer_email="x@y.z"),
            {"github_logins": {RELEASE: "octo"}},
            False,
        ),
        # ... or claimed by a noreply address, as author or committer, even with no account behind it
        (None, github_identity(None, NOREPLY_OCTO), {"github_logins": {RELEASE: "octo"}}, False),
        (
            None,
            github_identity("dev", "dev@example.com", committer=None, committer_email=NOREPLY_OCTO),
            {"github_logins": {RELEASE: "octo"}},
            False,
        ),
        (None, OTHER_AUTHOR, {"github_logins": {RELEASE: "octo"}}, True),
        (None, OTHER_AUTHOR, {}, True),
        (None, AUTHOR_VERIFIED, {"allow_self_approval": True}, True),
        # the webhook's words (even attested) are claims: a match refuses, a mismatch establishes nothing
        (CommitInfo(author_login="octo", verified=True), None, {"github_logins": {RELEASE: "octo"}}, False),
        (CommitInfo(author_login="dev", author_email="dev@example.com", verified=True), None, {}, False),
        # unverified or unknown author: refused by default (fail closed), allowed only when configured
        (CommitInfo(author_email="dev@example.com", verified=False), None, {}, False),
        (None, github_identity(None, "dev@example.com"), {}, False),
        (None, None, {}, False),
        (None, None, {"unverified_author": "allow"}, True),
        (None, github_identity(None, NOREPLY_OCTO), {"unverified_author": "allow"}, True),
        (
            None,
            github_identity(None, NOREPLY_OCTO),
            {"unverified_author": "allow", "github_logins": {RELEASE: "octo"}},
            False,
        ),
    ],
)
def test_the_two_person_rule(
    world: ApprovalWorld,
    commit: CommitInfo | None,
    identity: CommitIdentity | None,
    settings: dict[str, object],
    allowed: bool,
) -> None:
    record = world.ask(
        config=pipeline(**settings),
        request=request(SHA_A, commit=commit, identity=identity),
        now=NOW,
    )

    if allowed:
        assert decide(
            world.services, record.approval_id, email_actor(), "approve", comment="", now=NOW + 1
        ).final
        assert world.sfn.calls[0][0] == "SendTaskSuccess"
    else:
        with pytest.raises(SelfApprovalRefused):
            decide(world.services, record.approval_id, email_actor(), "approve", comment="", now=NOW + 1)
        assert world.sfn.calls == []
        refused = world.audit.history(record.approval_id)[-1]
        assert refused.action == "refused"
        assert "SelfApprovalRefused" in refused.detail


def test_an_unverified_author_allowed_by_config_is_recorded_as_unchecked(world: ApprovalWorld) -> None:
    record = world.ask(
        config=pipeline(unverified_author="allow"),
        request=request(SHA_A),
        now=NOW,
    )
    decide(world.services, record.approval_id, email_actor(), "approve", comment="", now=NOW + 1)
    approved = next(e for e in world.audit.history(record.approval_id) if e.action == "approved")
    assert "two-person rule NOT checked" in approved.detail


def test_the_author_may_still_reject_their_own_change(world: ApprovalWorld) -> None:
    record = world.ask(
        config=pipeline(),
        request=request(SHA_A, identity=AUTHOR_VERIFIED),
        now=NOW,
    )
    decide(world.services, record.approval_id, email_actor(), "reject", comment="not ready", now=NOW + 1)
    assert world.sfn.calls[0][1]["error"] == "Rejected"


def test_n_distinct_approvals(world: ApprovalWorld) -> None:
    # Given a pipeline that needs two distinct approvers
    config = pipeline(approvers=[RELEASE, SECOND], required_approvals=2)
    record = world.ask(config=config, request=request(SHA_A, identity=OTHER_AUTHOR), now=NOW)

    # When the first approves, nothing is sent yet, and the same person cannot count twice
    first = decide(
        world.services, record.approval_id, email_actor(RELEASE), "approve", comment="", now=NOW + 1
    )
    assert not first.final
    assert first.summary() == "approval recorded (1 of 2); waiting for 1 more"
    assert world.sfn.calls == []
    with pytest.raises(ApprovalAlreadyDecided, match="waiting for 1 more"):
        decide(world.services, record.approval_id, email_actor(RELEASE), "approve", comment="", now=NOW + 2)

    # Then the second approval completes it, naming both
    second = decide(
        world.services, record.approval_id, email_actor(SECOND), "approve", comment="", now=NOW + 3
    )
    assert second.final
    output = json.loads(world.sfn.calls[0][1]["output"])
    assert output["approvers"] == [RELEASE, SECOND]
    assert output["approved_by"] == f"{RELEASE}, {SECOND}"


def test_an_expired_request_cannot_be_decided_and_turns_expired(world: ApprovalWorld) -> None:
    config = pipeline(
        channels=["email", "slack"],
        slack={"channel": "C0APPROVALS", "approvers": {"U0RM": RELEASE}, "team_id": "T0TEAM"},
        timeout_seconds=60,
    )
    record = world.ask(config=config, request=request(SHA_A, identity=OTHER_AUTHOR), now=NOW)

    with pytest.raises(ApprovalExpired):
        decide(world.services, record.approval_id, email_actor(), "approve", comment="", now=NOW + 60)

    assert world.sfn.calls == []
    assert world.store.get(record.approval_id).status == "expired"
    assert "Expired" in world.slack.updates[-1]["text"]
    assert "expired" in world.actions(record.approval_id)


def test_a_task_that_stopped_waiting_expires_the_record(world: ApprovalWorld) -> None:
    record = world.ask(
        config=pipeline(),
        request=request(SHA_A, identity=OTHER_AUTHOR),
        now=NOW,
    )
    world.sfn.fail_with = "TaskTimedOut"

    with pytest.raises(ApprovalExpired, match="no longer waiting"):
        decide(world.services, record.approval_id, email_actor(), "approve", comment="", now=NOW + 1)

    assert world.store.get(record.approval_id).status == "expired"


def test_a_transient_step_functions_error_reopens_the_request_for_a_retry(world: ApprovalWorld) -> None:
    record = world.ask(
        config=pipeline(),
        request=request(SHA_A, identity=OTHER_AUTHOR),
        now=NOW,
    )
    world.sfn.fail_with = "ThrottlingException"

    with pytest.raises(DecisionNotDelivered):
        decide(world.services, record.approval_id, email_actor(), "approve", comment="", now=NOW + 1)
    reopened = world.store.get(record.approval_id)
    assert reopened.status == "pending"
    assert reopened.votes == {}

    world.sfn.fail_with = None
    assert decide(world.services, record.approval_id, email_actor(), "approve", comment="", now=NOW + 2).final


def test_a_newer_request_supersedes_the_older_waiting_one(world: ApprovalWorld) -> None:
    # Given an older request waiting, with a Slack message
    config = pipeline(
        channels=["email", "slack"],
        slack={"channel": "C0APPROVALS", "approvers": {"U0RM": RELEASE}, "team_id": "T0TEAM"},
    )
    older = world.ask(config=config, request=request(SHA_A, execution="old"), now=NOW)

    # When a newer promotion of the same pipeline asks
    newer = world.ask(config=config, request=request(SHA_B, execution="new"), now=NOW + 10)

    # Then the older one's task fails as Superseded, its record and Slack message say so
    ((operation, params),) = world.sfn.calls
    assert operation == "SendTaskFailure"
    assert params["error"] == "Superseded"
    assert params["taskToken"] == older.task_token
    closed = world.store.get(older.approval_id)
    assert closed.status == "superseded"
    assert closed.superseded_by == newer.approval_id
    assert world.slack.updates[-1]["text"].endswith(f": Superseded by {SHA_B[:12]} at 2027-01-15T08:00:10Z")
    assert world.store.get(newer.approval_id).status == "pending"
    assert world.actions(older.approval_id) == ["requested", "superseded"]
    with pytest.raises(ApprovalExpired, match="superseded"):
        decide(world.services, older.approval_id, email_actor(), "approve", comment="", now=NOW + 11)


def test_queue_mode_keeps_the_older_request_and_decides_in_order(world: ApprovalWorld) -> None:
    config = pipeline(on_newer_request="queue")
    older = world.ask(
        config=config,
        request=request(SHA_A, execution="old", identity=OTHER_AUTHOR),
        now=NOW,
    )
    newer = world.ask(
        config=config,
        request=request(SHA_B, execution="new", identity=OTHER_AUTHOR),
        now=NOW + 10,
    )

    assert world.sfn.calls == []
    assert "Queued:     behind old" in world.mailer.sent[-1]["text"]
    with pytest.raises(ApprovalQueued):
        decide(world.services, newer.approval_id, email_actor(), "approve", comment="", now=NOW + 11)

    decide(world.services, older.approval_id, email_actor(), "approve", comment="", now=NOW + 12)
    assert decide(world.services, newer.approval_id, email_actor(), "approve", comment="", now=NOW + 13).final
    assert [call[0] for call in world.sfn.calls] == ["SendTaskSuccess", "SendTaskSuccess"]


def test_expire_for_execution_expires_only_that_executions_pending_records(world: ApprovalWorld) -> None:
    config = pipeline(
        on_newer_request="queue",
        channels=["email", "slack"],
        slack={"channel": "C0APPROVALS", "approvers": {"U0RM": RELEASE}, "team_id": "T0TEAM"},
    )
    waiting = world.ask(config=config, request=request(SHA_A, execution="one"), now=NOW)
    other = world.ask(config=config, request=request(SHA_B, execution="two"), now=NOW + 1)

    expired = AuditedExpirer(world.services).expire_for_execution(waiting.execution_arn, at=int(NOW) + 5)

    assert [record.approval_id for record in expired] == [waiting.approval_id]
    assert world.store.get(waiting.approval_id).status == "expired"
    assert world.store.get(other.approval_id).status == "pending"
    assert world.actions(waiting.approval_id)[-1] == "expired"
    assert "Expired" in world.slack.updates[-1]["text"]
    # a second call finds nothing left to expire
    assert world.store.expire_for_execution(waiting.execution_arn, at=int(NOW) + 6) == []


@pytest.mark.parametrize(
    ("principal", "approver"),
    [
        ("arn:aws:iam::123456789012:user/alice", RELEASE),
        ("arn:aws:sts::123456789012:assumed-role/Release/alice", SECOND),
        ("arn:aws:iam::123456789012:user/mallory", None),
    ],
)
def test_operators_act_as_the_approver_their_identity_maps_to(
    world: ApprovalWorld, principal: str, approver: str | None
) -> None:
    config = pipeline(
        approvers=[RELEASE, SECOND],
        operators={
            "arn:aws:iam::123456789012:user/alice": RELEASE,
            "arn:aws:sts::123456789012:assumed-role/Release/*": SECOND,
        },
    )
    record = world.ask(config=config, request=request(SHA_A, identity=OTHER_AUTHOR), now=NOW)

    if approver is None:
        with pytest.raises(ApproverNotAllowed):
            decide_by_operator(
                world.services,
                record.approval_id,
                principal_arn=principal,
                decision="approve",
                reason="",
                now=NOW + 1,
            )
        assert world.actions(record.approval_id)[-1] == "refused"
        return
    decide_by_operator(
        world.services,
        record.approval_id,
        principal_arn=principal,
        decision="approve",
        reason="ok",
        now=NOW + 1,
    )
    output = json.loads(world.sfn.calls[0][1]["output"])
    assert output == {**output, "approved_by": approver, "channel": "operator"}
    approved = next(e for e in world.audit.history(record.approval_id) if e.action == "approved")
    assert principal in approved.detail


def test_an_approver_committing_through_their_noreply_address_cannot_approve_alone(
    world: ApprovalWorld,
) -> None:
    # Given an approver mapped to the GitHub login lead-gh, and a commit whose author email is lead-gh's
    # noreply address (what GitHub's "keep my email private" setting puts on every commit)
    config = pipeline(approvers=[RELEASE, SECOND], github_logins={RELEASE: "lead-gh"})
    noreply = CommitInfo(
        message="Fix scoring", author_email="12345+lead-gh@users.noreply.github.com", verified=True
    )
    record = world.ask(config=config, request=request(SHA_A, commit=noreply), now=NOW)

    # When that approver approves, then it is refused: the address claims their login
    with pytest.raises(SelfApprovalRefused):
        decide(world.services, record.approval_id, email_actor(RELEASE), "approve", comment="", now=NOW + 1)
    assert world.sfn.calls == []
    # And nothing told the approvers the author was verified: no API confirmed that login
    assert all("(verified)" not in mail["text"] for mail in world.mailer.sent)


def test_a_new_attempt_started_by_an_operator_can_be_approved_once_github_names_the_author(
    world: ApprovalWorld,
) -> None:
    # Given attempt 2 of a commit, started by `promote redeploy` / `promote start`: its input carries no
    # commit facts and no attestation (only the webhook attests, and it starts attempt 1 only)
    from promotion.models.execution import ApprovalPath, ExecutionInput, Trigger
    from promotion.models.steps import RequestApprovalRequest
    from promotion.steps import request_approval as request_approval_step
    from tests.support.approval_fakes import artifact, preprod_report

    config = pipeline()
    retried = ExecutionInput(
        pipeline=config.name, sha=SHA_A, attempt=2, trigger=Trigger(source="cli", requested_by="ops")
    )

    def ask(path: ApprovalPath, execution: str) -> str:
        state = RequestApprovalRequest(
            task_token=f"token-{execution}",
            execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:unit-promotion:{execution}",
            execution_name=execution,
            pipeline=config.name,
            artifact=artifact(SHA_A),
            integration=preprod_report(),
            execution_input=retried,
            approval_path=path,
        )
        opened = request_approval_step.request_approval(
            ConfigOf(config),
            world.services,
            world.notifier,
            request=state,
            now=NOW,
            attestation_key=SIGNING_KEY,
        )
        return str(opened["approval_id"])

    # When GitHub could not name the author, the pipeline's "refuse" holds
    unknown = ask(
        ApprovalPath(
            decision="approval_required", reason="r", commit=CommitIdentity(unavailable="GitHub down")
        ),
        "attempt-2",
    )
    with pytest.raises(SelfApprovalRefused, match="unknown or unverified"):
        decide(world.services, unknown, email_actor(), "approve", comment="", now=NOW + 1)

    # And when "Decide approval path" established the author through GitHub's API, it can be approved
    known = ask(ApprovalPath(decision="approval_required", reason="r", commit=OTHER_AUTHOR), "attempt-3")
    assert world.store.get(known).commit.author_confirmed
    assert decide(world.services, known, email_actor(), "approve", comment="", now=NOW + 2).final


class ConfigOf:
    def __init__(self, config: PipelineConfig) -> None:
        self._config = config

    def get(self, pipeline: str) -> PipelineConfig:
        return self._config


def test_the_webhooks_words_still_refuse_when_githubs_api_names_no_account(world: ApprovalWorld) -> None:
    # GitHub's API answered, but links the author's email to no account; the attested webhook named the
    # approver's address: a claim, which refuses (fail closed)
    record = world.ask(
        config=pipeline(unverified_author="allow"),
        request=request(
            SHA_A,
            commit=CommitInfo(author_login="rm", author_email=RELEASE, verified=True),
            identity=github_identity(None, "ci@example.com"),
        ),
        now=NOW,
    )
    with pytest.raises(SelfApprovalRefused, match="is the commit's author"):
        decide(world.services, record.approval_id, email_actor(), "approve", comment="", now=NOW + 1)


@pytest.mark.parametrize(
    ("trigger", "shown"),
    [
        # Anyone allowed to StartExecution writes what they like here: the page must not pass it off as known.
        (
            {"source": "cli", "requested_by": "the-ceo"},
            "the-ceo (stated by whoever started the execution; not verified)",
        ),
        # The webhook wrote it from a delivery whose signature it checked: GitHub's word, shown as such.
        ({"source": "webhook", "requested_by": "GitHub push (octocat)"}, "GitHub push (octocat)"),
    ],
)
def test_the_requester_named_in_the_execution_input_is_shown_as_a_claim_and_never_audited_as_the_actor(
    world: ApprovalWorld, trigger: dict[str, str], shown: str
) -> None:
    from promotion.approvals.pages import confirmation_page
    from promotion.models.execution import ApprovalPath, ExecutionInput, Trigger
    from promotion.models.steps import RequestApprovalRequest
    from promotion.steps import request_approval as request_approval_step
    from tests.support.approval_fakes import artifact, preprod_report

    # Given an execution whose input names who asked for it
    config = pipeline()
    state = RequestApprovalRequest(
        task_token="token-claimed",
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:unit-promotion:claimed",
        execution_name="claimed",
        pipeline=config.name,
        artifact=artifact(SHA_A),
        integration=preprod_report(),
        execution_input=ExecutionInput(
            pipeline=config.name, sha=SHA_A, attempt=2, trigger=Trigger.model_validate(trigger)
        ),
        approval_path=ApprovalPath(decision="approval_required", reason="r", commit=OTHER_AUTHOR),
    )

    # When "Wait for approval" opens the request
    opened = request_approval_step.request_approval(
        ConfigOf(config), world.services, world.notifier, request=state, now=NOW, attestation_key=SIGNING_KEY
    )

    # Then the record and the page say whose word it is
    record = world.store.get(str(opened["approval_id"]))
    assert record.requested_by == shown
    page = confirmation_page(
        record, approver=RELEASE, expires="1", signature="s", csrf_nonce="n", csrf_token="t"
    )
    assert html.escape(shown) in page
    # And the audit's actor for the request is the control plane, which is what made it
    (requested,) = [event for event in world.audit.history(record.approval_id) if event.action == "requested"]
    assert requested.actor == "state-machine"
    assert shown in requested.detail


def test_a_request_that_times_out_while_its_slack_message_is_posted_still_loses_its_buttons(
    world: ApprovalWorld,
) -> None:
    # Given a Slack approval whose task times out while the request's message is on its way to Slack
    # (the expiry finds no message to update yet)
    config = pipeline(
        channels=["email", "slack"],
        slack={"channel": "C0APPROVALS", "approvers": {"U0RM": RELEASE}, "team_id": "T0TEAM"},
    )
    post = world.slack.post

    def post_while_the_task_times_out(channel: str, **message: Any) -> SlackMessageRef:
        (pending,) = world.store.list_open()
        assert AuditedExpirer(world.services).expire_for_execution(pending.execution_arn, at=int(NOW) + 1)
        assert world.slack.updates == []
        return post(channel, **message)

    world.slack.post = post_while_the_task_times_out  # type: ignore[method-assign]

    # When the request goes out
    record = world.ask(config=config, request=request(SHA_A), now=NOW)

    # Then the message, once posted, is updated to say the request expired, without its buttons
    assert world.store.get(record.approval_id).status == "expired"
    (update,) = world.slack.updates
    assert update["message"] == world.store.get(record.approval_id).slack_message
    assert "Expired" in update["text"]
    assert not any(block["type"] == "actions" for block in update["blocks"])
