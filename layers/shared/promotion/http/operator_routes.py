"""The operator routes behind ``promote approvals list|approve|reject|audit``, ``promote rollback``, ``promote
freeze|unfreeze``, ``promote window override`` and ``promote github check``, authorized by IAM (SigV4).

API Gateway verifies the caller's signature and their ``execute-api:Invoke`` permission before the function
runs, and puts who they are in ``requestContext.authorizer.iam``. That verified ARN is the only identity
used here: nothing in the body or headers can name the caller. The decision itself goes through
``decide_by_operator``, the rules every channel obeys. Domain errors become HTTP answers in one
place, ``_ERROR_STATUS``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from pydantic import BaseModel, ConfigDict, Field

from promotion.adapters.config_store import PipelineConfigStore
from promotion.approvals.audit_view import ExecutionLookup
from promotion.approvals.collaborators import ApprovalServices, DecisionNotDelivered
from promotion.approvals.decisions import decide_by_operator
from promotion.approvals.rules import operator_approver
from promotion.errors import (
    PromotionError,
    UnknownPipeline,
)
from promotion.http.bodies import BodyInvalid, json_body
from promotion.http.control_routes import CONTROL_ERROR_STATUS, add_control_routes
from promotion.http.errors import DECISION_ERROR_STATUS, ErrorStatus, status_of
from promotion.http.read_routes import RunGitHubCheck, add_read_routes
from promotion.http.requester import requester_of
from promotion.http.rollback_routes import ROLLBACK_ERROR_STATUS, RunRollback, add_rollback_route
from promotion.models.approval import ApprovalRecord
from promotion.models.approver_input import MAX_INPUTS, ApproverInputInvalid
from promotion.pipeline.operator_controls import OperatorControls

MAX_REASON_CHARS = 1000


class BadRequest(Exception):
    pass


class CallerUnknown(Exception):
    """The request carries no IAM caller: the route is not behind the IAM authorizer. Refuse, never guess."""


_ERROR_STATUS: ErrorStatus = {
    CallerUnknown: (403, "Forbidden"),
    UnknownPipeline: (404, "Unknown pipeline"),
    **DECISION_ERROR_STATUS,
    **ROLLBACK_ERROR_STATUS,
    **CONTROL_ERROR_STATUS,
    BadRequest: (400, "Bad request"),
    BodyInvalid: (400, "Bad request"),
}


class OperatorDecision(BaseModel):
    """The POST body. Any other field (a principal ARN, say) is ignored: the caller is the signer."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=MAX_REASON_CHARS)
    # Answers to the pipeline's ``approval.inputs`` (name -> value); validated by the decision itself.
    inputs: dict[str, str | int | bool] = Field(default_factory=dict, max_length=MAX_INPUTS)


@dataclass(frozen=True)
class OperatorApiDeps:
    services: ApprovalServices
    clock: Callable[[], float] = time.time
    # Tells a pipeline nobody configured from one with nothing waiting; None: no such check.
    configs: PipelineConfigStore | None = None
    # POST /operator/pipelines/{pipeline}/rollback (an emergency rollback); None: the route is not served.
    emergency_rollback: RunRollback | None = None
    # POST /operator/pipelines/{pipeline}/freeze|unfreeze|window-override; None: those routes are not served.
    controls: OperatorControls | None = None
    # GET /operator/executions/{name}/audit (the promotion state machine's executions); None: not served.
    executions: ExecutionLookup | None = None
    # GET /operator/pipelines/{pipeline}/github; None: not served.
    github_check: RunGitHubCheck | None = None


def caller_arn(raw_event: dict[str, Any]) -> str:
    """The IAM principal API Gateway verified (SigV4 and its policies) for this request."""
    context = raw_event.get("requestContext") or {}
    iam = (context.get("authorizer") or {}).get("iam") or {}
    arn = iam.get("userArn")
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise CallerUnknown(
            "no IAM caller in the request context: this route must use the AWS_IAM authorizer"
        )
    return arn


def _json(status: int, document: Any) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(document),
        headers={"Cache-Control": "no-store"},
    )


