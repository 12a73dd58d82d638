"""Pipeline configurations kept in SSM Parameter Store, one JSON parameter per pipeline."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from promotion.errors import UnknownPipeline
from promotion.models.config import PipelineConfig, parse_pipeline_config
from promotion.naming import PIPELINE_NAME_PATTERN

# An unknown name is remembered as unknown this long, so a flood of made-up names (the webhook's route is
# public) costs one Parameter Store call per name per window rather than one per request; short, so a
# newly created pipeline is found soon.
UNKNOWN_CACHE_SECONDS = 30
# Bounded: made-up names are unlimited, memory is not. The oldest entries go first.
UNKNOWN_CACHE_MAX_ENTRIES = 1024


class PipelineConfigStore(Protocol):
    def get(self, pipeline: str) -> PipelineConfig: ...


class SsmPipelineConfigStore:
    def __init__(
        self,
        prefix: str,
        *,
        max_age: int = 60,
        clock: Callable[[], float] = time.monotonic,
        observe: Callable[[PipelineConfig], None] | None = None,
    ) -> None:
        self._prefix = prefix
        self._max_age = max_age
        self._clock = clock
        # Told of every config read (cached or not): the logs take the pipeline's repository from it.
        self._observe = observe
        # name -> when it stops being known as unknown
        self._unknown: OrderedDict[str, float] = OrderedDict()

    def parameter_name(self, pipeline: str) -> str:
        return f"{self._prefix}{pipeline}"

    def unknown_cached(self) -> int:
        return len(self._unknown)

    def _known_unknown(self, pipeline: str) -> bool:
        until = self._unknown.get(pipeline)
        if until is None:
            return False
        if self._clock() < until:
            return True
        del self._unknown[pipeline]
        return False

    def _remember_unknown(self, pipeline: str) -> None:
        self._unknown.pop(pipeline, None)
        self._unknown[pipeline] = self._clock() + UNKNOWN_CACHE_SECONDS
        while len(self._unknown) > UNKNOWN_CACHE_MAX_ENTRIES:
            self._unknown.popitem(last=False)

    def get(self, pipeline: str) -> PipelineConfig:
        if not re.match(PIPELINE_NAME_PATTERN, pipeline):
            raise UnknownPipeline(f"{pipeline!r} is not a valid pipeline name")
        name = self.parameter_name(pipeline)
        if self._known_unknown(pipeline):
            raise UnknownPipeline(f"no pipeline {pipeline!r} (SSM parameter {name} not found recently)")
        try:
            raw = parameters.get_parameter(name, max_age=self._max_age)
        except GetParameterError as error:
            if "ParameterNotFound" in repr(error.__cause__) or "ParameterNotFound" in str(error):
                self._remember_unknown(pipeline)
                raise UnknownPipeline(f"no pipeline {pipeline!r} (SSM parameter {name} not found)") from error
            raise
        config = parse_pipeline_config(str(raw), source=f"SSM parameter {name}")
        if self._observe is not None:
            self._observe(config)
        return config
