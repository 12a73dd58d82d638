"""The approval links' HTTP routes: GET shows the confirmation page, only its POST decides.

GET (and HEAD, which has no route and gets 404) never changes a record: mail scanners open every link.
The POST needs the link's signature, a CSRF token issued with the page, and a same-origin request.
Domain errors become HTTP answers in one place, ``_ERROR_STATUS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from promotion.approvals import links, pages
from promotion.approvals.collaborators import ApprovalServices, DecisionNotDelivered
from promotion.approvals.decisions import LinkDecision, check_link, decide_by_link
from promotion.approvals.expiry import expire
from promotion.errors import (
    ApprovalCsrfInvalid,
    ApprovalLinkInvalid,
    PromotionError,
)
from promotion.http.errors import DECISION_ERROR_STATUS, ErrorStatus, status_of
from promotion.http.requester import requester_of
from promotion.models.approver_input import MAX_INPUTS, ApproverInputInvalid

_ERROR_STATUS: ErrorStatus = {
    ApprovalLinkInvalid: (403, "Link not valid"),
    ApprovalCsrfInvalid: (403, "Form not valid"),
    **DECISION_ERROR_STATUS,
}
MAX_FORM_BYTES = 16 * 1024
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class BadRequest(Exception):
    pass


@dataclass(frozen=True)
class ApprovalApiDeps:
    services: ApprovalServices
    signing_key: Callable[[], bytes]
    clock: Callable[[], float] = time.time


def _html(status: int, body: str) -> Response[str]:
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=body,
        headers={
            "Cache-Control": "no-store",
            # Same-origin only: the page URL carries the link signature and must not leak to the links it
            # shows, while form posts keep a real Origin header (no-referrer would make it "null").
            "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'",
        },
    )


def _one(values: dict[str, list[str]], name: str) -> str:
    found = values.get(name, [])
    if len(found) != 1:
        raise BadRequest(f"form field {name!r} must appear exactly once")
    return found[0]


def check_same_origin(headers: dict[str, str]) -> None:
    """Browsers say where a form post comes from; a cross-site one is refused (CSRF, second line)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    fetch_site = lowered.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise ApprovalCsrfInvalid("the form was posted from another site")
    origin = lowered.get("origin")
    if origin is not None and origin != "null":
        host = lowered.get("host", "")
        if urlsplit(origin).netloc.lower() != host.lower():
            raise ApprovalCsrfInvalid("the form was posted from another origin")
    elif origin == "null":
        raise ApprovalCsrfInvalid("the form was posted from an opaque origin")


def build_resolver(deps: ApprovalApiDeps) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    services = deps.services

    @app.get("/approvals/<approval_id>")
    def show(approval_id: str) -> Response[str]:
        query = app.current_event.query_string_parameters or {}
        approver, expires, signature = (query.get(k, "") for k in ("approver", "expires", "sig"))
        now = deps.clock()
        key = deps.signing_key()
        record = check_link(
            services.store,
            key,
            approval_id=approval_id,
            approver=approver,
            expires=expires,
            signature=signature,
            now=now,
        )
        # Only views of valid links are audited: anything else is noise anyone could write.
        services.record_audit(
            record,
            "viewed",
            actor=approver,
            channel="email",
            now=now,
            requester=requester_of(app.current_event),
            detail=f"page shown with status {record.status}",
        )
        if record.status == "pending" and now >= record.expires_at:
            record = expire(services, record, now=now) or services.store.get(approval_id)
        if record.status in ("expired", "superseded"):
            return _html(410, pages.closed_page(record))
        if record.status != "pending":
            return _html(409, pages.decided_page(record))
        if approver in record.votes:
            return _html(409, pages.decided_page(record, final=False))
        nonce, token = links.issue_csrf(key, approval_id, approver, now=now)
        return _html(
            200,
            pages.confirmation_page(
                record,
                approver=approver,
                expires=expires,
                signature=signature,
                csrf_nonce=nonce,
                csrf_token=token,
                intent=query.get("intent", ""),
            ),
        )

    @app.post("/approvals/<approval_id>")
    def decide(approval_id: str) -> Response[str]:
        headers = app.current_event.headers or {}
        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != FORM_CONTENT_TYPE:
            return _html(415, pages.message_page("Unsupported", "send the form from the approval page"))
        raw = app.current_event.decoded_body or ""
        if len(raw.encode()) > MAX_FORM_BYTES:
            return _html(413, pages.message_page("Too large", "the form is too large"))
        check_same_origin(headers)
        form = parse_qs(raw, keep_blank_values=True, max_num_fields=12 + MAX_INPUTS)
        decision = _one(form, "decision")
        if decision not in ("approve", "reject"):
            raise BadRequest("decision must be approve or reject")
        inputs = {
            name.removeprefix(pages.INPUT_PREFIX): _one(form, name)
            for name in form
            if name.startswith(pages.INPUT_PREFIX)
        }
        request = LinkDecision(
            approval_id=approval_id,
            approver=_one(form, "approver"),
            expires=_one(form, "expires"),
            signature=_one(form, "sig"),
            csrf_nonce=_one(form, "csrf_nonce"),
            csrf_token=_one(form, "csrf"),
            decision=decision,  # type: ignore[arg-type]
            comment=(form.get("reason") or [""])[0][:1000],
            requester=requester_of(app.current_event),
            inputs=inputs,
        )
        key = deps.signing_key()
        now = deps.clock()
        try:
            result = decide_by_link(services, key, request, now=now)
        except ApproverInputInvalid as error:
            # The link and the form's CSRF token were valid (they are checked first): the same form
            # again, with what was typed and each field's error. Nothing was decided.
            nonce, token = links.issue_csrf(key, approval_id, request.approver, now=now)
            page = pages.confirmation_page(
                services.store.get(approval_id),
                approver=request.approver,
                expires=request.expires,
                signature=request.signature,
                csrf_nonce=nonce,
                csrf_token=token,
                intent="approve",
                values=inputs,
                errors=error.errors,
            )
            return _html(422, page)
        return _html(200, pages.decided_page(result.record, final=result.final))

    @app.exception_handler(PromotionError)  # type: ignore[untyped-decorator]
    def domain_error(error: PromotionError) -> Response[str]:
        return _error_page(error)

    @app.exception_handler(DecisionNotDelivered)  # type: ignore[untyped-decorator]
    def not_delivered(error: DecisionNotDelivered) -> Response[str]:
        return _error_page(error)

    @app.exception_handler(BadRequest)  # type: ignore[untyped-decorator]
    def bad_request(error: BadRequest) -> Response[str]:
        return _html(400, pages.message_page("Bad request", str(error)))

    @app.exception_handler(ValueError)  # type: ignore[untyped-decorator]
    def bad_value(error: ValueError) -> Response[str]:
        return _html(400, pages.message_page("Bad request", "the request could not be read"))

    return app


def _error_page(error: Exception) -> Response[str]:
    answer = status_of(error, _ERROR_STATUS)
    if answer is not None:
        status, title = answer
        return _html(status, pages.message_page(title, str(error)))
    # Any other domain error here is the service's fault, not the client's.
    return _html(500, pages.message_page("Error", "the approval could not be processed"))
