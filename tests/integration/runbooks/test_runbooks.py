"""Every runbook of docs/runbooks/, run: each scenario is driven on the local plane (real ASL and handlers,
time scale 0.1) to the end state the page is about, then the page's own ```sh blocks run, in order (Check,
Recover, Confirm), as ``promote --local`` in a process of their own. Each command must exit as the page
says; each block's output must show what its ``<!-- expect: ... -->`` comments say; the notice the page
quotes must be the one the team got. Check and Confirm blocks only look, so they are run again until what
they should show is there (a new attempt takes seconds to reach its approval)."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from promote_cli.local.plane import LocalControlPlane
from promotion.dal.approvals import DynamoApprovalStore
from tests.support.alarms import set_alarms
from tests.support.fault_matrix import environment_store, inject_state_fault, matrix_pipeline_document
from tests.support.faults import AwsFault, aws_fault
from tests.support.operator_cli import promote
from tests.support.promotion import (
    Promotion,
    alarm_during_bake,
    approve_by_link,
    control,
    decide_via_link,
    declare_ahead_of_prod,
    new_sha,
    outbox,
    publish_and_start,
    publish_for,
    token_from_history,
    tuned_pipeline,
    wait_for_approval_links,
    wait_for_end,
    wait_for_state,
)
from tests.support.runbooks import READ_ONLY_SECTIONS, RUNBOOKS, Block, Command, expand, parse_page

TEAM = "team@example.com"
PROD_ALARMS = [
    "svc-sentiment-prod-api-errors",
    "svc-sentiment-prod-api-p99",
    "svc-sentiment-prod-worker-errors",
]
# How long a Check or Confirm block may take to show what it should (it is run again until then).
SETTLE_SECONDS = 60


def name_of(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[1]


@dataclass
class Runbook:
    """One page, run against one incident on the plane."""

    plane: LocalControlPlane
    page: str
    variables: dict[str, str]
    # The execution that takes over (the newer promotion, or the one the page's `promote start` began).
    new_execution_arn: str = ""

    @classmethod
    def of(cls, plane: LocalControlPlane, page: str, promotion: Promotion, **variables: str) -> Runbook:
        base = {
            "PIPELINE": promotion.config.name,
            "SHA": promotion.sha,
            "EXECUTION": name_of(promotion.execution_arn),
            "EXECUTION_ARN": promotion.execution_arn,
            "SHA12": promotion.sha[:12],
        }
        return cls(plane, page, base | variables)

    def run(self, *, before_recover: Callable[[], None] | None = None) -> None:
        page = parse_page(RUNBOOKS / self.page)
        self.saw_notices(page.notices)
        for block in page.in_section("Check"):
            self.run_block(block)
        if before_recover is not None:
            before_recover()
        for section in ("Recover", "Confirm"):
            for block in page.in_section(section):
                self.run_block(block)

    def saw_notices(self, subjects: list[str]) -> None:
        wanted = [expand(subject, self.variables) for subject in subjects]
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            sent = [m["subject"] for m in outbox(self.plane) if m["recipient"] == TEAM]
            if all(subject in sent for subject in wanted):
                return
            assert time.monotonic() < deadline, f"{self.page}: notices {wanted} not among {sent[-8:]}"
            time.sleep(0.2)

    def run_block(self, block: Block) -> None:
        settle = block.section in READ_ONLY_SECTIONS and bool(block.expect or block.expect_not)
        deadline = time.monotonic() + (SETTLE_SECONDS if settle else 0)
        while True:
            output, problems = self.run_commands(block.commands)
            problems += [
                f"output lacks {text!r}"
                for text in block.expect
                if expand(text, self.variables) not in output
            ]
            problems += [
                f"output shows {text!r}"
                for text in block.expect_not
                if expand(text, self.variables) in output
            ]
            if not problems:
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self.page} {block.section}: {problems}\n{output}")
            time.sleep(0.5)

    def run_commands(self, commands: tuple[Command, ...]) -> tuple[str, list[str]]:
        output, problems = "", []
        for command in commands:
            words = command.words(self.resolve(command.variables()))
            assert words[0] == "promote", command.line
            arguments = words[1:]
            if arguments[0] == "--local":
                arguments = arguments[1:]  # operator_cli.promote(local=True) puts it back
            done = promote(self.plane, *arguments, local=True)
            output += f"$ {shlex.join(words)}\n{done.stdout}{done.stderr}"
            if done.returncode != command.exit_status:
                problems.append(f"{command.line!r} exited {done.returncode}, not {command.exit_status}")
            elif done.returncode == 0 and arguments[0] in ("start", "redeploy"):
                started = json.loads(done.stdout)
                self.new_execution_arn = started["execution_arn"]
                self.variables["NEW_EXECUTION"] = started["name"]
        return output, problems

    def resolve(self, names: set[str]) -> dict[str, str]:
        if "APPROVAL_ID" in names:
            self.variables["APPROVAL_ID"] = self.pending_approval_id()
        missing = names - set(self.variables)
        assert not missing, f"{self.page}: nothing sets {sorted(missing)}"
        return self.variables

    def pending_approval_id(self) -> str:
        """The request the execution that takes over waits on, once it has asked."""
        arn = self.new_execution_arn
        assert arn, f"{self.page}: $APPROVAL_ID before any execution took over"
        assert self.plane.stack is not None
        store = DynamoApprovalStore(tables(self.plane).Table(self.plane.stack.environment["APPROVALS_TABLE"]))
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            pending = [r for r in store.for_execution(arn) if r.status == "pending"]
            if pending:
                return pending[0].approval_id
            status = self.plane.client("stepfunctions").describe_execution(executionArn=arn)["status"]
            assert status == "RUNNING", f"{name_of(arn)} ended {status} before it asked for approval"
            time.sleep(0.2)
        raise AssertionError(f"{name_of(arn)} did not ask for approval within {SETTLE_SECONDS}s")


def tables(plane: LocalControlPlane) -> Any:
    return boto3.resource("dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url)


# ---- scenario helpers -----------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def leave_the_plane_as_found(plane: LocalControlPlane) -> Iterator[None]:
    """Prod's alarms OK, no injected fault, GitHub answering, and no promotion of the test left running."""
    set_alarms(plane, PROD_ALARMS, "OK")
    yield
    plane.runtime.clear_faults()
    plane.github.set_outage(None)
    set_alarms(plane, PROD_ALARMS, "OK")
    sfn = plane.client("stepfunctions")
    machine = control(plane).state_machine_arn()
    for execution in sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]:
        if execution["name"].startswith("rb-"):
            sfn.stop_execution(executionArn=execution["executionArn"], error="Cancelled", cause="test over")


