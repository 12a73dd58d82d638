"""The execution-name scheme: ``{pipeline}-{sha[:12]}-a{attempt}``.

One name per (pipeline, commit, attempt). A webhook redelivery asks for the same attempt and so gets the same
name, which Step Functions refuses to start twice; a retry or a redeploy of the same commit asks for the next
attempt and gets a new name. Names stay within Step Functions' 80-character limit because pipeline names are
at most 60 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PIPELINE_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$"
SHA_PATTERN = r"^[0-9a-f]{40}$"
SHORT_SHA_LENGTH = 12
MAX_EXECUTION_NAME_LENGTH = 80

_NAME_RE = re.compile(r"^(?P<pipeline>[a-z0-9-]+)-(?P<sha>[0-9a-f]{12})-a(?P<attempt>[0-9]{1,4})$")


@dataclass(frozen=True)
class ExecutionName:
    pipeline: str
    short_sha: str
    attempt: int

    def __str__(self) -> str:
        return f"{self.pipeline}-{self.short_sha}-a{self.attempt}"


def execution_name(pipeline: str, sha: str, attempt: int) -> str:
    """The execution name for one attempt at promoting ``sha`` through ``pipeline``."""
    if not re.match(PIPELINE_NAME_PATTERN, pipeline):
        raise ValueError(f"pipeline name {pipeline!r} does not match {PIPELINE_NAME_PATTERN}")
    if not re.match(SHA_PATTERN, sha):
        raise ValueError(f"commit SHA {sha!r} is not 40 lowercase hex characters")
    if not 1 <= attempt <= 9999:
        raise ValueError(f"attempt {attempt} is outside 1..9999")
    name = str(ExecutionName(pipeline, sha[:SHORT_SHA_LENGTH], attempt))
    assert len(name) <= MAX_EXECUTION_NAME_LENGTH
    return name


def parse_execution_name(name: str) -> ExecutionName | None:
    """The parts of a name made by :func:`execution_name`, or None for any other name."""
    match = _NAME_RE.match(name)
    if match is None:
        return None
    return ExecutionName(match["pipeline"], match["sha"], int(match["attempt"]))


def execution_name_prefix(pipeline: str, sha: str) -> str:
    """What every attempt's name for this commit starts with (for finding earlier attempts)."""
    return f"{pipeline}-{sha[:SHORT_SHA_LENGTH]}-a"
