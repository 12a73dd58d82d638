"""The one Logger, Tracer and Metrics of the control plane, configured by ``POWERTOOLS_*`` variables.

The SAM template's Globals set service name, namespace and log level; the local plane and tests disable
tracing with ``POWERTOOLS_TRACE_DISABLED``.

The Tracer patches botocore (every function calls AWS) rather than every library the X-Ray SDK knows:
patching them all imports each one (``requests`` among them) into every function at cold start, which
Lambda bills. Functions that call HTTP APIs through ``requests`` have it traced with ``trace_requests``
where they build their sessions.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()


def trace_requests() -> None:
    """X-Ray subsegments for calls made through ``requests`` (idempotent: the SDK patches a module once)."""
    tracer.patch(("requests",))