def ended(plane: LocalControlPlane, promotion: Promotion, status: str, error: str | None = None) -> None:
    described = wait_for_end(plane, promotion.execution_arn, timeout=90)
    assert (described["status"], described.get("error")) == (status, error), (
        described.get("cause"),
        promotion.states(),
    )


def fixed_commit(plane: LocalControlPlane, promotion: Promotion) -> str:
    """A newer commit with the fix, built and published by CI."""
    sha = new_sha()
    publish_for(plane, promotion.config, sha, "good")
    return sha


# ---- one test per page ---------------------------------------------------------------------------------
def test_artifact_missing(plane: LocalControlPlane) -> None:
    pipeline = tuned_pipeline(plane, "rb-artifact-missing", artifacts={"wait_seconds": 2})
    config = control(plane).pipeline(pipeline)
    sha = new_sha()
    started = control(plane).start(pipeline, sha, requested_by="tests", wait_for_build=True)
    promotion = Promotion(plane, config, sha, started["execution_arn"], build=None)  # type: ignore[arg-type]
    ended(plane, promotion, "FAILED", "BuildNotPublished")
    Runbook.of(plane, "artifact-missing.md", promotion).run()


def test_preprod_deploy_failed(plane: LocalControlPlane) -> None:
    pipeline = tuned_pipeline(plane, "rb-preprod-deploy")
    fault = AwsFault(
        "lambda", "UpdateAlias", when=lambda p: p["FunctionName"] == "svc-sentiment-preprod-worker", times=1
    )
    with aws_fault(fault):
        promotion = publish_and_start(plane, pipeline=pipeline)
        ended(plane, promotion, "FAILED", "DeployFailed")
    Runbook.of(plane, "preprod-deploy-failed.md", promotion).run()


