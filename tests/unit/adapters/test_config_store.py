"""The pipeline config store: an unknown name costs one Parameter Store call per while, not per request."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from promotion.adapters.config_store import (
    UNKNOWN_CACHE_MAX_ENTRIES,
    UNKNOWN_CACHE_SECONDS,
    SsmPipelineConfigStore,
)
from promotion.errors import UnknownPipeline
from tests.support.pipelines import sample_config_dict

REGION = "us-east-1"
PREFIX = "/unit-store/pipelines/"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ssm_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The GetParameter calls made (counted at botocore, under the powertools cache)."""
    with mock_aws():
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        calls: list[str] = []
        session = boto3.session.Session(region_name=REGION)
        session.events.register(
            "provide-client-params.ssm.GetParameter", lambda params, **_: calls.append(params["Name"])
        )
        monkeypatch.setattr(
            parameters.ssm, "DEFAULT_PROVIDERS", {"ssm": parameters.SSMProvider(boto3_session=session)}
        )
        yield calls
        parameters.clear_caches()


def test_an_unknown_name_is_remembered_as_unknown_for_a_short_while(ssm_calls: list[str]) -> None:
    clock = Clock()
    store = SsmPipelineConfigStore(PREFIX, max_age=0, clock=clock)
    for _ in range(5):
        with pytest.raises(UnknownPipeline):
            store.get("no-such-pipeline")
    assert ssm_calls == [f"{PREFIX}no-such-pipeline"]

    # Once the short while is over, the name is looked up again (it may have been created since)
    import json

    with pytest.raises(UnknownPipeline):
        store.get("sentiment-service")
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=f"{PREFIX}sentiment-service", Value=json.dumps(sample_config_dict()), Type="String"
    )
    with pytest.raises(UnknownPipeline):
        store.get("sentiment-service")
    clock.now += UNKNOWN_CACHE_SECONDS + 1
    assert store.get("sentiment-service").name == "sentiment-service"


def test_the_unknown_names_cache_is_bounded(ssm_calls: list[str]) -> None:
    store = SsmPipelineConfigStore(PREFIX, max_age=0, clock=Clock())
    for index in range(UNKNOWN_CACHE_MAX_ENTRIES + 50):
        with pytest.raises(UnknownPipeline):
            store.get(f"unknown-{index}")
    assert store.unknown_cached() <= UNKNOWN_CACHE_MAX_ENTRIES
    # The most recent names are the ones kept
    calls = len(ssm_calls)
    with pytest.raises(UnknownPipeline):
        store.get(f"unknown-{UNKNOWN_CACHE_MAX_ENTRIES + 49}")
    assert len(ssm_calls) == calls
