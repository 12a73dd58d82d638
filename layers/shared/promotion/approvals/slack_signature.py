"""Checking that a request comes from Slack: its signature over the body and a timestamp within five minutes.

Only the Slack interactivity function checks signatures (and the decision worker it hands clicks to talks
to Slack on every click), so slack_sdk is imported here at module level and nowhere else in the shared
approval code.
"""

from __future__ import annotations

from slack_sdk.signature import Clock, SignatureVerifier

from promotion.errors import PromotionError


class SlackRequestInvalid(PromotionError):
    """The request does not carry a valid, fresh Slack signature."""


def verify_request(
    signing_secret: str,
    *,
    body: str,
    timestamp: str | None,
    signature: str | None,
    clock: Clock | None = None,
) -> None:
    """Raise unless the body carries Slack's signature and a timestamp within five minutes."""
    if (
        not timestamp
        or not (timestamp.isascii() and timestamp.isdigit())
        or len(timestamp) > 12
        or not signature
    ):
        raise SlackRequestInvalid("missing or malformed Slack signature headers")
    verifier = SignatureVerifier(signing_secret, clock) if clock else SignatureVerifier(signing_secret)
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        raise SlackRequestInvalid("Slack signature does not verify or the request is older than 5 minutes")
