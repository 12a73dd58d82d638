"""The emergency rollback's domain function: moto Lambda (RevisionId enforced, as on AWS) and moto DynamoDB
tables shaped by the template; fake Step Functions, audit log, mailer and topic."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from promote_cli.local import moto_patches
from promotion.approvals.audit import AuditEvent, Requester
from promotion.dal.environments import DynamoEnvironmentStateStore
from promotion.dal.ledger import DynamoLedger, LedgerEntry, LedgerFunction, Outcome, entry_key
from promotion.errors import EnvironmentFrozen, EnvironmentLocked, NoRollbackTarget, RollbackFailed
from promotion.pipeline.emergency_rollback import EmergencyRollbackDeps, emergency_rollback
from tests.support.approval_fakes import FakeMailer, create_table_from_template
from tests.support.pipelines import sample_config

REGION = "us-east-1"
PIPELINE = "sentiment-service"
OPERATOR = "arn:aws:iam::123456789012:user/on-call"
CONFIG = sample_config()
PROD = {key: name for key, name in CONFIG.environments.prod.functions.items()}
RUNNING_PROMOTION = f"arn:aws:states:{REGION}:123456789012:execution:rp-promotion:{PIPELINE}-aaaa-a1"
ENDED_PROMOTION = f"arn:aws:states:{REGION}:123456789012:execution:rp-promotion:{PIPELINE}-bbbb-a1"


def package(marker: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    return {marker!r}\n")
    return buffer.getvalue()


@dataclass
class FakeSfn:
    """describe_execution for the lock's owner: RUNNING_PROMOTION runs, every other has ended."""

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {"status": "RUNNING" if executionArn == RUNNING_PROMOTION else "SUCCEEDED"}


@dataclass
class FakeAudit:
    events: list[AuditEvent] = field(default_factory=list)

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def history(self, approval_id: str) -> list[AuditEvent]:
        return [e for e in self.events if e.approval_id == approval_id]


@dataclass
class FakeTopic:
    published: list[dict[str, Any]] = field(default_factory=list)

    def publish(self, *, subject: str, event: dict[str, Any]) -> None:
        self.published.append({"subject": subject, "event": event})


@dataclass
class FakeReporter:
    """Records the GitHub deployment statuses an emergency rollback asks for."""

    restored_calls: list[tuple[str, str, str]] = field(default_factory=list)

    def restored(self, config: Any, environment: str, sha: str, *, description: str, name: str) -> None:
        self.restored_calls.append((environment, sha, description))