def test_integration_tests_failed(plane: LocalControlPlane) -> None:
    promotion = publish_and_start(
        plane, pipeline=tuned_pipeline(plane, "rb-integration"), variant="fails-preprod"
    )
    ended(plane, promotion, "FAILED", "IntegrationTestsFailed")
    fixed = fixed_commit(plane, promotion)
    Runbook.of(plane, "integration-tests-failed.md", promotion, FIXED_SHA=fixed).run()


def test_approval_timed_out(plane: LocalControlPlane) -> None:
    pipeline = tuned_pipeline(plane, "rb-approval-timeout", approval={"timeout_seconds": 10})
    promotion = publish_and_start(plane, pipeline=pipeline)
    ended(plane, promotion, "FAILED", "ApprovalTimedOut")

    def give_approvers_longer() -> None:  # the page's Check: raise approval.timeout_seconds
        tuned_pipeline(plane, pipeline, approval={"timeout_seconds": 600})

    Runbook.of(plane, "approval-timed-out.md", promotion).run(before_recover=give_approvers_longer)


def test_approval_rejected(plane: LocalControlPlane) -> None:
    promotion = publish_and_start(plane, pipeline=tuned_pipeline(plane, "rb-rejected"))
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")
    (link, *_) = wait_for_approval_links(plane, promotion)
    assert decide_via_link(link, "reject", "wrong build").status_code == 200
    ended(plane, promotion, "FAILED", "Rejected")
    Runbook.of(plane, "approval-rejected.md", promotion).run()


def test_approval_superseded(plane: LocalControlPlane) -> None:
    pipeline = tuned_pipeline(plane, "rb-superseded")
    older = publish_and_start(plane, pipeline=pipeline)
    wait_for_approval_links(plane, older)
    newer = publish_and_start(plane, pipeline=pipeline)
    ended(plane, older, "FAILED", "Superseded")
    runbook = Runbook.of(plane, "approval-superseded.md", older, NEW_EXECUTION=name_of(newer.execution_arn))
    runbook.new_execution_arn = newer.execution_arn
    runbook.run()


def test_prod_deploy_failed(plane: LocalControlPlane) -> None:
    promotion = publish_and_start(plane, pipeline=tuned_pipeline(plane, "rb-prod-deploy"))
    fault = AwsFault(
        "lambda", "UpdateAlias", when=lambda p: p["FunctionName"] == "svc-sentiment-prod-worker", times=1
    )
    with aws_fault(fault):
        approve_by_link(plane, promotion)
        ended(plane, promotion, "FAILED", "DeployFailed")
    Runbook.of(plane, "prod-deploy-failed.md", promotion).run()


def test_canary_failed(plane: LocalControlPlane) -> None:
    promotion = publish_and_start(plane, pipeline=tuned_pipeline(plane, "rb-canary"), variant="fails-in-prod")
    approve_by_link(plane, promotion)
    ended(plane, promotion, "FAILED", "CanaryFailed")
    Runbook.of(plane, "canary-failed.md", promotion, FIXED_SHA=fixed_commit(plane, promotion)).run()


def test_alarm_during_bake(plane: LocalControlPlane) -> None:
    alarm = "svc-sentiment-prod-api-p99"
    promotion = alarm_during_bake(plane, "rb-bake-alarm", alarm)
    ended(plane, promotion, "FAILED", "BakeAlarm")
    Runbook.of(plane, "alarm-during-bake.md", promotion, ALARM=alarm).run()


