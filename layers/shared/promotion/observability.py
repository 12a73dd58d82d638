"""The one Logger, Tracer and Metrics of the control plane, configured by ``POWERTOOLS_*`` variables.

The SAM template's Globals set service name, namespace and log level; the local plane and tests disable
tracing with ``POWERTOOLS_TRACE_DISABLED``.

The Tracer patches botocore (every function calls AWS) rather than every library the X-Ray SDK knows:
patching them all imports each one (``requests`` among them) into every function at cold start, which
Lambda bills. Functions that call HTTP APIs through ``requests`` have it traced with ``trace_requests``
where they build their sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, overload

from aws_lambda_powertools import Logger, Metrics, Tracer

from promotion.cold_start import resume_collector
from promotion.correlation import Correlation

logger = Logger()
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()

# Kept per thread (Powertools' thread-safe keys): the local plane runs many executions' steps at once in one
# process, and one execution's keys must never label another's lines. A warm function's next request
# replaces them.
_CORRELATION_KEYS = ("correlation_id", "pipeline", "commit", "repository")

Handler = TypeVar("Handler", bound=Callable[..., Any])


@overload
def entry_point(handler: Handler, /) -> Handler: ...
@overload
def entry_point(*, correlation_id_path: str) -> Callable[[Handler], Handler]: ...
def entry_point(
    handler: Handler | None = None, /, *, correlation_id_path: str | None = None
) -> Handler | Callable[[Handler], Handler]:
    """Every function's ``lambda_handler``: INIT's pause of the garbage collector ends (``cold_start``), then
    Powertools' Logger context (with the request's correlation id where ``correlation_id_path`` names it),
    metrics flushed at the end, and an X-Ray subsegment around the handler."""

    def decorate(function: Handler) -> Handler:
        traced = logger.inject_lambda_context(
            metrics.log_metrics(tracer.capture_lambda_handler(function)),
            correlation_id_path=correlation_id_path,
        )

        @wraps(function)
        def lambda_handler(event: Any, context: Any) -> Any:
            resume_collector()
            return traced(event, context)

        return lambda_handler  # type: ignore[return-value]

    return decorate if handler is None else decorate(handler)


def correlate(correlation: Correlation) -> None:
    """Label every following log line of this request with its execution, pipeline, commit, repository."""
    logger.thread_safe_remove_keys(_CORRELATION_KEYS)
    logger.thread_safe_append_keys(**correlation.log_keys())


def correlate_repository(pipeline: str, repository: str) -> None:
    """The repository from ``pipeline``'s config, for a request about that pipeline whose payload did not
    name it (a request about another pipeline, or one already labelled, stays as it is)."""
    keys = logger.thread_safe_get_current_keys()
    if keys.get("pipeline") == pipeline and "repository" not in keys:
        logger.thread_safe_append_keys(repository=repository)


def trace_requests() -> None:
    """X-Ray subsegments for calls made through ``requests`` (idempotent: the SDK patches a module once)."""
    tracer.patch(("requests",))
