"""boto3 clients for the handlers, created once per warm function from boto3's default session.

Domain code never calls this: handlers pass the clients in. The default session matters locally: the
local control plane hooks Lambda invocations on it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from promotion.adapters.environment_session import SessionCredentials

# Standard retry mode retries throttling and transient errors with backoff inside the SDK, before a
# Step Functions Retry has to.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


@cache
def table(name: str) -> Any:
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)


def client_as(
    service: str, credentials: SessionCredentials | None, /, *, read_timeout: float | None = None
) -> Any:
    """A client with ``credentials`` (an environment's deployer role), or the function's own when None.

    Built on boto3's default session too, so the local plane's hooks see these clients as well. Never the
    cached ``client``: the caller registers an environment's scope guard on what it gets. ``read_timeout``
    makes a client that waits that long for an answer and sends each request once: standard retries
    would send a request that timed out again (a second test run).
    """
    config = _CONFIG
    if read_timeout is not None:
        config = _CONFIG.merge(
            Config(read_timeout=read_timeout, retries={"mode": "standard", "total_max_attempts": 1})
        )
    if credentials is None:
        return boto3.client(service, config=config)  # type: ignore[call-overload]
    return boto3.client(  # type: ignore[call-overload]
        service,
        config=config,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
    )
