"""Signed approval links and the confirmation form's CSRF tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promotion.approvals import links
from promotion.errors import ApprovalCsrfInvalid, ApprovalExpired, ApprovalLinkInvalid

KEY = b"k" * 48
NOW = 1_800_000_000
APPROVER = "release-manager@example.com"


def test_a_link_carries_id_approver_expiry_and_signature_and_verifies() -> None:
    signed = links.sign(KEY, "abc123DEF456", APPROVER, NOW + 600)
    url = links.link_url("https://api.example.com/", signed)

    split = urlsplit(url)
    query = {key: value[0] for key, value in parse_qs(split.query).items()}
    assert split.path == "/approvals/abc123DEF456"
    assert query == {"approver": APPROVER, "expires": str(NOW + 600), "sig": signed.signature}
    assert links.verify(KEY, "abc123DEF456", APPROVER, query["expires"], query["sig"], now=NOW) == signed


@pytest.mark.parametrize(
    ("approval_id", "approver", "expires", "signature_change"),
    [
        ("abc123DEF457", APPROVER, str(NOW + 600), False),  # another approval
        ("abc123DEF456", "someone@example.com", str(NOW + 600), False),  # another approver
        ("abc123DEF456", APPROVER, str(NOW + 6000), False),  # a later expiry
        ("abc123DEF456", APPROVER, str(NOW + 600), True),  # a changed signature
    ],
)
def test_any_tampering_is_refused(
    approval_id: str, approver: str, expires: str, signature_change: bool
) -> None:
    signature = links.sign(KEY, "abc123DEF456", APPROVER, NOW + 600).signature
    if signature_change:
        signature = ("0" if signature[0] != "0" else "1") + signature[1:]
    with pytest.raises(ApprovalLinkInvalid):
        links.verify(KEY, approval_id, approver, expires, signature, now=NOW)


def test_a_link_signed_with_another_key_is_refused() -> None:
    signature = links.sign(b"x" * 48, "abc123DEF456", APPROVER, NOW + 600).signature
    with pytest.raises(ApprovalLinkInvalid):
        links.verify(KEY, "abc123DEF456", APPROVER, str(NOW + 600), signature, now=NOW)


def test_an_expired_link_is_refused_as_expired() -> None:
    signature = links.sign(KEY, "abc123DEF456", APPROVER, NOW).signature
    with pytest.raises(ApprovalExpired):
        links.verify(KEY, "abc123DEF456", APPROVER, str(NOW), signature, now=NOW)


@pytest.mark.parametrize("expires", ["", "12a", "-5", "1" * 13, "1e9"])
def test_a_malformed_expiry_is_refused(expires: str) -> None:
    with pytest.raises(ApprovalLinkInvalid):
        links.verify(KEY, "abc123DEF456", APPROVER, expires, "00", now=NOW)


@given(
    approval_id=st.text(max_size=40),
    approver=st.text(max_size=60),
    expires=st.text(max_size=14),
    signature=st.text(max_size=70),
)
def test_arbitrary_links_never_verify(approval_id: str, approver: str, expires: str, signature: str) -> None:
    with pytest.raises((ApprovalLinkInvalid, ApprovalExpired)):
        links.verify(KEY, approval_id, approver, expires, signature, now=NOW)


def test_a_csrf_token_is_bound_to_its_approval_approver_and_age() -> None:
    nonce, token = links.issue_csrf(KEY, "abc123DEF456", APPROVER, now=NOW)
    links.verify_csrf(KEY, "abc123DEF456", APPROVER, nonce, token, now=NOW + 60)

    with pytest.raises(ApprovalCsrfInvalid, match="does not verify"):
        links.verify_csrf(KEY, "other", APPROVER, nonce, token, now=NOW + 60)
    with pytest.raises(ApprovalCsrfInvalid, match="does not verify"):
        links.verify_csrf(KEY, "abc123DEF456", "someone@example.com", nonce, token, now=NOW + 60)
    with pytest.raises(ApprovalCsrfInvalid, match="too old"):
        links.verify_csrf(
            KEY, "abc123DEF456", APPROVER, nonce, token, now=NOW + links.CSRF_MAX_AGE_SECONDS + 1
        )
    with pytest.raises(ApprovalCsrfInvalid, match="missing"):
        links.verify_csrf(KEY, "abc123DEF456", APPROVER, "", token, now=NOW)


def test_each_rendering_gets_its_own_nonce() -> None:
    first = links.issue_csrf(KEY, "abc123DEF456", APPROVER, now=NOW)
    second = links.issue_csrf(KEY, "abc123DEF456", APPROVER, now=NOW)
    assert first != second


def test_a_non_ascii_signature_or_csrf_token_is_refused_not_a_crash() -> None:
    # hmac.compare_digest raises TypeError on non-ASCII text; a link is text anyone can type.
    link = links.sign(KEY, "abc123DEF456", APPROVER, NOW + 600)
    with pytest.raises(ApprovalLinkInvalid, match="does not verify"):
        links.verify(KEY, "abc123DEF456", APPROVER, str(NOW + 600), link.signature[:-1] + "é", now=NOW)
    nonce, token = links.issue_csrf(KEY, "abc123DEF456", APPROVER, now=NOW)
    with pytest.raises(ApprovalCsrfInvalid, match="does not verify"):
        links.verify_csrf(KEY, "abc123DEF456", APPROVER, nonce, token[:-1] + "\x80", now=NOW + 60)
