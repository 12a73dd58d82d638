"""``POST /operator/pipelines/{pipeline}/freeze|unfreeze|window-override`` as API Gateway HTTP API events: the
actor recorded is the IAM principal in the authorizer context, never a principal named in the body; bad bodies
and the domain's refusals map to HTTP statuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from promotion.dal.environments import DynamoEnvironmentStateStore
from promotion.dal.window_overrides import DynamoWindowOverrideStore
from promotion.http.operator_routes import OperatorApiDeps, build_resolver
from promotion.naming import execution_name
from promotion.pipeline.operator_controls import OperatorControls
from tests.support.approval_fakes import REGION, approval_world, create_table_from_template
from tests.support.pipelines import sample_config
from tests.unit.http.test_operator_api import OPERATOR, KnownPipelines, resolve_as

NOW = 1_800_000_000
PIPELINE = "sentiment-service"
STATE_MACHINE = f"arn:aws:states:{REGION}:123456789012:stateMachine:rp-promotion"
RUNNING = execution_name(PIPELINE, "a" * 40, 1)
ENDED = execution_name(PIPELINE, "b" * 40, 1)
FORGED = "arn:aws:iam::123456789012:user/someone-else"


def post_pipeline_route(
    resolver: APIGatewayHttpResolver, action: str, *, pipeline: str, caller: str | None, body: Any
) -> dict[str, Any]:
    """``POST /operator/pipelines/{pipeline}/{action}`` through ``resolver`` (``caller``: see resolve_as)."""
    return resolve_as(
        resolver,
        caller,
        method="POST",
        route_key=f"POST /operator/pipelines/{{pipeline}}/{action}",
        raw_path=f"/operator/pipelines/{pipeline}/{action}",
        path_parameters={"pipeline": pipeline},
        body=body if isinstance(body, str) else json.dumps(body),
    )


@dataclass
class Plane:
    resolver: APIGatewayHttpResolver
    environments: DynamoEnvironmentStateStore
    overrides: DynamoWindowOverrideStore
    statuses: dict[str, str]

    def post(self, action: str, body: Any, *, caller: str | None = OPERATOR, pipeline: str = PIPELINE) -> Any:
        return post_pipeline_route(self.resolver, action, pipeline=pipeline, caller=caller, body=body)


@pytest.fixture
def plane() -> Iterator[Plane]:
    with approval_world() as world:
        table = create_table_from_template(
            boto3.client("dynamodb", region_name=REGION), "EnvironmentsTable", "unit-environments"
        )
        environments = DynamoEnvironmentStateStore(table)
        overrides = DynamoWindowOverrideStore(table)
        executions = STATE_MACHINE.replace(":stateMachine:", ":execution:")
        statuses = {f"{executions}:{RUNNING}": "RUNNING", f"{executions}:{ENDED}": "SUCCEEDED"}
        config = sample_config(windows={"time_zone": "UTC", "deny": [], "recheck_seconds": 300})
        controls = OperatorControls(
            configs=KnownPipelines(config),
            environments=environments,
            overrides=overrides,
            execution_status=statuses.get,
            state_machine_arn=STATE_MACHINE,
        )
        resolver = build_resolver(
            OperatorApiDeps(services=world.services, clock=lambda: float(NOW), controls=controls)
        )
        yield Plane(resolver, environments, overrides, statuses)


def test_a_freeze_records_the_verified_caller_and_ignores_a_principal_in_the_body(plane: Plane) -> None:
    answer = plane.post("freeze", {"environment": "prod", "reason": " quarter close ", "by": FORGED})
    assert (answer["statusCode"], answer["json"]) == (
        200,
        {
            "pipeline": PIPELINE,
            "environment": "prod",
            "reason": "quarter close",
            "by": OPERATOR,
            "frozen": True,
        },
    )
    state = plane.environments.get(PIPELINE, "prod")
    assert (state.frozen, state.reason, state.frozen_by, state.frozen_at) == (
        True,
        "quarter close",
        OPERATOR,
        NOW,
    )
    # Without an environment, the whole pipeline
    assert plane.post("freeze", {"reason": "all"})["json"]["environment"] == "*"
    assert plane.environments.get(PIPELINE, "*").frozen


def test_an_unfreeze_records_the_verified_caller_and_says_what_the_freeze_was(plane: Plane) -> None:
    plane.environments.freeze(PIPELINE, "prod", reason="rollback failed", by="arn:aws:iam::1:role/x", at=1)
    answer = plane.post("unfreeze", {"environment": "prod", "unfrozen_by": FORGED})
    assert (answer["statusCode"], answer["json"]) == (
        200,
        {
            "pipeline": PIPELINE,
            "environment": "prod",
            "was": "rollback failed",
            "by": OPERATOR,
            "unfrozen": True,
        },
    )
    assert not plane.environments.get(PIPELINE, "prod").frozen
    # Nothing left to clear: a conflict, in one place
    again = plane.post("unfreeze", {"environment": "prod"})
    assert (again["statusCode"], again["json"]) == (
        409,
        {"error": "Not frozen", "message": f"{PIPELINE}: prod is not frozen"},
    )


def test_a_window_override_of_a_running_promotion_records_the_verified_caller(plane: Plane) -> None:
    arn = f"{STATE_MACHINE.replace(':stateMachine:', ':execution:')}:{RUNNING}"
    answer = plane.post("window-override", {"execution": arn, "reason": "outage fix", "by": FORGED})
    assert answer["statusCode"] == 200
    assert answer["json"] == {
        "pipeline": PIPELINE,
        "execution": RUNNING,
        "reason": "outage fix",
        "by": OPERATOR,
        "recheck_seconds": 300,
        "override": True,
    }
    override = plane.overrides.get(PIPELINE, RUNNING)
    assert override is not None
    assert (override.by, override.reason, override.at) == (OPERATOR, "outage fix", NOW)


@pytest.mark.parametrize(
    ("execution", "status", "fragment"),
    [
        (ENDED, 409, "is already SUCCEEDED"),
        (execution_name(PIPELINE, "c" * 40, 1), 404, "no execution"),
        (execution_name("other-service", "a" * 40, 1), 400, "is not an execution of pipeline"),
        ("not-an-execution-name", 400, "is not an execution of pipeline"),
    ],
)
def test_an_override_of_anything_but_a_running_promotion_of_the_pipeline_is_refused(
    plane: Plane, execution: str, status: int, fragment: str
) -> None:
    answer = plane.post("window-override", {"execution": execution, "reason": "x"})
    assert answer["statusCode"] == status
    assert fragment in answer["json"]["message"]
    assert plane.overrides.get(PIPELINE, execution) is None


@pytest.mark.parametrize("action", ["freeze", "unfreeze", "window-override"])
def test_an_unknown_pipeline_is_404(plane: Plane, action: str) -> None:
    answer = plane.post(action, {"execution": RUNNING, "reason": "x"}, pipeline="no-such-pipeline")
    assert (answer["statusCode"], answer["json"]["message"]) == (404, "unknown pipeline 'no-such-pipeline'")


@pytest.mark.parametrize("action", ["freeze", "unfreeze", "window-override"])
def test_without_an_iam_authorizer_context_nothing_is_written(plane: Plane, action: str) -> None:
    plane.environments.freeze(PIPELINE, "prod", reason="kept", by=OPERATOR, at=1)
    answer = plane.post(action, {"environment": "prod", "execution": RUNNING, "reason": "x"}, caller=None)
    assert answer["statusCode"] == 403
    assert plane.environments.get(PIPELINE, "prod").reason == "kept"
    assert plane.environments.get(PIPELINE, "prod").frozen
    assert plane.overrides.get(PIPELINE, RUNNING) is None


@pytest.mark.parametrize(
    ("action", "body", "fragment"),
    [
        ("freeze", "{", "not JSON"),
        ("freeze", "[]", '{"environment": "prod"|"preprod"|"*", "reason": "..."}'),
        ("freeze", {"environment": "prod"}, "reason"),
        ("freeze", {"environment": "prod", "reason": "   "}, "reason"),
        ("freeze", {"environment": "staging", "reason": "x"}, "environment"),
        ("freeze", {"reason": "x" * 1001}, "reason"),
        ("unfreeze", {"environment": "qa"}, "environment"),
        ("unfreeze", "x" * 9000, "larger than"),
        ("window-override", {"reason": "x"}, "execution"),
        ("window-override", {"execution": RUNNING}, "reason"),
        ("window-override", {"execution": RUNNING, "reason": " "}, "reason"),
    ],
)
def test_a_bad_body_is_400_with_what_is_wrong_and_writes_nothing(
    plane: Plane, action: str, body: Any, fragment: str
) -> None:
    answer = plane.post(action, body)
    assert (answer["statusCode"], answer["json"]["error"]) == (400, "Bad request")
    assert fragment in answer["json"]["message"]
    assert not plane.environments.get(PIPELINE, "prod").frozen
    assert not plane.environments.get(PIPELINE, "*").frozen
    assert plane.overrides.get(PIPELINE, RUNNING) is None
