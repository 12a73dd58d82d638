"""Signed approval links.

A link names the approval, the approver it was sent to and its expiry, and carries an HMAC-SHA256 over
those three with a key from Secrets Manager. It never carries the task token: that stays in the approval
record. Format: ``{api}/approvals/{id}?approver={email}&expires={epoch}&sig={hex}`` (docs/contracts.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from promotion.errors import ApprovalCsrfInvalid, ApprovalExpired, ApprovalLinkInvalid


@dataclass(frozen=True)
class SignedLink:
    approval_id: str
    approver: str
    expires_at: int
    signature: str


def _message(approval_id: str, approver: str, expires_at: int) -> bytes:
    # Newline-separated: none of the three may contain one (ids are url-safe, approvers are emails).
    return f"approval-link/v1\n{approval_id}\n{approver}\n{expires_at}".encode()


def sign(key: bytes, approval_id: str, approver: str, expires_at: int) -> SignedLink:
    signature = hmac.new(key, _message(approval_id, approver, expires_at), hashlib.sha256).hexdigest()
    return SignedLink(approval_id, approver, expires_at, signature)


def link_url(api_url: str, link: SignedLink) -> str:
    query = urlencode({"approver": link.approver, "expires": link.expires_at, "sig": link.signature})
    return f"{api_url.rstrip('/')}/approvals/{quote(link.approval_id, safe='')}?{query}"


def verify(
    key: bytes, approval_id: str, approver: str, expires: str, signature: str, *, now: float
) -> SignedLink:
    """The link's parts if the signature holds and the link has not expired; raises otherwise."""
    if "\n" in approver or "\n" in approval_id or not _digits(expires, 12):
        raise ApprovalLinkInvalid("approval link is malformed")
    expires_at = int(expires)
    expected = sign(key, approval_id, approver, expires_at).signature
    if not _same_digest(expected, signature):
        raise ApprovalLinkInvalid("approval link signature does not verify")
    if now >= expires_at:
        raise ApprovalExpired("this approval link has expired")
    return SignedLink(approval_id, approver, expires_at, signature)


# ---- CSRF tokens of the confirmation form ---------------------------------------------------------
# The page's form carries a token bound to the approval, the approver and a per-render nonce (with the
# time it was issued), under the same key as the links but a different message prefix. A POST needs a
# token this service issued for exactly that link within CSRF_MAX_AGE_SECONDS.
CSRF_MAX_AGE_SECONDS = 3600


def _csrf_message(approval_id: str, approver: str, nonce: str) -> bytes:
    return f"approval-csrf/v1\n{approval_id}\n{approver}\n{nonce}".encode()


def issue_csrf(key: bytes, approval_id: str, approver: str, *, now: float) -> tuple[str, str]:
    """(nonce, token) for one rendering of the confirmation page."""
    nonce = f"{int(now)}.{secrets.token_urlsafe(12)}"
    token = hmac.new(key, _csrf_message(approval_id, approver, nonce), hashlib.sha256).hexdigest()
    return nonce, token


def verify_csrf(key: bytes, approval_id: str, approver: str, nonce: str, token: str, *, now: float) -> None:
    issued, _, _random = nonce.partition(".")
    if not _digits(issued, 12) or not _random:
        raise ApprovalCsrfInvalid("the form is missing its CSRF token: open the link again")
    expected = hmac.new(key, _csrf_message(approval_id, approver, nonce), hashlib.sha256).hexdigest()
    if not _same_digest(expected, token):
        raise ApprovalCsrfInvalid("the form's CSRF token does not verify: open the link again")
    if not (0 <= now - int(issued) <= CSRF_MAX_AGE_SECONDS):
        raise ApprovalCsrfInvalid("the form is too old: open the link again")


def _same_digest(expected: str, given: str) -> bool:
    # compare_digest raises TypeError on non-ASCII text: anything non-ASCII is simply not our hex digest.
    return given.isascii() and hmac.compare_digest(expected, given)


def _digits(value: str, max_length: int) -> bool:
    # str.isdigit alone accepts other scripts' digits ("¹", "٣") that int() then refuses.
    return value.isascii() and value.isdigit() and len(value) <= max_length
