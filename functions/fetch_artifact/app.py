"""Fetch artifact: find the commit's build in S3, verify its checksum and pin the object versions."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from promotion.adapters import aws
from promotion.models.steps import FetchArtifactRequest
from promotion.observability import logger, metrics, tracer
from promotion.runtime import parse_request, pipeline_configs
from promotion.steps import fetch_artifact as fetch_artifact_step


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, FetchArtifactRequest)
    return fetch_artifact_step.fetch_artifact(
        pipeline_configs(), aws.client("s3"), request, now=time.time()
    ).to_payload()
