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
}.items():
    os.environ[_name] = _value