class RacedLambda:
    """Lambda whose aliases someone else keeps moving: every guarded UpdateAlias loses the race."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def get_alias(self, **params: Any) -> Any:
        return self._real.get_alias(**params)

    def update_alias(self, **params: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "PreconditionFailedException", "Message": "raced"}}, "UpdateAlias"
        )


@dataclass
class World:
    lam: Any
    ledger: DynamoLedger
    environments: DynamoEnvironmentStateStore
    audit: FakeAudit
    mailer: FakeMailer
    topic: FakeTopic
    reporter: FakeReporter = field(default_factory=FakeReporter)
    clock: list[int] = field(default_factory=lambda: [1_700_000_000])

    def deps(self, lambda_client: Any = None) -> EmergencyRollbackDeps:
        return EmergencyRollbackDeps(
            lambda_client=lambda_client or self.lam,
            sfn=FakeSfn(),
            environments=self.environments,
            ledger=self.ledger,
            audit=self.audit,
            mailer=self.mailer,
            publisher=self.topic,
            reporter=self.reporter,
        )

    def serving(self) -> dict[str, str]:
        return {
            key: str(self.lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"])
            for key, name in PROD.items()
        }

    def promote(self, sha: str, version: str, outcome: Outcome = "succeeded") -> str:
        """What a promotion leaves in prod and the ledger: every function on ``version``, ``outcome``."""
        self.clock[0] += 60
        now = self.clock[0]
        name = f"{PIPELINE}-{sha[:12]}-a1"
        key = entry_key(now, name)
        before = self.serving()
        current = self.ledger.pointer(PIPELINE, "prod", "current")
        functions = [
            LedgerFunction(key=k, function_name=n, alias="live", previous_version=before[k])
            for k, n in PROD.items()
        ]
        self.ledger.start(
            LedgerEntry(
                pipeline=PIPELINE,
                environment="prod",
                entry_key=key,
                execution_arn=f"arn:aws:states:{REGION}:123456789012:execution:rp-promotion:{name}",
                execution_name=name,
                sha=sha,
                previous_sha=current.sha if current else None,
                functions=functions,
                started_at=now,
            )
        )
        deployed = [
            f.model_copy(update={"version": version, "code_sha256": f"code-{version}"}) for f in functions
        ]
        for name_ in PROD.values():
            self.lam.update_alias(FunctionName=name_, Name="live", FunctionVersion=version)
        self.ledger.record_deployed(
            PIPELINE, "prod", key, sha=sha, functions=deployed, at=now + 1, execution_name=name
        )
        if outcome == "rolled_back":
            for k, name_ in PROD.items():
                self.lam.update_alias(FunctionName=name_, Name="live", FunctionVersion=before[k])
        self.ledger.finish(PIPELINE, "prod", key, outcome=outcome, at=now + 2)
        return key

    def roll_back(self, lambda_client: Any = None, reason: str = "errors spiking") -> Any:
        self.clock[0] += 60
        return emergency_rollback(
            self.deps(lambda_client),
            CONFIG,
            "prod",
            operator=OPERATOR,
            reason=reason,
            now=self.clock[0],
            requester=Requester(source_ip="192.0.2.7", user_agent="promote-cli"),
        )


@pytest.fixture
def world() -> Iterator[World]:
    """Prod's functions with versions 1-4 published, alias ``live`` on version 1 (the bootstrap)."""
    moto_patches.apply()
    with mock_aws():
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="unit-role", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        lam = boto3.client("lambda", region_name=REGION)
        for name in PROD.values():
            lam.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": package("1")},
            )
            lam.publish_version(FunctionName=name)
            for marker in ("2", "3", "4"):
                lam.update_function_code(FunctionName=name, ZipFile=package(marker))
                lam.publish_version(FunctionName=name)
            lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        yield World(
            lam=lam,
            ledger=DynamoLedger(create_table_from_template(dynamodb, "DeploymentsTable", "deployments")),
            environments=DynamoEnvironmentStateStore(
                create_table_from_template(dynamodb, "EnvironmentsTable", "environments")
            ),
            audit=FakeAudit(),
            mailer=FakeMailer(),
            topic=FakeTopic(),
        )


SHA_A, SHA_B, SHA_C = "a" * 40, "b" * 40, "c" * 40


