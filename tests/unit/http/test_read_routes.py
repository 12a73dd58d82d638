"""The read-only operator routes as API Gateway HTTP API events: ``GET /operator/approvals/{id}/audit``,
``GET /operator/executions/{name}/audit`` and ``GET /operator/pipelines/{pipeline}/github``. Each needs the
IAM caller; unknown approvals, executions and pipelines answer 404; no task token or GitHub token is shown."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from promotion.approvals.audit_view import ExecutionLookup
from promotion.errors import ApprovalNotVerified, UnknownPipeline
from promotion.github.check import GitHubCheck, RateLimit
from promotion.http.operator_routes import OperatorApiDeps, build_resolver
from promotion.models.approval import ApprovalRecord
from promotion.naming import execution_name
from tests.support.approval_fakes import ApprovalWorld, approval_world, pipeline, request
from tests.unit.http.test_operator_api import NOW, OPERATOR, OTHER_AUTHOR, RELEASE, SECOND, resolve_as

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:unit-promotion"
PIPELINE = "sentiment-service"
ASKED = execution_name(PIPELINE, "a" * 40, 1)
NEVER_ASKED = execution_name(PIPELINE, "b" * 40, 1)
UNKNOWN = execution_name(PIPELINE, "c" * 40, 1)
CHECKED = GitHubCheck(
    pipeline=PIPELINE,
    repo="example-org/sentiment-service",
    api_url="https://api.github.com",
    checked_at=int(NOW),
    reachable=True,
    ok=True,
    status=200,
    rate_limit=RateLimit(5000, 4990, int(NOW) + 600),
)


@dataclass
class Reads:
    world: ApprovalWorld
    resolver: APIGatewayHttpResolver
    record: ApprovalRecord
    checked: list[tuple[str, int]]

    def get(
        self, route: str, raw_path: str, parameters: dict[str, str], caller: str | None = OPERATOR
    ) -> Any:
        return resolve_as(
            self.resolver,
            caller,
            method="GET",
            route_key=f"GET {route}",
            raw_path=raw_path,
            path_parameters=parameters,
            body="",
        )

    def approval(self, approval_id: str, caller: str | None = OPERATOR) -> Any:
        return self.get(
            "/operator/approvals/{approval_id}/audit",
            f"/operator/approvals/{approval_id}/audit",
            {"approval_id": approval_id},
            caller,
        )

    def execution(self, name: str, caller: str | None = OPERATOR) -> Any:
        return self.get(
            "/operator/executions/{name}/audit", f"/operator/executions/{name}/audit", {"name": name}, caller
        )

    def github(self, pipeline: str, caller: str | None = OPERATOR) -> Any:
        return self.get(
            "/operator/pipelines/{pipeline}/github",
            f"/operator/pipelines/{pipeline}/github",
            {"pipeline": pipeline},
            caller,
        )


@pytest.fixture
def reads() -> Iterator[Reads]:
    with approval_world() as world:
        config = pipeline(approvers=[RELEASE, SECOND], operators={OPERATOR: RELEASE})
        record = world.ask(
            config=config, request=request("a" * 40, execution=ASKED, identity=OTHER_AUTHOR), now=NOW
        )
        executions = STATE_MACHINE.replace(":stateMachine:", ":execution:")
        statuses = {f"{executions}:{ASKED}": "FAILED", f"{executions}:{NEVER_ASKED}": "FAILED"}
        checked: list[tuple[str, int]] = []

        def github_check(name: str, now: int) -> GitHubCheck:
            if name != PIPELINE:
                raise UnknownPipeline(f"unknown pipeline {name!r}")
            checked.append((name, now))
            return CHECKED

        resolver = build_resolver(
            OperatorApiDeps(
                services=world.services,
                clock=lambda: NOW + 5,
                executions=ExecutionLookup(STATE_MACHINE, statuses.get),
                github_check=github_check,
            )
        )
        yield Reads(world, resolver, record, checked)


def forge(reads: Reads) -> None:
    """A task-token holder completes the approval task: "Verify approval" audits ``forged_completion``."""
    with pytest.raises(ApprovalNotVerified):
        reads.world.verify(
            reads.record, {"approval_id": reads.record.approval_id, "decision_mac": "AAAA"}, now=NOW + 1
        )


def test_an_approval_s_audit_is_its_record_without_the_token_and_its_events_in_order(reads: Reads) -> None:
    refused = reads.world.services
    refused.record_audit(
        reads.record, "refused", actor="someone", channel="email", now=NOW + 0.5, detail="not an approver"
    )
    forge(reads)

    answer = reads.approval(reads.record.approval_id)

    assert answer["statusCode"] == 200, answer["body"]
    assert answer["headers"]["Cache-Control"] == "no-store"
    document = answer["json"]
    assert document["approval"]["approval_id"] == reads.record.approval_id
    assert document["approval"]["status"] == "expired"
    assert "task_token" not in document["approval"]
    assert reads.record.task_token not in answer["body"]
    assert [event["action"] for event in document["events"]] == [
        "requested",
        "refused",
        "expired",
        "forged_completion",
    ]
    refusal = document["events"][1]
    assert (refusal["actor"], refusal["channel"], refusal["detail"]) == (
        "someone",
        "email",
        "not an approver",
    )
    assert document["events"][-1]["channel"] == "states"


def test_an_execution_s_audit_gathers_its_requests_and_the_events_kept_under_it(reads: Reads) -> None:
    forge(reads)
    answer = reads.execution(ASKED)
    assert answer["statusCode"] == 200, answer["body"]
    document = answer["json"]
    assert (document["execution"], document["status"]) == (ASKED, "FAILED")
    assert document["execution_arn"].endswith(f":execution:unit-promotion:{ASKED}")
    assert [a["approval_id"] for a in document["approvals"]] == [reads.record.approval_id]
    assert all("task_token" not in approval for approval in document["approvals"])
    assert [event["action"] for event in document["events"]] == ["requested", "expired", "forged_completion"]

    # A forged completion of a promotion that never asked is kept under the execution itself
    reads.world.services.record_audit_under(
        f"execution:{NEVER_ASKED}",
        "forged_completion",
        pipeline=PIPELINE,
        execution_arn="arn",
        actor="unknown",
        channel="states",
        now=NOW,
        detail="no record",
    )
    never = reads.execution(NEVER_ASKED)["json"]
    assert (never["approvals"], [e["action"] for e in never["events"]]) == ([], ["forged_completion"])


def test_unknown_approvals_and_executions_are_404_and_a_name_no_promotion_has_is_400(reads: Reads) -> None:
    missing = reads.approval("no-such-approval")
    assert (missing["statusCode"], missing["json"]["error"]) == (404, "No such approval")
    unknown = reads.execution(UNKNOWN)
    assert (unknown["statusCode"], unknown["json"]["error"]) == (404, "No such execution")
    odd = reads.execution("not-an-execution")
    assert (odd["statusCode"], odd["json"]["error"]) == (400, "Bad request")
    assert "PIPELINE-SHA12-aN" in odd["json"]["message"]


def test_the_github_check_answers_the_report_and_an_unknown_pipeline_is_404(reads: Reads) -> None:
    answer = reads.github(PIPELINE)
    assert answer["statusCode"] == 200, answer["body"]
    assert answer["json"]["ok"] is True
    assert answer["json"]["rate_limit"] == {"limit": 5000, "remaining": 4990, "reset": int(NOW) + 600}
    assert reads.checked == [(PIPELINE, int(NOW) + 5)]
    unknown = reads.github("no-such-pipeline")
    assert (unknown["statusCode"], unknown["json"]["error"]) == (404, "Unknown pipeline")


def test_every_read_needs_the_iam_caller(reads: Reads) -> None:
    for answer in (
        reads.approval(reads.record.approval_id, caller=None),
        reads.execution(ASKED, caller=None),
        reads.github(PIPELINE, caller=None),
    ):
        assert (answer["statusCode"], answer["json"]["error"]) == (403, "Forbidden")
    assert reads.checked == []


def test_the_routes_are_not_served_without_their_collaborators() -> None:
    with approval_world() as world:
        resolver = build_resolver(OperatorApiDeps(services=world.services))
        for route, path, parameters in (
            ("/operator/executions/{name}/audit", f"/operator/executions/{ASKED}/audit", {"name": ASKED}),
            ("/operator/pipelines/{pipeline}/github", "/operator/pipelines/p/github", {"pipeline": "p"}),
        ):
            answer = resolve_as(
                resolver,
                OPERATOR,
                method="GET",
                route_key=f"GET {route}",
                raw_path=path,
                path_parameters=parameters,
                body="",
            )
            assert answer["statusCode"] == 404
