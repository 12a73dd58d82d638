"""``POST /operator/pipelines/{pipeline}/rollback``: an operator's emergency rollback, behind the IAM
authorizer like the other operator routes.

The caller is the IAM principal API Gateway verified (``operator_routes.caller_arn``); the body carries only
the environment and the reason. The rollback runs here, server-side, acting on the environment as its
deployer role: the operator needs ``execute-api:Invoke`` on this route and nothing on the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from pydantic import BaseModel, ConfigDict, Field

from promotion.approvals.audit import Requester
from promotion.errors import EnvironmentFrozen, EnvironmentLocked, NoRollbackTarget, RollbackFailed
from promotion.http.bodies import json_body
from promotion.http.errors import ErrorStatus
from promotion.models.config import Environment
from promotion.pipeline.emergency_rollback import EmergencyRollbackResult

ROLLBACK_PATH = "/operator/pipelines/<pipeline>/rollback"

ROLLBACK_ERROR_STATUS: ErrorStatus = {
    EnvironmentLocked: (409, "Locked"),
    EnvironmentFrozen: (409, "Frozen"),
    NoRollbackTarget: (409, "Nothing to roll back to"),
    RollbackFailed: (500, "Rollback failed"),
}


class EmergencyRollbackBody(BaseModel):
    """The POST body. Any other field (a principal ARN, say) is ignored: the caller is the signer."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    environment: Literal["preprod", "prod"] = "prod"
    reason: str = Field(min_length=1, max_length=1000)


# (pipeline, environment, operator, reason, requester) -> the result; raises the domain's refusals.
RunRollback = Callable[[str, Environment, str, str, Requester], EmergencyRollbackResult]


def rollback_body(raw: str) -> EmergencyRollbackBody:
    return json_body(raw, EmergencyRollbackBody, shape='{"environment": "prod", "reason": "..."}')


def add_rollback_route(
    app: APIGatewayHttpResolver,
    run: RunRollback,
    *,
    caller: Callable[[], str],
    requester: Callable[[], Requester],
    answer: Callable[[int, object], Response[str]],
) -> None:
    @app.post(ROLLBACK_PATH)
    def roll_back_now(pipeline: str) -> Response[str]:
        operator = caller()
        body = rollback_body(app.current_event.decoded_body or "")
        result = run(pipeline, body.environment, operator, body.reason, requester())
        return answer(200, {**result.model_dump(mode="json"), "caller": operator})