def test_prod_goes_straight_back_to_the_previous_known_good_versions_and_says_who_and_why(
    world: World,
) -> None:
    # Given two successful promotions: A (version 2), then B (version 3), which prod runs
    first = world.promote(SHA_A, "2")
    world.promote(SHA_B, "3")

    # When the on-call operator rolls prod back
    result = world.roll_back()

    # Then every alias is on A's versions, moved from B's
    assert world.serving() == {key: "2" for key in PROD}
    assert (result.sha, result.previous_sha, result.restored_entry) == (SHA_A, SHA_B, first)
    assert result.versions == {key: "2" for key in PROD}
    assert result.moved_from == {key: "3" for key in PROD}
    # the ledger has the rollback as its own entry, and prod's current pointer says A
    (entry, *_) = world.ledger.history(PIPELINE, "prod")
    assert (entry.mode, entry.outcome, entry.approver, entry.detail) == (
        "emergency_rollback",
        "rolled_back",
        OPERATOR,
        "errors spiking",
    )
    assert {f.key: (f.previous_version, f.version) for f in entry.functions} == {k: ("3", "2") for k in PROD}
    current = world.ledger.pointer(PIPELINE, "prod", "current")
    assert current is not None
    assert (current.sha, current.versions, current.entry_key) == (SHA_A, result.versions, result.ledger_entry)
    # the audit names the verified operator, the reason and where the request came from
    (event,) = world.audit.events
    assert (event.action, event.actor, event.comment, event.source_ip, event.approval_id) == (
        "emergency_rollback",
        OPERATOR,
        "errors spiking",
        "192.0.2.7",
        f"rollback#{PIPELINE}#prod",
    )
    # the team hears of it by email and on the topic
    (mail,) = world.mailer.sent
    assert mail["to"] == list(CONFIG.notifications.emails)
    assert mail["subject"] == f"Emergency rollback: {PIPELINE} prod back on {SHA_A[:12]} (by on-call)"
    assert "Reason: errors spiking" in mail["text"]
    (notice,) = world.topic.published
    assert (notice["event"]["outcome"], notice["event"]["operator"]) == ("emergency_rollback", OPERATOR)
    # GitHub hears prod runs A again, and the lock is free
    assert world.reporter.restored_calls == [("prod", SHA_A, "emergency rollback by on-call: errors spiking")]
    assert world.environments.get(PIPELINE, "prod").lock_owner == ""


def test_each_rollback_goes_one_known_good_build_further_back_then_refuses(world: World) -> None:
    world.promote(SHA_A, "2")
    world.promote(SHA_B, "3")
    world.promote(SHA_C, "4")

    assert world.roll_back().sha == SHA_B
    assert world.serving() == {key: "3" for key in PROD}
    assert world.roll_back().sha == SHA_A
    assert world.serving() == {key: "2" for key in PROD}
    with pytest.raises(NoRollbackTarget, match="no earlier successful deployment"):
        world.roll_back()
    assert world.serving() == {key: "2" for key in PROD}


def test_a_build_rolled_back_in_an_incident_is_never_the_target_again(world: World) -> None:
    # Given A, then B, which the operator rolled back to A, then C
    world.promote(SHA_A, "2")
    world.promote(SHA_B, "3")
    assert world.roll_back().sha == SHA_A
    world.promote(SHA_C, "4")

    # When C is rolled back, prod goes to A (what it ran before C), not to B
    assert world.roll_back().sha == SHA_A
    assert world.serving() == {key: "2" for key in PROD}


def test_a_promotion_that_was_rolled_back_is_not_what_prod_runs_so_it_is_skipped(world: World) -> None:
    # Given A and B succeeded, then C failed and was rolled back: prod runs B again
    world.promote(SHA_A, "2")
    world.promote(SHA_B, "3")
    world.promote(SHA_C, "4", outcome="rolled_back")
    assert world.serving() == {key: "3" for key in PROD}

    # When rolled back, prod goes to A (B is what it runs already)
    assert world.roll_back().sha == SHA_A
    assert world.serving() == {key: "2" for key in PROD}


def test_a_running_promotion_holding_the_lock_is_named_and_nothing_moves(world: World) -> None:
    world.promote(SHA_A, "2")
    world.promote(SHA_B, "3")
    world.environments.acquire_lock(
        PIPELINE, "prod", owner=RUNNING_PROMOTION, lease_seconds=3600, now=world.clock[0]
    )
    entries = len(world.ledger.history(PIPELINE, "prod"))

    with pytest.raises(EnvironmentLocked) as refused:
        world.roll_back()

    assert RUNNING_PROMOTION in str(refused.value)
    assert "nothing was moved" in str(refused.value)
    assert world.serving() == {key: "3" for key in PROD}
    assert len(world.ledger.history(PIPELINE, "prod")) == entries
    assert world.environments.get(PIPELINE, "prod").lock_owner == RUNNING_PROMOTION
    assert world.audit.events == []
    assert world.mailer.sent == []


