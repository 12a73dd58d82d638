"""The environment session: who the control plane is when it touches preprod or prod (botocore Stubber)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from promotion.adapters import aws
from promotion.adapters.environment_session import (
    REFRESH_MARGIN_SECONDS,
    EnvironmentSessions,
    SessionCredentials,
    session_name,
)
from promotion.errors import EnvironmentAccessDenied, InvalidPipelineConfig, OutsideEnvironmentScope
from promotion.models.config import EnvironmentTarget, parse_pipeline_config
from promotion.pipeline.service_tests import ServiceTestFunction, ServiceTestRequest, run_test_function
from tests.support.pipelines import sample_config_dict

PREPROD_ROLE = "arn:aws:iam::222222222222:role/release-promotion-deployer-preprod"
PROD_ROLE = "arn:aws:iam::333333333333:role/release-promotion-deployer-prod"
EXECUTION = "sentiment-service-0123456789ab-a1"
NOW = 1_800_000_000.0
CLOSED_PORT = "http://127.0.0.1:9"


def target(environment: str = "prod", **changes: Any) -> EnvironmentTarget:
    document = sample_config_dict()
    document["environments"][environment].update(changes)
    config = parse_pipeline_config(document, source="test")
    return config.environments.target("prod" if environment == "prod" else "preprod")


def assumed(expires_at: float) -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLEEXAMPLE",
            "SecretAccessKey": "secret",
            "SessionToken": "token",
            "Expiration": datetime.fromtimestamp(expires_at, UTC),
        }
    }


def assume_request(role: str = PROD_ROLE, environment: str = "prod", **extra: Any) -> dict[str, Any]:
    return {
        "RoleArn": role,
        "RoleSessionName": EXECUTION,
        "DurationSeconds": 3600,
        "Tags": [
            {"Key": "pipeline", "Value": "sentiment-service"},
            {"Key": "environment", "Value": environment},
        ],
        "TransitiveTagKeys": ["pipeline", "environment"],
        **extra,
    }


class Factory:
    """Records which credentials each client was built with. Clients are real botocore ones addressed to a
    closed port: a request that got past the scope guard would fail to connect, never succeed."""

    def __init__(self) -> None:
        self.built: list[tuple[str, SessionCredentials | None]] = []
        self.clients: list[Any] = []

    def __call__(self, service: str, credentials: SessionCredentials | None) -> Any:
        self.built.append((service, credentials))
        client = boto3.client(
            service,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
            endpoint_url=CLOSED_PORT,
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
        )
        self.clients.append(client)
        return client

    def stubbers(self) -> list[Stubber]:
        stubbers = [Stubber(client) for client in self.clients]
        for stubber in stubbers:
            stubber.activate()
        return stubbers


@pytest.fixture
def sts() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def test_the_role_is_assumed_as_the_execution_with_pipeline_and_environment_tags(sts: Any) -> None:
    client, stubber = sts
    stubber.add_response("assume_role", assumed(NOW + 3600), assume_request())
    factory = Factory()
    sessions = EnvironmentSessions(client, factory, require_role=True, clock=Clock())

    clients = sessions.clients(
        "sentiment-service", "prod", target(role_arn=PROD_ROLE), execution_name=EXECUTION
    )

    assert clients.role_arn == PROD_ROLE
    assert factory.built == []  # a client is made when a step first uses it
    assert clients.lambda_client is clients.lambda_client
    assert clients.cloudwatch is not None
    assert [service for service, _ in factory.built] == ["lambda", "cloudwatch"]
    assert {credentials.access_key_id for _, credentials in factory.built if credentials} == {
        "ASIAEXAMPLEEXAMPLE"
    }


def test_the_external_id_is_sent_when_configured(sts: Any) -> None:
    client, stubber = sts
    stubber.add_response(
        "assume_role", assumed(NOW + 3600), assume_request(ExternalId="release-promotion-prod")
    )
    sessions = EnvironmentSessions(client, Factory(), require_role=True, clock=Clock())
    prod = target(role_arn=PROD_ROLE, external_id="release-promotion-prod")

    sessions.clients("sentiment-service", "prod", prod, execution_name=EXECUTION)


def test_credentials_are_reused_until_near_expiry_then_renewed(sts: Any) -> None:
    client, stubber = sts
    clock = Clock()
    stubber.add_response("assume_role", assumed(NOW + 3600), assume_request())
    stubber.add_response("assume_role", assumed(NOW + 7200), assume_request())
    factory = Factory()
    sessions = EnvironmentSessions(client, factory, require_role=True, clock=clock)
    prod = target(role_arn=PROD_ROLE)

    first = sessions.clients("sentiment-service", "prod", prod, execution_name=EXECUTION)
    assert first.lambda_client is not None
    clock.now = NOW + 3600 - REFRESH_MARGIN_SECONDS - 1
    assert sessions.clients("sentiment-service", "prod", prod, execution_name=EXECUTION) is first
    clock.now = NOW + 3600 - REFRESH_MARGIN_SECONDS + 1
    renewed = sessions.clients("sentiment-service", "prod", prod, execution_name=EXECUTION)

    assert renewed is not first
    assert renewed.lambda_client is not first.lambda_client
    # one client per session, each with its session's credentials
    assert [credentials.expires_at for _, credentials in factory.built if credentials] == [
        NOW + 3600,
        NOW + 7200,
    ]


def test_another_execution_gets_a_session_of_its_own(sts: Any) -> None:
    client, stubber = sts
    stubber.add_response("assume_role", assumed(NOW + 3600), assume_request())
    other = "sentiment-service-ba9876543210-a2"
    stubber.add_response("assume_role", assumed(NOW + 3600), {**assume_request(), "RoleSessionName": other})
    sessions = EnvironmentSessions(client, Factory(), require_role=True, clock=Clock())
    prod = target(role_arn=PROD_ROLE)

    sessions.clients("sentiment-service", "prod", prod, execution_name=EXECUTION)
    sessions.clients("sentiment-service", "prod", prod, execution_name=other)


def test_a_refused_assume_role_is_named(sts: Any) -> None:
    client, stubber = sts
    stubber.add_client_error(
        "assume_role", "AccessDenied", "not authorized", expected_params=assume_request()
    )
    sessions = EnvironmentSessions(client, Factory(), require_role=True, clock=Clock())

    with pytest.raises(EnvironmentAccessDenied, match="trust policy"):
        sessions.clients("sentiment-service", "prod", target(role_arn=PROD_ROLE), execution_name=EXECUTION)


def test_without_a_role_the_functions_own_credentials_unless_roles_are_required() -> None:
    factory = Factory()
    no_role = target(role_arn=None)
    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(sts):  # any call would fail: none may be made
        clients = EnvironmentSessions(sts, factory, require_role=False).clients(
            "sentiment-service", "prod", no_role, execution_name=EXECUTION
        )
        assert clients.role_arn is None
        assert clients.lambda_client is not clients.cloudwatch
        assert [credentials for _, credentials in factory.built] == [None, None]
        with pytest.raises(InvalidPipelineConfig, match=r"environments\.prod\.role_arn is not set"):
            EnvironmentSessions(sts, factory, require_role=True).clients(
                "sentiment-service", "prod", no_role, execution_name=EXECUTION
            )


@pytest.mark.parametrize(
    ("execution", "expected"),
    [
        (EXECUTION, EXECUTION),
        ("a b:c", None),  # characters STS refuses become "-"
        ("x" * 80, None),  # Step Functions allows 80 characters, STS 64
    ],
)
def test_session_names_fit_sts(execution: str, expected: str | None) -> None:
    name = session_name(execution)
    assert 2 <= len(name) <= 64
    assert all(c.isalnum() or c in "_+=,.@-" for c in name)
    if expected is not None:
        assert name == expected
    else:
        assert name != session_name(execution + "y")  # the hash keeps distinct names distinct


# ---- the scope guard: the second wall --------------------------------------------------------------------
def own_role_clients(environment: str) -> Any:
    factory = Factory()
    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    environment_target = target(environment, role_arn=None)
    clients = EnvironmentSessions(sts, factory, require_role=False).clients(
        "sentiment-service", environment, environment_target, execution_name=EXECUTION
    )
    # Made now, in this order (Factory.stubbers() follows it).
    assert clients.lambda_client is not clients.cloudwatch
    return clients, factory


def test_prods_clients_refuse_a_preprod_function_before_sending_anything() -> None:
    clients, _ = own_role_clients("prod")

    with pytest.raises(OutsideEnvironmentScope, match=r"svc-sentiment-preprod-api.*not a function of prod"):
        clients.lambda_client.update_alias(
            FunctionName="svc-sentiment-preprod-api", Name="live", FunctionVersion="1"
        )
    with pytest.raises(OutsideEnvironmentScope):
        clients.lambda_client.invoke(FunctionName="svc-sentiment-preprod-api:7")


def test_prods_clients_refuse_preprods_alarms_and_listing_all_alarms() -> None:
    clients, _ = own_role_clients("prod")

    with pytest.raises(OutsideEnvironmentScope, match="not prod's"):
        clients.cloudwatch.describe_alarms(AlarmNames=["svc-sentiment-preprod-api-errors"])
    with pytest.raises(OutsideEnvironmentScope, match="by name only"):
        clients.cloudwatch.describe_alarms()


def test_a_function_arn_of_another_account_is_refused() -> None:
    factory = Factory()
    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(sts) as stubber:
        stubber.add_response("assume_role", assumed(NOW + 3600), assume_request())
        clients = EnvironmentSessions(sts, factory, require_role=True, clock=Clock()).clients(
            "sentiment-service", "prod", target(role_arn=PROD_ROLE), execution_name=EXECUTION
        )
    arn = "arn:aws:lambda:us-east-1:222222222222:function:svc-sentiment-prod-api"

    with pytest.raises(OutsideEnvironmentScope, match="account 222222222222"):
        clients.lambda_client.get_alias(FunctionName=arn, Name="live")


def test_the_environments_own_functions_and_alarms_go_through() -> None:
    clients, factory = own_role_clients("prod")
    lambda_stub, cloudwatch_stub = factory.stubbers()
    lambda_stub.add_response(
        "get_alias",
        {"FunctionVersion": "3", "Name": "live", "AliasArn": "arn", "RevisionId": "r"},
        {"FunctionName": "svc-sentiment-prod-api", "Name": "live"},
    )
    cloudwatch_stub.add_response(
        "describe_alarms", {"MetricAlarms": []}, {"AlarmNames": ["svc-sentiment-prod-api-errors"]}
    )

    assert (
        clients.lambda_client.get_alias(FunctionName="svc-sentiment-prod-api", Name="live")["FunctionVersion"]
        == "3"
    )
    clients.cloudwatch.describe_alarms(AlarmNames=["svc-sentiment-prod-api-errors"])
    lambda_stub.assert_no_pending_responses()
    cloudwatch_stub.assert_no_pending_responses()


def test_a_test_lambda_deployed_beside_the_service_may_be_invoked_and_nothing_else() -> None:
    factory = Factory()
    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    environment_target = target(
        "prod", role_arn=None, service_tests={"test_function": {"function_name": "svc-sentiment-prod-suite"}}
    )
    clients = EnvironmentSessions(sts, factory, require_role=False).clients(
        "sentiment-service", "prod", environment_target, execution_name=EXECUTION
    )
    # Past the guard, the request meets the closed port: it was allowed out.
    with pytest.raises(EndpointConnectionError):
        clients.lambda_client.invoke(FunctionName="svc-sentiment-prod-suite")
    with pytest.raises(OutsideEnvironmentScope, match="not a function of prod"):
        clients.lambda_client.update_function_code(FunctionName="svc-sentiment-prod-suite", ZipFile=b"x")


def test_a_test_lambda_client_waits_the_configured_time_and_never_sends_a_run_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    waiting = aws.client_as("lambda", None, read_timeout=45)
    assert (waiting.meta.config.read_timeout, waiting.meta.config.retries["total_max_attempts"]) == (45, 1)
    assert aws.client_as("lambda", None).meta.config.read_timeout == 30


def test_a_test_run_that_never_answers_fails_after_the_timeout_and_is_sent_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a Lambda endpoint that accepts the invocation and never answers
    accepted: list[socket.socket] = []
    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(
        target=lambda: [accepted.append(server.accept()[0]) for _ in range(3)], daemon=True
    ).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{server.getsockname()[1]}")
    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "y"),
    ):
        monkeypatch.setenv(name, value)
    suite = ServiceTestFunction("svc-sentiment-prod-suite", "svc-sentiment-prod-suite", None)
    request = ServiceTestRequest(
        environment="prod", base_url="https://x", pipeline="p", sha="a" * 40, versions={}, execution=EXECUTION
    )

    # When the suite is invoked with a 1 s timeout
    started = time.monotonic()
    (result,) = run_test_function(
        aws.client_as("lambda", None, read_timeout=1), suite, request, timeout_seconds=1
    )

    # Then the run fails saying so, about a second later, and the invocation was sent once
    assert result.detail == (
        "svc-sentiment-prod-suite:$LATEST did not answer within 1 s (service_tests.timeout_seconds)"
    )
    assert time.monotonic() - started < 5
    assert len(accepted) == 1
    server.close()
