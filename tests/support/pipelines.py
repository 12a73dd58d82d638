"""Pipeline configs for unit tests, derived from the sample service's real config file."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from promotion.models.config import PipelineConfig, parse_pipeline_config

SAMPLE_PIPELINE_FILE = (
    Path(__file__).resolve().parents[2] / "examples" / "sentiment-service" / "pipeline.local.json"
)
SAMPLE_BUCKET = "unit-artifacts"
SAMPLE_API_URL = "http://127.0.0.1:9"
# Real GitHub payloads shared by the team, beside the repository.
GITHUB_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "github"


def sample_config_dict(*, bucket: str = SAMPLE_BUCKET, api_url: str = SAMPLE_API_URL) -> dict[str, Any]:
    """The sample pipeline document with its local placeholders filled in; a fresh copy each call."""
    text = SAMPLE_PIPELINE_FILE.read_text()
    text = text.replace("${ARTIFACT_BUCKET}", bucket).replace("${LOCAL_API_URL}", api_url)
    return copy.deepcopy(json.loads(text))


def sample_config(**overrides: Any) -> PipelineConfig:
    """The sample pipeline as a validated config; ``overrides`` replace top-level fields."""
    document = sample_config_dict()
    document.update(overrides)
    return parse_pipeline_config(document, source="test")


def without_service_tests(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without the service's own test Lambda and hook, nor the function that runs them: the
    sample's ``api`` and ``worker`` alone, judged by its HTTP checks."""
    for environment in document["environments"].values():
        for key in (environment.pop("service_tests", None) or {}).values():
            environment["functions"].pop(key, None)
    return document


def sample_config_without_service_tests() -> PipelineConfig:
    return parse_pipeline_config(without_service_tests(sample_config_dict()), source="test")


def sample_config_with_github(*, bucket: str = "artifacts", **github: Any) -> PipelineConfig:
    """The sample pipeline with ``github`` fields merged into its ``github`` section."""
    document = sample_config_dict(bucket=bucket)
    document["github"] = {**document.get("github", {}), **github}
    return parse_pipeline_config(document, source="test")


def github_push_sha() -> str:
    """The head commit of a real GitHub push payload (used where a test wants a realistic SHA)."""
    payload = json.loads((GITHUB_FIXTURES / "push.with-new-branch.json").read_text())
    return str(payload["after"])