def test_rollback_failed(plane: LocalControlPlane) -> None:
    promotion = publish_and_start(
        plane, pipeline=tuned_pipeline(plane, "rb-rollback-failed"), variant="fails-in-prod"
    )
    approve_by_link(plane, promotion)
    wait_for_state(plane, promotion.execution_arn, "Run canary checks")
    fault = AwsFault("lambda", "UpdateAlias", when=lambda p: p["FunctionName"] == "svc-sentiment-prod-api")
    with aws_fault(fault):
        ended(plane, promotion, "FAILED", "RollbackFailed")

    def run_the_notices_commands() -> None:
        """The notice's `aws lambda update-alias` lines, as the operator runs them (in prod's account)."""
        (notice,) = [
            m
            for m in outbox(plane)
            if m["recipient"] == TEAM
            and m["subject"].startswith("CRITICAL: rollback")
            and promotion.sha[:12] in m["subject"]  # the shared outbox holds other tests' notices
        ]
        lines = [line for line in notice["text"].splitlines() if line.startswith("aws lambda update-alias ")]
        assert len(lines) == len(promotion.config.environments.prod.functions)
        lam = plane.environment_client("prod", "lambda")
        for line in lines:
            words = shlex.split(line)
            option = dict(zip(words[3::2], words[4::2], strict=True))
            assert option["--routing-config"] == "AdditionalVersionWeights={}"
            lam.update_alias(
                FunctionName=option["--function-name"],
                Name=option["--name"],
                FunctionVersion=option["--function-version"],
                RoutingConfig={"AdditionalVersionWeights": {}},
            )

    Runbook.of(plane, "rollback-failed.md", promotion).run(before_recover=run_the_notices_commands)
    assert promotion.after()["prod"] == promotion.before["prod"]


def test_lock_held_by_a_dead_promotion(plane: LocalControlPlane) -> None:
    pipeline = plane.put_pipeline(matrix_pipeline_document("rb-stale-lock"), source="test_runbooks")
    fault = inject_state_fault(plane, "Record success", "permanent", pipeline)
    try:
        promotion = publish_and_start(plane, pipeline=pipeline)
        approve_by_link(plane, promotion)
        ended(plane, promotion, "SUCCEEDED")
    finally:
        plane.runtime.clear_faults()
    assert fault.hits == 4
    assert environment_store(plane).get(pipeline, "prod").lock_owner == promotion.execution_arn
    Runbook.of(plane, "lock-held-by-dead-promotion.md", promotion).run()
    assert environment_store(plane).get(pipeline, "prod").lock_owner == ""


def test_github_outage(plane: LocalControlPlane) -> None:
    # Given prod runs a commit of the pipeline (a first promotion: the never-backwards check compares with it)
    pipeline = tuned_pipeline(plane, "rb-github-outage")
    first = publish_and_start(plane, pipeline=pipeline)
    approve_by_link(plane, first)
    ended(plane, first, "SUCCEEDED")
    plane.github.set_outage(503)
    promotion = publish_and_start(plane, pipeline=pipeline)
    ended(plane, promotion, "FAILED", "WouldGoBackwards")
    declare_ahead_of_prod(plane, promotion.config, promotion.sha)
    Runbook.of(plane, "github-outage.md", promotion).run(before_recover=lambda: plane.github.set_outage(None))


def test_forged_approval_detected(plane: LocalControlPlane) -> None:
    promotion = publish_and_start(plane, pipeline=tuned_pipeline(plane, "rb-forged"))
    wait_for_approval_links(plane, promotion)  # the request is stored before it is sent
    token = token_from_history(plane, promotion.execution_arn)
    plane.client("stepfunctions").send_task_success(
        taskToken=token, output=json.dumps({"approved_by": "nobody@evil.example", "channel": "email"})
    )
    ended(plane, promotion, "FAILED", "ApprovalNotVerified")
    Runbook.of(plane, "forged-approval-detected.md", promotion).run()
