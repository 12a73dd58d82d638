"""Signed approval links.

A link names the approval, the approver it was sent to and its expiry, and carries an HMAC-SHA256 over
those three with a key from Secrets Manager. It never carries the task token: that stays in the approval
record. Format: ``{api}/approvals/{id}?approver={email}&expires={epoch}&sig={hex}`` (docs/contracts.md).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from promotion.errors import ApprovalExpired, ApprovalLinkInvalid


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
    if "\n" in approver or not expires.isdigit() or len(expires) > 12:
        raise ApprovalLinkInvalid("approval link is malformed")
    expires_at = int(expires)
    expected = sign(key, approval_id, approver, expires_at).signature
    if not hmac.compare_digest(expected, signature):
        raise ApprovalLinkInvalid("approval link signature does not verify")
    if now >= expires_at:
        raise ApprovalExpired("this approval link has expired")
    return SignedLink(approval_id, approver, expires_at, signature)