def listing_row(record: ApprovalRecord, caller: str) -> dict[str, Any]:
    """A waiting request as operators see it: the record without its task token, and whom they act as."""
    return {
        **record.public_view(),
        "as_approver": operator_approver(record.rules, caller),
        # "verified" only when GitHub's API named the author's account (CommitFacts.author_confirmed).
        "author_confirmed": record.commit.author_confirmed,
    }


def _decision_body(raw: str) -> OperatorDecision:
    body = json_body(raw, OperatorDecision, shape='{"decision": "approve"|"reject", "reason": "..."}')
    if body.decision == "reject" and not body.reason:
        raise BadRequest("a rejection needs a reason")
    return body


def build_resolver(deps: OperatorApiDeps) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    services = deps.services

    @app.get("/operator/approvals")
    def list_waiting() -> Response[str]:
        caller = caller_arn(app.current_event.raw_event)
        pipeline = (app.current_event.query_string_parameters or {}).get("pipeline")
        if pipeline is not None and deps.configs is not None:
            try:
                deps.configs.get(pipeline)
            except UnknownPipeline as error:
                raise UnknownPipeline(f"unknown pipeline {pipeline!r}") from error
        records = [r for r in services.store.list_open() if pipeline is None or r.pipeline == pipeline]
        return _json(200, {"caller": caller, "approvals": [listing_row(r, caller) for r in records]})

    @app.post("/operator/approvals/<approval_id>")
    def decide(approval_id: str) -> Response[str]:
        caller = caller_arn(app.current_event.raw_event)
        body = _decision_body(app.current_event.decoded_body or "")
        result = decide_by_operator(
            services,
            approval_id,
            principal_arn=caller,
            decision=body.decision,
            reason=body.reason.strip(),
            now=deps.clock(),
            requester=requester_of(app.current_event),
            inputs=body.inputs,
        )
        return _json(
            200,
            {
                "approval_id": approval_id,
                "status": result.record.status,
                "final": result.final,
                "result": result.summary(),
                "caller": caller,
            },
        )

    add_read_routes(
        app,
        services,
        executions=deps.executions,
        github_check=deps.github_check,
        caller=lambda: caller_arn(app.current_event.raw_event),
        clock=deps.clock,
        answer=_json,
    )

    if deps.emergency_rollback is not None:
        add_rollback_route(
            app,
            deps.emergency_rollback,
            caller=lambda: caller_arn(app.current_event.raw_event),
            requester=lambda: requester_of(app.current_event),
            answer=_json,
        )

    if deps.controls is not None:
        add_control_routes(
            app,
            deps.controls,
            caller=lambda: caller_arn(app.current_event.raw_event),
            clock=deps.clock,
            answer=_json,
        )

    @app.exception_handler(PromotionError)  # type: ignore[untyped-decorator]
    def domain_error(error: PromotionError) -> Response[str]:
        return error_response(error)

    @app.exception_handler(DecisionNotDelivered)  # type: ignore[untyped-decorator]
    def not_delivered(error: DecisionNotDelivered) -> Response[str]:
        return error_response(error)

    @app.exception_handler(BadRequest)  # type: ignore[untyped-decorator]
    def bad_request(error: BadRequest) -> Response[str]:
        return error_response(error)

    @app.exception_handler(BodyInvalid)  # type: ignore[untyped-decorator]
    def bad_body(error: BodyInvalid) -> Response[str]:
        return error_response(error)

    @app.exception_handler(CallerUnknown)  # type: ignore[untyped-decorator]
    def caller_unknown(error: CallerUnknown) -> Response[str]:
        return error_response(error)

    return app


def error_response(error: Exception) -> Response[str]:
    answer = status_of(error, _ERROR_STATUS)
    if answer is not None:
        status, title = answer
        document: dict[str, Any] = {"error": title, "message": str(error)}
        if isinstance(error, ApproverInputInvalid):
            document["errors"] = error.errors
        return _json(status, document)
    # Any other domain error here is the service's fault, not the caller's.
    return _json(500, {"error": "Error", "message": "the request could not be processed"})
