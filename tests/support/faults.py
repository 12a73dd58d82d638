"""Fault injection at the AWS API boundary of the in-process handlers (boto3's default session).

The handlers of the local plane run in the test process and share one cached client per service
(``promotion.adapters.aws.client``), so a hook on that client makes one real call fail the way AWS would,
while the rest of the handler's code runs unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from promotion.adapters import aws


@dataclass
class AwsFault:
    service: str  # botocore event name of the service, e.g. "lambda", "sesv2"
    operation: str  # e.g. "UpdateAlias", "SendEmail"
    when: Callable[[dict[str, Any]], bool] = lambda params: True
    code: str = "ServiceException"
    times: int | None = None  # None: every matching call
    hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.when(params):
            return
        with self._lock:
            if self.times is not None and self.hits >= self.times:
                return
            self.hits += 1
        raise ClientError({"Error": {"Code": self.code, "Message": f"injected {self.code}"}}, model.name)


@contextmanager
def aws_fault(fault: AwsFault) -> Iterator[AwsFault]:
    events = aws.client(fault.service).meta.events
    event = f"provide-client-params.{fault.service}.{fault.operation}"
    events.register(event, fault)
    try:
        yield fault
    finally:
        events.unregister(event, fault)
