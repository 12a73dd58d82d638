"""``promote --local rollback prod`` on the local plane: the signed operator route, the operator function
acting on prod as prod's deployer role, the ledger, the audit table, the outbox; IAM enforced."""

from __future__ import annotations

import json
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key

from promote_cli.local.plane import LocalControlPlane
from promotion.dal.environments import DynamoEnvironmentStateStore
from promotion.dal.ledger import DynamoLedger
from tests.support.approval_plane import derived_pipeline
from tests.support.operator_cli import iam_user, promote
from tests.support.promotion import (
    Promotion,
    control,
    decide_via_link,
    declare_ahead_of_prod,
    outbox,
    publish_and_start,
    serving_now,
    wait_for_approval_links,
    wait_for_end,
)

PIPELINE = "emergency-rollback"


def tables(plane: LocalControlPlane) -> dict[str, Any]:
    assert plane.stack is not None
    dynamodb = boto3.resource(
        "dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url
    )
    return {
        name: dynamodb.Table(plane.stack.environment[name])
        for name in ("DEPLOYMENTS_TABLE", "ENVIRONMENTS_TABLE", "AUDIT_TABLE")
    }


def promoted(plane: LocalControlPlane) -> Promotion:
    """A build of the pipeline promoted all the way to prod (approved by link)."""
    promotion = publish_and_start(plane, pipeline=PIPELINE)
    declare_ahead_of_prod(plane, promotion.config, promotion.sha)
    (link, *_) = wait_for_approval_links(plane, promotion)
    assert decide_via_link(link, "approve").status_code == 200
    assert wait_for_end(plane, promotion.execution_arn, timeout=90)["status"] == "SUCCEEDED"
    return promotion


def prod_versions(plane: LocalControlPlane, promotion: Promotion) -> dict[str, str]:
    return {key: serving["version"] for key, serving in serving_now(plane, promotion.config)["prod"].items()}


def test_rollback_puts_prod_back_on_the_previous_build_at_once_and_only_for_operators(
    plane: LocalControlPlane,
) -> None:
    derived_pipeline(plane, PIPELINE)
    ledger = DynamoLedger(tables(plane)["DEPLOYMENTS_TABLE"])
    environments = DynamoEnvironmentStateStore(tables(plane)["ENVIRONMENTS_TABLE"])

    # Given two builds promoted to prod one after the other
    first = promoted(plane)
    first_versions = prod_versions(plane, first)
    second = promoted(plane)
    second_versions = prod_versions(plane, second)
    assert second_versions != first_versions

    # When a principal without the operator policy asks for the rollback, it is refused by IAM
    outsider = iam_user(plane, "rollback-outsider", operator_policy=False)
    refused = promote(
        plane, "rollback", "prod", "--pipeline", PIPELINE, "--reason", "x", credentials=outsider
    )
    assert refused.returncode == 2
    assert "(403)" in refused.stderr
    assert prod_versions(plane, second) == second_versions

    # And while a running promotion holds prod's lock, the rollback is refused naming it and moves nothing
    holder = publish_and_start(plane, pipeline=PIPELINE)
    environments.acquire_lock(
        PIPELINE, "prod", owner=holder.execution_arn, lease_seconds=600, now=2_000_000_000
    )
    entries = len(ledger.history(PIPELINE, "prod", limit=50))
    locked = promote(plane, "rollback", "prod", "--pipeline", PIPELINE, "--reason", "incident", local=True)
    assert locked.returncode == 2, locked.stdout
    assert locked.stderr.count("\n") == 1
    assert f"locked by {holder.execution_arn}" in locked.stderr
    assert "(409 Locked)" in locked.stderr
    assert prod_versions(plane, second) == second_versions
    assert len(ledger.history(PIPELINE, "prod", limit=50)) == entries
    assert environments.release_lock(PIPELINE, "prod", owner=holder.execution_arn)
    control(plane).cancel(holder.execution_arn, reason="test over", requested_by="tests")

    # When the local operator (who holds only the operator policy) rolls prod back
    rolled = promote(
        plane, "rollback", "prod", "--pipeline", PIPELINE, "--reason", "errors spiking", local=True
    )

    # Then prod's aliases are on the first build's versions again
    assert rolled.returncode == 0, rolled.stderr
    answer = json.loads(rolled.stdout)
    assert (answer["sha"], answer["previous_sha"], answer["caller"]) == (
        first.sha,
        second.sha,
        plane.operator["arn"],
    )
    assert prod_versions(plane, second) == first_versions
    # the ledger has the rollback, by the verified operator, and says prod runs the first build
    entry = ledger.entry(PIPELINE, "prod", answer["ledger_entry"])
    assert entry is not None
    assert (entry.mode, entry.outcome, entry.approver, entry.detail, entry.sha) == (
        "emergency_rollback",
        "rolled_back",
        plane.operator["arn"],
        "errors spiking",
        first.sha,
    )
    current = ledger.pointer(PIPELINE, "prod", "current")
    assert current is not None
    assert (current.sha, current.versions) == (first.sha, first_versions)
    # the audit table has it, the team got the notice, and the lock is free
    audit = tables(plane)["AUDIT_TABLE"].query(
        KeyConditionExpression=Key("approval_id").eq(f"rollback#{PIPELINE}#prod")
    )["Items"]
    assert [(item["action"], item["actor"], item["comment"]) for item in audit] == [
        ("emergency_rollback", plane.operator["arn"], "errors spiking")
    ]
    notices = [m for m in outbox(plane) if m["subject"].startswith(f"Emergency rollback: {PIPELINE} prod")]
    assert len(notices) == 1
    assert "Reason: errors spiking" in notices[0]["text"]
    assert environments.get(PIPELINE, "prod").lock_owner == ""
    # and GitHub has a successful prod deployment of the first build, the rollback's own
    restored = [
        d
        for d in plane.github.deployments(first.config.repo, first.sha)
        if d["environment"] == "prod"
        and d["payload"].get("execution_name", "").startswith("emergency_rollback-")
    ]
    assert [[status["state"] for status in d["statuses"]] for d in restored] == [["success"]]
