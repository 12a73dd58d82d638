"""The local outbox: the emails (kept by moto's SES) and Slack messages the control plane sent."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from typing import Any

_LINK = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class OutboxMessage:
    channel: str
    recipient: str
    subject: str
    text: str
    links: list[str]
    # The message as sent: an email's HTML part, a Slack call's JSON body.
    payload: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _HtmlText(HTMLParser):
    """An HTML email as a person skimming it would read it, and the links they could click."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href and href.startswith(("http://", "https://")):
            self.links.append(href)
        if tag in ("p", "tr", "br", "div", "li", "h1", "h2", "h3"):
            self.parts.append("\n")
        elif tag == "td" and self.parts and not self.parts[-1].endswith((": ", "\n")):
            self.parts.append("  ")  # cells of one row stay apart

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self.parts.append(": ")  # a row's header is the label of the cells after it

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def text(self) -> str:
        return re.sub(r"[ \t]+\n", "\n", "".join(self.parts)).strip()


class SesOutbox:
    def __init__(self, account: str, region: str) -> None:
        self._account = account
        self._region = region

    def _sent_messages(self) -> list[Any]:
        from moto.ses.models import ses_backends

        return list(ses_backends[self._account][self._region].sent_messages)

    def sent(self) -> int:
        """How many messages were sent so far: a cursor for ``messages(after=...)``."""
        return len(self._sent_messages())

    def messages(self, *, after: int = 0) -> list[OutboxMessage]:
        """The messages sent, or only those sent after the first ``after`` (see ``sent``)."""
        found = []
        for message in self._sent_messages()[after:]:
            body = getattr(message, "body", None)
            if body is None:  # templated or raw messages: not sent by this control plane
                continue
            # moto keeps only the HTML part of a message that has both: read it as text and links.
            if body.lstrip().lower().startswith("<html"):
                parsed = _HtmlText(body)
                text, links, payload = parsed.text(), parsed.links, {"html": body}
            else:
                text, links, payload = body, _LINK.findall(body), {}
            for recipient in message.destinations.get("ToAddresses", []):
                found.append(
                    OutboxMessage(
                        channel="email",
                        recipient=recipient,
                        subject=message.subject,
                        text=text,
                        links=links,
                        payload=payload,
                    )
                )
        return found


class SlackOutbox:
    """Stands in for Slack's Web API and response_urls on the local plane: records each call as a message
    (chat.postMessage, chat.update, views.open with its modal, each response_url post)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[OutboxMessage] = []

    def messages(self) -> list[OutboxMessage]:
        with self._lock:
            return list(self._messages)

    def handle(self, kind: str, name: str, body: bytes) -> dict[str, Any]:
        """``kind`` "api" (``name`` a Web API method) or "response" (a response_url); Slack's answer."""
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            document = {}
        ts = f"{time.time():.6f}"
        # views.open names no channel: the modal goes to whoever's trigger_id it is.
        trigger = f"trigger:{document['trigger_id']}" if document.get("trigger_id") else None
        recipient = str(document.get("channel") or trigger or f"response_url:{name}")
        subject = f"{kind}:{name}"
        text = str(document.get("text") or "")
        with self._lock:
            self._messages.append(
                OutboxMessage(
                    channel="slack",
                    recipient=recipient,
                    subject=subject,
                    text=text,
                    links=_LINK.findall(json.dumps(document.get("blocks") or [])),
                    payload=document,
                )
            )
        if kind == "api" and name == "views.open":
            view = document.get("view")
            if not isinstance(view, dict) or not document.get("trigger_id"):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True, "view": {**view, "id": f"V{int(float(ts) * 1e6):X}"}}
        if kind == "api":
            return {"ok": True, "channel": recipient, "ts": str(document.get("ts") or ts)}
        return {"ok": True}
