"""Outgoing messages: email through SES and events to the SNS notifications topic."""

from __future__ import annotations

import json
from typing import Any, Protocol


class Mailer(Protocol):
    def send(self, *, to: list[str], subject: str, text: str, html: str | None = None) -> str: ...


class SesMailer:
    def __init__(self, sesv2: Any, sender: str) -> None:
        self._sesv2 = sesv2
        self._sender = sender

    def send(self, *, to: list[str], subject: str, text: str, html: str | None = None) -> str:
        body: dict[str, Any] = {"Text": {"Data": text, "Charset": "UTF-8"}}
        if html is not None:
            # Both parts: SES sends multipart/alternative, and mail clients pick the one they show.
            body["Html"] = {"Data": html, "Charset": "UTF-8"}
        response = self._sesv2.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": to},
            Content={"Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body}},
        )
        return str(response["MessageId"])


class EventPublisher(Protocol):
    def publish(self, *, subject: str, event: dict[str, Any]) -> None: ...


class SnsEventPublisher:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn

    def publish(self, *, subject: str, event: dict[str, Any]) -> None:
        self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=subject[:100],  # SNS caps subjects at 100 characters
            Message=json.dumps(event, sort_keys=True),
            MessageAttributes={"outcome": {"DataType": "String", "StringValue": str(event.get("outcome"))}},
        )
