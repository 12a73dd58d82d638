"""The one Logger, Tracer and Metrics of the control plane, configured by ``POWERTOOLS_*`` variables.

The SAM template's Globals set service name, namespace and log level; the local plane and tests disable
tracing with ``POWERTOOLS_TRACE_DISABLED``.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
