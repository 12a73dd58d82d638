"""Test set-up shared by every suite: no test may reach real AWS."""

from __future__ import annotations

import os

# Credentials that only the local plane and moto accept, set before anything imports boto3.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    # As the template's Globals set it. The shared Metrics object reads it once, at import: without it,
    # the 100th metric of a long session (never flushed while disabled) fails to serialize in a handler.
    "POWERTOOLS_METRICS_NAMESPACE": "ReleasePromotion",
}.items():
    os.environ[_name] = _value
