"""boto3 clients for the handlers, created once per warm function from boto3's default session.

Domain code never calls this: handlers pass the clients in. The default session matters locally: the
local control plane hooks Lambda invocations on it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Standard retry mode retries throttling and transient errors with backoff inside the SDK, before a
# Step Functions Retry has to.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


@cache
def table(name: str) -> Any:
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)
