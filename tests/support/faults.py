"""Fault injection at the AWS API boundary of the in-process handlers (boto3's default session).

The handlers of the local plane run in the test process and share one cached client per service
(``promotion.adapters.aws.client``), so a hook on that client makes one real call fail the way AWS would,
while the rest of the handler's code runs unchanged. The clients that act on an environment as its deployer
role are made from boto3's default session and kept per execution, so the hook goes on that session too,
and those clients are made afresh when the fault starts and when it ends (so they have it exactly while it
is in place).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from promotion import runtime
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
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    emitters = [aws.client(fault.service).meta.events, boto3.DEFAULT_SESSION.events]
    event = f"provide-client-params.{fault.service}.{fault.operation}"
    for events in emitters:
        events.register(event, fault)
    runtime.environment_sessions.cache_clear()
    try:
        yield fault
    finally:
        for events in emitters:
            events.unregister(event, fault)
        runtime.environment_sessions.cache_clear()
