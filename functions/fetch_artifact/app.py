"""Fetch artifact: find the commit's build in S3, verify its checksum and pin the object versions."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point

from promotion.adapters import aws
from promotion.models.steps import FetchArtifactRequest
from promotion.runtime import parse_request, pipeline_configs
from promotion.steps import fetch_artifact as fetch_artifact_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, FetchArtifactRequest)
    return fetch_artifact_step.fetch_artifact(
        pipeline_configs(), aws.client("s3"), request, now=time.time()
    ).to_payload()