def test_the_lock_of_a_promotion_that_has_ended_is_taken_over(world: World) -> None:
    world.promote(SHA_A, "2")
    world.promote(SHA_B, "3")
    world.environments.acquire_lock(
        PIPELINE, "prod", owner=ENDED_PROMOTION, lease_seconds=3600, now=world.clock[0]
    )

    assert world.roll_back().sha == SHA_A
    assert world.serving() == {key: "2" for key in PROD}
    assert world.environments.get(PIPELINE, "prod").lock_owner == ""


def test_a_promotion_meanwhile_waits_for_the_rollbacks_lock(world: World) -> None:
    """While the rollback holds prod's lock, a promotion's "Check and lock prod" is told to wait."""
    from promotion.pipeline.prepare import take_environment_lock

    world.promote(SHA_A, "2")
    world.promote(SHA_B, "3")
    seen: list[str] = []

    class Watching:
        """Lambda that, mid-rollback, has a promotion try to take prod's lock."""

        def __init__(self, real: Any) -> None:
            self._real = real

        def get_alias(self, **params: Any) -> Any:
            return self._real.get_alias(**params)

        def update_alias(self, **params: Any) -> Any:
            if not seen:
                with pytest.raises(EnvironmentLocked) as waiting:
                    take_environment_lock(
                        world.environments,
                        FakeSfn(),
                        CONFIG,
                        "prod",
                        RUNNING_PROMOTION,
                        now=world.clock[0],
                        lease_seconds=600,
                    )
                seen.append(str(waiting.value))
            return self._real.update_alias(**params)

    world.roll_back(Watching(world.lam))

    assert seen
    assert "emergency_rollback-" in seen[0]
    assert world.serving() == {key: "2" for key in PROD}


def test_a_frozen_prod_is_refused_untouched(world: World) -> None:
    world.promote(SHA_A, "2")
    world.promote(SHA_B, "3")
    world.environments.freeze(PIPELINE, "prod", reason="rollback failed", by="rp", at=world.clock[0])

    with pytest.raises(EnvironmentFrozen, match="promote unfreeze"):
        world.roll_back()
    assert world.serving() == {key: "3" for key in PROD}


def test_aliases_that_keep_changing_fail_the_rollback_freeze_prod_and_raise_the_alarm(world: World) -> None:
    world.promote(SHA_A, "2")
    world.promote(SHA_B, "3")

    with pytest.raises(RollbackFailed, match="kept changing"):
        world.roll_back(RacedLambda(world.lam))

    state = world.environments.get(PIPELINE, "prod")
    assert state.frozen
    assert "emergency rollback failed" in state.reason
    (entry, *_) = world.ledger.history(PIPELINE, "prod")
    assert (entry.mode, entry.outcome) == ("emergency_rollback", "rollback_failed")
    assert [e.action for e in world.audit.events] == ["emergency_rollback_failed"]
    (mail,) = world.mailer.sent
    assert mail["subject"].startswith("CRITICAL: emergency rollback of sentiment-service prod failed")
    assert f"promote unfreeze --pipeline {PIPELINE} --environment prod" in mail["text"]
    assert world.reporter.restored_calls == []


def test_nothing_to_go_back_to_on_a_fresh_ledger(world: World) -> None:
    world.promote(SHA_A, "2")

    with pytest.raises(NoRollbackTarget):
        world.roll_back()
    assert world.serving() == {key: "2" for key in PROD}
    assert world.environments.get(PIPELINE, "prod").lock_owner == ""


def test_another_emergency_rollback_holding_the_lock_is_waited_for_not_cancelled(world: World) -> None:
    world.promote(SHA_A, "2")
    world.promote(SHA_B, "3")
    world.environments.acquire_lock(
        PIPELINE, "prod", owner="emergency_rollback:other", lease_seconds=300, now=world.clock[0]
    )

    with pytest.raises(EnvironmentLocked, match="another emergency rollback") as refused:
        world.roll_back()
    assert "promote cancel" not in str(refused.value)
    assert world.serving() == {key: "3" for key in PROD}
