"""Rollout rules without AWS: traffic steps, never backwards, RevisionId guards (botocore Stubber)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from promotion.errors import DeployFailed, WouldGoBackwards
from promotion.models.config import EnvironmentTarget, RolloutSettings
from promotion.models.execution import EnvironmentDeployment, FunctionDeployment, PinnedArtifact
from promotion.pipeline.deploy import deploy_environment
from promotion.pipeline.prepare import ensure_not_backwards
from promotion.pipeline.traffic import next_weight, routed_weight, shift_traffic

SHA = "0123456789abcdef0123456789abcdef01234567"
ARTIFACT = PinnedArtifact(
    repo="example-org/sentiment-service",
    sha=SHA,
    bucket="artifacts",
    key="k",
    version_id="v1",
    sha256="a" * 64,
    size=1,
    manifest_key="m",
    manifest_version_id="mv",
)
EXPECTED_CODE = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo="  # base64 of 32 bytes of 0xaa


@pytest.mark.parametrize(
    ("rollout", "steps"),
    [
        (RolloutSettings(), [1.0]),
        (RolloutSettings(strategy="canary", canary_percent=10), [0.1, 1.0]),
        (RolloutSettings(strategy="linear", step_percent=25), [0.25, 0.5, 0.75, 1.0]),
        (RolloutSettings(strategy="linear", step_percent=30), [0.3, 0.6, 0.9, 1.0]),
    ],
)
def test_rollout_steps_end_on_all_traffic(rollout: RolloutSettings, steps: list[float]) -> None:
    assert rollout.weights() == pytest.approx(steps)
    walked, current = [], 0.0
    while current < 1.0:
        current = next_weight(rollout, current)
        walked.append(current)
    assert walked == pytest.approx(steps)


def test_routed_weight_reads_the_alias() -> None:
    assert routed_weight({"FunctionVersion": "7"}, "7") == 1.0
    assert (
        routed_weight(
            {"FunctionVersion": "6", "RoutingConfig": {"AdditionalVersionWeights": {"7": 0.25}}}, "7"
        )
        == 0.25
    )
    assert routed_weight({"FunctionVersion": "6"}, "7") == 0.0


class Order:
    def __init__(self, status: str | Exception) -> None:
        self.status = status

    def compare(self, repo: str, base: str, head: str) -> Any:
        if isinstance(self.status, Exception):
            raise self.status
        return self


RUNNING, NEW = "1" * 40, "2" * 40


def test_never_backwards_refuses_an_ancestor_of_what_prod_runs() -> None:
    with pytest.raises(WouldGoBackwards, match="is an ancestor of 111111111111"):
        ensure_not_backwards(Order("behind"), "o/r", RUNNING, NEW)


@pytest.mark.parametrize("status", ["ahead", "diverged", "identical"])
def test_never_backwards_allows_what_is_not_older(status: str) -> None:
    ensure_not_backwards(Order(status), "o/r", RUNNING, NEW)


def test_never_backwards_refuses_when_it_cannot_tell() -> None:
    with pytest.raises(WouldGoBackwards, match="no GitHub token configured"):
        ensure_not_backwards(None, "o/r", RUNNING, NEW)
    with pytest.raises(WouldGoBackwards, match="ConnectionError"):
        ensure_not_backwards(Order(ConnectionError("unreachable")), "o/r", RUNNING, NEW)


def test_never_backwards_has_nothing_to_compare_on_a_bootstrap_version_or_a_retry() -> None:
    ensure_not_backwards(None, "o/r", None, NEW)
    ensure_not_backwards(None, "o/r", NEW, NEW)


def stubbed_lambda() -> tuple[Any, Stubber]:
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_a_stale_revision_makes_the_traffic_shift_fail_instead_of_overwriting() -> None:
    # moto ignores RevisionId, so this is proven against the API's real error shape with a Stubber.
    client, stubber = stubbed_lambda()
    deployment = EnvironmentDeployment(
        environment="prod",
        functions=[
            FunctionDeployment(
                key="api",
                function_name="svc-a",
                alias="live",
                previous_version="1",
                version="2",
                code_sha256=EXPECTED_CODE,
            )
        ],
    )
    stubber.add_response(
        "get_alias",
        {"FunctionVersion": "1", "RevisionId": "rev-1", "Name": "live"},
        {"FunctionName": "svc-a", "Name": "live"},
    )
    stubber.add_client_error(
        "update_alias",
        service_error_code="PreconditionFailedException",
        http_status_code=412,
        expected_params={
            "FunctionName": "svc-a",
            "Name": "live",
            "RevisionId": "rev-1",
            "FunctionVersion": "1",
            "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}},
        },
    )
    with stubber, pytest.raises(DeployFailed, match="PreconditionFailedException"):
        shift_traffic(client, deployment, RolloutSettings(strategy="canary", canary_percent=10))
    stubber.assert_no_pending_responses()


def test_a_stale_revision_fails_the_deploy_and_moves_nothing() -> None:
    client, stubber = stubbed_lambda()
    target = EnvironmentTarget(
        functions={"api": "svc-a"}, alias="live", http_entry="api", base_url="https://x"
    )
    stubber.add_response("get_alias", {"FunctionVersion": "1", "RevisionId": "rev-1"})
    stubber.add_response("update_function_code", {"FunctionName": "svc-a"})
    stubber.add_response(
        "get_function", {"Configuration": {"LastUpdateStatus": "Successful", "State": "Active"}}
    )
    stubber.add_response("publish_version", {"Version": "2", "CodeSha256": EXPECTED_CODE})
    stubber.add_client_error(
        "update_alias", service_error_code="PreconditionFailedException", http_status_code=412
    )
    with stubber, pytest.raises(DeployFailed, match="alias move failed"):
        deploy_environment(client, "prod", target, ARTIFACT)
    stubber.assert_no_pending_responses()
