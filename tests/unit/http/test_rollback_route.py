"""``POST /operator/pipelines/{pipeline}/rollback`` as API Gateway HTTP API events: the caller is the IAM
principal in the authorizer context, the body only says which environment and why, refusals map to HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from promotion.approvals.audit import Requester
from promotion.errors import EnvironmentLocked, NoRollbackTarget, RollbackFailed, UnknownPipeline
from promotion.http.operator_routes import OperatorApiDeps, build_resolver
from promotion.models.config import Environment
from promotion.pipeline.emergency_rollback import EmergencyRollbackResult
from tests.support.approval_fakes import approval_world
from tests.unit.http.test_control_routes import post_pipeline_route
from tests.unit.http.test_operator_api import OPERATOR


@dataclass
class RecordingRollback:
    """Stands in for the domain function: records each call, or raises ``refusal``."""

    refusal: Exception | None = None
    calls: list[tuple[str, str, str, str, Requester]] = field(default_factory=list)

    def __call__(
        self, pipeline: str, environment: Environment, operator: str, reason: str, requester: Requester
    ) -> EmergencyRollbackResult:
        if self.refusal is not None:
            raise self.refusal
        self.calls.append((pipeline, environment, operator, reason, requester))
        return EmergencyRollbackResult(
            pipeline=pipeline,
            environment=environment,
            sha="a" * 40,
            previous_sha="b" * 40,
            versions={"api": "2"},
            moved_from={"api": "3"},
            ledger_entry="deploy#x",
            restored_entry="deploy#y",
            operator=operator,
            reason=reason,
            seconds=0.2,
        )


def call(
    run: RecordingRollback, *, caller: str | None, body: Any, pipeline: str = "sentiment-service"
) -> Any:
    with approval_world() as world:
        resolver = build_resolver(OperatorApiDeps(services=world.services, emergency_rollback=run))
        return post_pipeline_route(resolver, "rollback", pipeline=pipeline, caller=caller, body=body)


def test_the_verified_caller_rolls_back_and_an_arn_in_the_body_is_ignored() -> None:
    run = RecordingRollback()
    answer = call(
        run,
        caller=OPERATOR,
        body={"environment": "prod", "reason": "  errors spiking ", "operator": "arn:aws:iam::1:user/x"},
    )
    assert answer["statusCode"] == 200
    ((pipeline, environment, operator, reason, requester),) = run.calls
    assert (pipeline, environment, operator, reason) == (
        "sentiment-service",
        "prod",
        OPERATOR,
        "errors spiking",
    )
    assert requester.source_ip == "198.51.100.7"
    assert (answer["json"]["caller"], answer["json"]["versions"]) == (OPERATOR, {"api": "2"})


def test_without_an_iam_authorizer_context_nothing_is_rolled_back() -> None:
    run = RecordingRollback()
    answer = call(run, caller=None, body={"reason": "x"})
    assert answer["statusCode"] == 403
    assert run.calls == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{", "not JSON"),
        ("[]", "JSON object"),
        ({"environment": "prod"}, "reason"),
        ({"environment": "prod", "reason": "   "}, "reason"),
        ({"environment": "staging", "reason": "x"}, "environment"),
    ],
)
def test_a_bad_body_is_400_and_rolls_nothing_back(body: Any, fragment: str) -> None:
    run = RecordingRollback()
    answer = call(run, caller=OPERATOR, body=body)
    assert answer["statusCode"] == 400
    assert fragment in answer["json"]["message"]
    assert run.calls == []


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (EnvironmentLocked("sentiment-service prod is locked by arn:...:x"), 409),
        (NoRollbackTarget("nothing earlier"), 409),
        (UnknownPipeline("unknown pipeline 'nope'"), 404),
        (RollbackFailed("api kept changing"), 500),
    ],
)
def test_refusals_keep_their_message_and_status(refusal: Exception, status: int) -> None:
    answer = call(RecordingRollback(refusal=refusal), caller=OPERATOR, body={"reason": "incident"})
    assert (answer["statusCode"], answer["json"]["message"]) == (status, str(refusal))
