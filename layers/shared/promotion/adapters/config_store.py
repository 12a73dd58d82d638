"""Pipeline configurations kept in SSM Parameter Store, one JSON parameter per pipeline."""

from __future__ import annotations

import re
from typing import Protocol

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from promotion.errors import UnknownPipeline
from promotion.models.config import PipelineConfig, parse_pipeline_config
from promotion.naming import PIPELINE_NAME_PATTERN


class PipelineConfigStore(Protocol):
    def get(self, pipeline: str) -> PipelineConfig: ...


class SsmPipelineConfigStore:
    def __init__(self, prefix: str, *, max_age: int = 60) -> None:
        self._prefix = prefix
        self._max_age = max_age

    def parameter_name(self, pipeline: str) -> str:
        return f"{self._prefix}{pipeline}"

    def get(self, pipeline: str) -> PipelineConfig:

        if not re.match(PIPELINE_NAME_PATTERN, pipeline):
            raise UnknownPipeline(f"{pipeline!r} is not a valid pipeline name")
        name = self.parameter_name(pipeline)
        try:
            raw = parameters.get_parameter(name, max_age=self._max_age)
        except GetParameterError as error:
            if "ParameterNotFound" in repr(error.__cause__) or "ParameterNotFound" in str(error):
                raise UnknownPipeline(f"no pipeline {pipeline!r} (SSM parameter {name} not found)") from error
            raise
        return parse_pipeline_config(str(raw), source=f"SSM parameter {name}")
