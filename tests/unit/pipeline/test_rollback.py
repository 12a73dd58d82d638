"""Rollback and baselines on moto Lambda, with the local plane's RevisionId patch (as AWS behaves)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from promote_cli.local import moto_patches
from promotion.dal.environments import DynamoEnvironmentStateStore
from promotion.errors import (
    AlarmsAlreadyFiring,
    EnvironmentFrozen,
    EnvironmentNotBootstrapped,
    RollbackFailed,
)
from promotion.models.execution import BaselineFunction, EnvironmentBaseline
from promotion.pipeline.baseline import capture_baseline
from promotion.pipeline.rollback import roll_back
from tests.support.alarms import put_alarm
from tests.support.pipelines import sample_config_without_service_tests

REGION = "us-east-1"
PROD = {"api": "svc-sentiment-prod-api", "worker": "svc-sentiment-prod-worker"}


def package(marker: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    return {marker!r}\n")
    return buffer.getvalue()


@pytest.fixture
def lam() -> Iterator[Any]:
    """Two prod functions: version 1 (bootstrap) and version 2 (new), alias ``live`` on version 2."""
    moto_patches.apply()
    with mock_aws():
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="unit-role", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        client = boto3.client("lambda", region_name=REGION)
        for name in PROD.values():
            client.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": package("v1")},
            )
            client.publish_version(FunctionName=name)
            client.update_function_code(FunctionName=name, ZipFile=package("v2"))
            client.publish_version(FunctionName=name)
            client.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
        yield client


def baseline_on(version: str) -> EnvironmentBaseline:
    return EnvironmentBaseline(
        environment="prod",
        functions=[
            BaselineFunction(key=key, function_name=name, alias="live", version=version, code_sha256="x")
            for key, name in sorted(PROD.items())
        ],
    )


def alias_version(client: Any, name: str) -> str:
    return str(client.get_alias(FunctionName=name, Name="live")["FunctionVersion"])


def test_rollback_puts_every_function_back_and_clears_weights(lam: Any) -> None:
    # one alias half-shifted to version 2 with weights, to prove weights are cleared too
    lam.update_alias(
        FunctionName=PROD["worker"],
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    result = roll_back(lam, baseline_on("1"))
    assert result.restored == {"api": "1", "worker": "1"}
    assert result.moved_from == {"api": "2", "worker": "1"}
    for name in PROD.values():
        alias = lam.get_alias(FunctionName=name, Name="live")
        assert alias["FunctionVersion"] == "1"
        assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_rollback_is_idempotent(lam: Any) -> None:
    roll_back(lam, baseline_on("1"))
    again = roll_back(lam, baseline_on("1"))
    assert again.moved_from == {}
    assert again.restored == {"api": "1", "worker": "1"}


class FailingAliasClient:
    """A Lambda client whose UpdateAlias fails for one function (permission lost, throttled, ...)."""

    def __init__(self, client: Any, failing: str) -> None:
        self._client = client
        self._failing = failing

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_alias(self, **kwargs: Any) -> Any:
        if kwargs["FunctionName"] == self._failing:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "UpdateAlias"
            )
        return self._client.update_alias(**kwargs)


def test_rollback_restores_what_it_can_and_names_what_it_could_not(lam: Any) -> None:
    with pytest.raises(RollbackFailed) as raised:
        roll_back(FailingAliasClient(lam, PROD["api"]), baseline_on("1"))
    assert "svc-sentiment-prod-api" in str(raised.value)
    assert "svc-sentiment-prod-worker" not in str(raised.value)
    assert alias_version(lam, PROD["worker"]) == "1"  # the other function still went back
    assert alias_version(lam, PROD["api"]) == "2"


def test_a_stale_revision_cannot_move_an_alias_after_a_rollback(lam: Any) -> None:
    # Given a deploy that read the alias revision before the rollback ran
    stale = lam.get_alias(FunctionName=PROD["api"], Name="live")["RevisionId"]
    roll_back(lam, baseline_on("1"))

    # When that deploy finally tries to move the alias
    with pytest.raises(ClientError) as raised:
        lam.update_alias(FunctionName=PROD["api"], Name="live", FunctionVersion="2", RevisionId=stale)

    # Then it is refused, and the rollback stands
    assert raised.value.response["Error"]["Code"] == "PreconditionFailedException"
    assert alias_version(lam, PROD["api"]) == "1"


# ---- baselines -------------------------------------------------------------------------------------
@pytest.fixture
def environments(lam: Any) -> DynamoEnvironmentStateStore:
    dynamodb = boto3.resource("dynamodb", region_name=REGION)
    table = dynamodb.create_table(
        TableName="unit-environments",
        AttributeDefinitions=[
            {"AttributeName": "pipeline", "AttributeType": "S"},
            {"AttributeName": "environment", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pipeline", "KeyType": "HASH"},
            {"AttributeName": "environment", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return DynamoEnvironmentStateStore(table)


@pytest.fixture
def cloudwatch(lam: Any) -> Any:
    client = boto3.client("cloudwatch", region_name=REGION)
    config = sample_config_without_service_tests()
    for name in config.environments.prod.alarms:
        put_alarm(client, name, "OK")
    return client


def test_baseline_records_each_functions_version_and_code(
    lam: Any, cloudwatch: Any, environments: DynamoEnvironmentStateStore
) -> None:
    baseline = capture_baseline(lam, cloudwatch, environments, sample_config_without_service_tests(), "prod")
    assert {f.key: f.version for f in baseline.functions} == {"api": "2", "worker": "2"}
    code = lam.get_function_configuration(FunctionName=PROD["api"], Qualifier="2")["CodeSha256"]
    assert baseline.functions[0].code_sha256 == code


def test_baseline_refuses_a_frozen_environment_and_says_how_to_clear_it(
    lam: Any, cloudwatch: Any, environments: DynamoEnvironmentStateStore
) -> None:
    environments.freeze("sentiment-service", "prod", reason="rollback failed", by="arn:x", at=1)
    with pytest.raises(
        EnvironmentFrozen, match="promote unfreeze --pipeline sentiment-service --environment prod"
    ):
        capture_baseline(lam, cloudwatch, environments, sample_config_without_service_tests(), "prod")
    assert environments.unfreeze("sentiment-service", "prod", by="ops", at=2) is True
    assert environments.unfreeze("sentiment-service", "prod", by="ops", at=3) is False  # nothing to clear
    capture_baseline(lam, cloudwatch, environments, sample_config_without_service_tests(), "prod")


def test_baseline_refuses_prod_while_an_alarm_fires(
    lam: Any, cloudwatch: Any, environments: DynamoEnvironmentStateStore
) -> None:
    cloudwatch.set_alarm_state(AlarmName="svc-sentiment-prod-api-p99", StateValue="ALARM", StateReason="unit")
    with pytest.raises(AlarmsAlreadyFiring, match="svc-sentiment-prod-api-p99"):
        capture_baseline(lam, cloudwatch, environments, sample_config_without_service_tests(), "prod")


def test_baseline_needs_a_bootstrapped_environment(
    lam: Any, cloudwatch: Any, environments: DynamoEnvironmentStateStore
) -> None:
    lam.delete_alias(FunctionName=PROD["worker"], Name="live")
    with pytest.raises(EnvironmentNotBootstrapped, match="svc-sentiment-prod-worker"):
        capture_baseline(lam, cloudwatch, environments, sample_config_without_service_tests(), "prod")
