"""``POST /operator/pipelines/{pipeline}/freeze``, ``.../unfreeze`` and ``.../window-override``: an operator's
controls of a pipeline, behind the IAM authorizer like the other operator routes.

The actor recorded is the IAM principal API Gateway verified (``operator_routes.caller_arn``); the body
carries only what to act on and why, and any field naming a principal is ignored. The operator needs
``execute-api:Invoke`` on these routes and nothing on the control plane's tables or state machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from pydantic import BaseModel, ConfigDict, Field

from promotion.errors import ExecutionNotFound, ExecutionNotRunning, NotAnExecutionOfPipeline, NotFrozen
from promotion.http.bodies import json_body
from promotion.http.errors import ErrorStatus
from promotion.pipeline.operator_controls import (
    FreezeScope,
    OperatorControls,
    freeze,
    override_window,
    unfreeze,
)

MAX_REASON_CHARS = 1000


class Control(Protocol):
    """A domain action: freeze, unfreeze or override_window (``target``: the environment or execution)."""

    def __call__(
        self, controls: OperatorControls, pipeline: str, target: Any, /, *, reason: str, by: str, now: int
    ) -> Any: ...


CONTROL_ERROR_STATUS: ErrorStatus = {
    NotFrozen: (409, "Not frozen"),
    ExecutionNotRunning: (409, "Not running"),
    ExecutionNotFound: (404, "No such execution"),
    NotAnExecutionOfPipeline: (400, "Bad request"),
}


class ControlBody(BaseModel):
    """A POST body. Any other field (a principal ARN, say) is ignored: the caller is the signer."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)

    def target(self) -> str:
        raise NotImplementedError


class FreezeBody(ControlBody):
    environment: FreezeScope = "*"

    def target(self) -> str:
        return self.environment


class UnfreezeBody(FreezeBody):
    reason: str = Field(default="", max_length=MAX_REASON_CHARS)


class WindowOverrideBody(ControlBody):
    # The promotion's execution name or ARN.
    execution: str = Field(min_length=1, max_length=2048)

    def target(self) -> str:
        return self.execution


SCOPE_SHAPE = '{"environment": "prod"|"preprod"|"*", "reason": "..."}'
# action (the path's last segment) -> its body, an example of it, and the domain action.
CONTROLS: dict[str, tuple[type[ControlBody], str, Control]] = {
    "freeze": (FreezeBody, SCOPE_SHAPE, freeze),
    "unfreeze": (UnfreezeBody, SCOPE_SHAPE, unfreeze),
    "window-override": (WindowOverrideBody, '{"execution": "...", "reason": "..."}', override_window),
}


def add_control_routes(
    app: APIGatewayHttpResolver,
    controls: OperatorControls,
    *,
    caller: Callable[[], str],
    clock: Callable[[], float],
    answer: Callable[[int, object], Response[str]],
) -> None:
    def route(action: str, model: type[ControlBody], shape: str, control: Control) -> None:
        def handle(pipeline: str) -> Response[str]:
            by = caller()
            body = json_body(app.current_event.decoded_body or "", model, shape=shape)
            result = control(controls, pipeline, body.target(), reason=body.reason, by=by, now=int(clock()))
            return answer(200, asdict(result))

        app.post(f"/operator/pipelines/<pipeline>/{action}")(handle)

    for action, (model, shape, control) in CONTROLS.items():
        route(action, model, shape, control)
