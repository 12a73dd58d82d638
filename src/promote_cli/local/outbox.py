"""The local outbox: every email the control plane sent through SES (moto keeps them), as people would read them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

_LINK = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class OutboxMessage:
    channel: str
    recipient: str
    subject: str
    text: str
    links: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SesOutbox:
    def __init__(self, account: str, region: str) -> None:
        self._account = account
        self._region = region

    def messages(self) -> list[OutboxMessage]:
        from moto.ses.models import ses_backends

        backend = ses_backends[self._account][self._region]
        found = []
        for message in list(backend.sent_messages):
            body = getattr(message, "body", None)
            if body is None:  # templated or raw messages: not sent by this control plane
                continue
            for recipient in message.destinations.get("ToAddresses", []):
                found.append(
                    OutboxMessage(
                        channel="email",
                        recipient=recipient,
                        subject=message.subject,
                        text=body,
                        links=_LINK.findall(body),
                    )
                )
        return found
