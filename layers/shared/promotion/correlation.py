"""Which promotion a request belongs to: the execution name (the logs' correlation id), the pipeline, the
commit and the repository, as far as the request itself says.

Every step's payload names its execution (``$$.Execution.Name`` or ``$$.Execution.Id``); the execution name
encodes the pipeline and the commit's short SHA (promotion.naming), so those are known even where the payload
carries neither. The repository travels with the build (the pinned artifact, the execution's data); where a
step's payload does not carry it, the pipeline's config names it (promotion.observability adds it when the
config is read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from promotion.naming import parse_execution_name

# Fields of a step's payload that hold a part of the execution's own data, searched after the payload itself.
_NESTED = ("input", "execution_input", "promotion", "artifact")


@dataclass(frozen=True)
class Correlation:
    execution: str | None = None
    pipeline: str | None = None
    commit: str | None = None
    repository: str | None = None

    def log_keys(self) -> dict[str, str]:
        """The keys every log line of the request carries (absent when unknown, never ``None``)."""
        keys = {
            "correlation_id": self.execution,
            "pipeline": self.pipeline,
            "commit": self.commit,
            "repository": self.repository,
        }
        return {key: value for key, value in keys.items() if value}


def execution_name_of(execution_arn: str) -> str | None:
    """The name in an execution ARN (``arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME``)."""
    parts = execution_arn.split(":")
    return parts[7] if len(parts) == 8 and parts[5] == "execution" and parts[7] else None


Payload = BaseModel | Mapping[str, Any]


def _field(source: Payload, field: str) -> Any:
    return source.get(field) if isinstance(source, Mapping) else getattr(source, field, None)


def _parts(source: Payload) -> list[Payload]:
    parts = (_field(source, field) for field in _NESTED)
    return [part for part in parts if isinstance(part, BaseModel | Mapping)]


def _first_text(sources: list[Payload], *fields: str) -> str | None:
    for source in sources:
        for field in fields:
            value = _field(source, field)
            if isinstance(value, str) and value:
                return value
    return None


def correlation_of(request: Payload) -> Correlation:
    """What ``request`` says about its promotion: a step's validated payload, an EventBridge detail, or a
    raw payload that failed validation (whose log lines still name the execution)."""
    # The payload first, then the parts of the execution's data in it, then theirs (the build in the
    # promotion's data).
    sources: list[Payload] = []
    level: list[Payload] = [request]
    for _depth in range(3):
        sources += level
        level = [part for source in level for part in _parts(source)]
    execution = _first_text([request], "execution_name", "name")
    if execution is None:
        arn = _first_text([request], "execution_arn", "executionArn")
        execution = execution_name_of(arn) if arn else None
    named = parse_execution_name(execution) if execution else None
    return Correlation(
        execution=execution,
        pipeline=_first_text(sources, "pipeline") or (named.pipeline if named else None),
        commit=_first_text(sources, "sha") or (named.short_sha if named else None),
        repository=_first_text(sources, "repo"),
    )
