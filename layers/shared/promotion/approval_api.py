"""The approval links' HTTP routes: GET shows the confirmation page, only its POST decides.

Domain errors become HTTP answers in one place, ``_ERROR_STATUS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from promotion import approvals, pages
from promotion.dal.approvals import ApprovalStore
from promotion.errors import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalLinkInvalid,
    ApprovalNotFound,
    ApproverNotAllowed,
    PromotionError,
)

_ERROR_STATUS: dict[type[Exception], tuple[int, str]] = {
    ApprovalLinkInvalid: (403, "Link not valid"),
    ApproverNotAllowed: (403, "Not an approver"),
    ApprovalNotFound: (404, "No such approval"),
    ApprovalAlreadyDecided: (409, "Already decided"),
    ApprovalExpired: (410, "Expired"),
    approvals.DecisionNotDelivered: (503, "Try again"),
}
MAX_FORM_BYTES = 8 * 1024
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class BadRequest(Exception):
    pass


@dataclass(frozen=True)
class ApprovalApiDeps:
    store: ApprovalStore
    sfn: Any
    signing_key: Callable[[], bytes]
    clock: Callable[[], float] = time.time


def _html(status: int, body: str) -> Response[str]:
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=body,
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        },
    )


def _one(values: dict[str, list[str]], name: str) -> str:
    found = values.get(name, [])
    if len(found) != 1:
        raise BadRequest(f"form field {name!r} must appear exactly once")
    return found[0]


def build_resolver(deps: ApprovalApiDeps) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.get("/approvals/<approval_id>")
    def show(approval_id: str) -> Response[str]:
        query = app.current_event.query_string_parameters or {}
        approver, expires, signature = (query.get(k, "") for k in ("approver", "expires", "sig"))
        record = approvals.check_link(
            deps.store,
            deps.signing_key(),
            approval_id=approval_id,
            approver=approver,
            expires=expires,
            signature=signature,
            now=deps.clock(),
        )
        if record.status == "expired":
            raise ApprovalExpired("this approval request has expired")
        if record.status != "pending":
            return _html(409, pages.decided_page(record))
        return _html(
            200, pages.confirmation_page(record, approver=approver, expires=expires, signature=signature)
        )

    @app.post("/approvals/<approval_id>")
    def decide(approval_id: str) -> Response[str]:
        content_type = (app.current_event.headers or {}).get("content-type", "")
        if content_type.split(";")[0].strip().lower() != FORM_CONTENT_TYPE:
            return _html(415, pages.message_page("Unsupported", "send the form from the approval page"))
        raw = app.current_event.decoded_body or ""
        if len(raw.encode()) > MAX_FORM_BYTES:
            return _html(413, pages.message_page("Too large", "the form is too large"))
        form = parse_qs(raw, keep_blank_values=True, max_num_fields=10)
        decision = _one(form, "decision")
        if decision not in ("approve", "reject"):
            raise BadRequest("decision must be approve or reject")
        record = approvals.decide(
            deps.store,
            deps.sfn,
            deps.signing_key(),
            approvals.DecisionRequest(
                approval_id=approval_id,
                approver=_one(form, "approver"),
                expires=_one(form, "expires"),
                signature=_one(form, "sig"),
                decision=decision,  # type: ignore[arg-type]
                reason=(form.get("reason") or [""])[0][:1000],
                channel="email",
            ),
            now=deps.clock(),
        )
        return _html(200, pages.decided_page(record))

    @app.exception_handler(PromotionError)
    def domain_error(error: PromotionError) -> Response[str]:
        return _error_page(error)

    @app.exception_handler(approvals.DecisionNotDelivered)
    def not_delivered(error: approvals.DecisionNotDelivered) -> Response[str]:
        return _error_page(error)

    @app.exception_handler(BadRequest)
    def bad_request(error: BadRequest) -> Response[str]:
        return _html(400, pages.message_page("Bad request", str(error)))

    @app.exception_handler(ValueError)
    def bad_value(error: ValueError) -> Response[str]:
        return _html(400, pages.message_page("Bad request", "the request could not be read"))

    return app


def _error_page(error: Exception) -> Response[str]:
    for error_type, (status, title) in _ERROR_STATUS.items():
        if isinstance(error, error_type):
            return _html(status, pages.message_page(title, str(error)))
    # Any other domain error here is the service's fault, not the client's.
    return _html(500, pages.message_page("Error", "the approval could not be processed"))
