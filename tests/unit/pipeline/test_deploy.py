"""Deploying one pinned build to every function of an environment (moto Lambda and S3)."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from promote_cli.local import moto_patches
from promotion.errors import CodeShaMismatch, DeployFailed
from promotion.models.config import EnvironmentTarget
from promotion.models.execution import EnvironmentDeployment, FunctionDeployment, PinnedArtifact
from promotion.pipeline.artifacts import lambda_code_sha256
from promotion.pipeline.deploy import deploy_environment

REGION = "us-east-1"
BUCKET = "unit-artifacts"
REPO = "example-org/sentiment-service"
SHA = "0123456789abcdef0123456789abcdef01234567"
KEY = f"builds/{REPO}/{SHA}/package.zip"
FUNCTIONS = {"api": "svc-unit-prod-api", "worker": "svc-unit-prod-worker"}
TARGET = EnvironmentTarget(
    functions=FUNCTIONS, alias="live", http_entry="api", base_url="https://prod.example.com", alarms=[]
)


def package(marker: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"MARKER = {marker!r}\ndef handler(event, context):\n    return MARKER\n")
    return buffer.getvalue()


BOOTSTRAP = package("bootstrap")
BUILD = package("build under test")


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    """Lambda and S3 clients on moto: two functions on version 1 behind ``live``, a versioned bucket."""
    # moto reads the latest S3 object on UpdateFunctionCode; the patch honours S3ObjectVersion as AWS does.
    moto_patches.apply()
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="unit-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam = boto3.client("lambda", region_name=REGION)
        for name in FUNCTIONS.values():
            lam.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": BOOTSTRAP},
            )
            version = lam.publish_version(FunctionName=name)["Version"]
            lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield lam, s3


def pin(s3: Any, body: bytes) -> PinnedArtifact:
    version = s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)["VersionId"]
    return PinnedArtifact(
        repo=REPO,
        sha=SHA,
        bucket=BUCKET,
        key=KEY,
        version_id=version,
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
        manifest_key=f"builds/{REPO}/{SHA}/manifest.json",
        manifest_version_id="unused-here",
    )


def alias_versions(lam: Any) -> dict[str, str]:
    return {
        key: lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"]
        for key, name in FUNCTIONS.items()
    }


class FailingAliasClient:
    """The real client, except that moving ``fail_for``'s alias fails (as AWS refuses it, by default)."""

    def __init__(self, client: Any, fail_for: str, error: Exception | None = None) -> None:
        self._client = client
        self._fail_for = fail_for
        self._error = error or ClientError(
            {"Error": {"Code": "PreconditionFailedException", "Message": "revision changed"}}, "UpdateAlias"
        )
        self.alias_moves: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_alias(self, **kwargs: Any) -> Any:
        self.alias_moves.append((kwargs["FunctionName"], kwargs["FunctionVersion"]))
        if kwargs["FunctionName"] == self._fail_for:
            raise self._error
        return self._client.update_alias(**kwargs)


def test_every_function_gets_a_new_version_and_the_aliases_move_together(aws: tuple[Any, Any]) -> None:
    lam, s3 = aws
    artifact = pin(s3, BUILD)

    deployment = deploy_environment(lam, "prod", TARGET, artifact)

    expected_sha = lambda_code_sha256(artifact.sha256)
    assert deployment.environment == "prod"
    assert [f.key for f in deployment.functions] == ["api", "worker"]
    for function in deployment.functions:
        assert function.function_name == FUNCTIONS[function.key]
        assert function.alias == "live"
        assert function.previous_version == "1"
        assert function.version == "2"
        assert function.code_sha256 == expected_sha
        served = lam.get_function_configuration(FunctionName=function.function_name, Qualifier="live")
        assert served["Version"] == "2"
        assert served["CodeSha256"] == expected_sha
    assert alias_versions(lam) == {"api": "2", "worker": "2"}


def test_the_functions_code_updates_run_at_once(aws: tuple[Any, Any]) -> None:
    """On AWS each update takes seconds to apply: the environment waits for the slowest, not the sum."""
    lam, s3 = aws
    both_updating = threading.Barrier(len(FUNCTIONS), timeout=5)

    def updating(**_: Any) -> None:
        both_updating.wait()  # one function after the other would break the barrier after 5 s

    lam.meta.events.register("before-call.lambda.UpdateFunctionCode", updating)
    try:
        deployment = deploy_environment(lam, "prod", TARGET, pin(s3, BUILD))
    finally:
        lam.meta.events.unregister("before-call.lambda.UpdateFunctionCode", updating)
    assert [f.version for f in deployment.functions] == ["2", "2"]
    assert alias_versions(lam) == {"api": "2", "worker": "2"}


def test_code_sha256_is_base64_of_the_pinned_sha256_even_after_the_key_is_overwritten(
    aws: tuple[Any, Any],
) -> None:
    # Given a pinned build whose S3 key is then overwritten with other bytes
    lam, s3 = aws
    artifact = pin(s3, BUILD)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=package("overwrite"))

    # When it is deployed
    deployment = deploy_environment(lam, "preprod", TARGET, artifact)

    # Then the functions run the pinned version's bytes
    code_sha = lambda_code_sha256(hashlib.sha256(BUILD).hexdigest())
    assert {f.code_sha256 for f in deployment.functions} == {code_sha}
    for name in FUNCTIONS.values():
        assert lam.get_function_configuration(FunctionName=name, Qualifier="2")["CodeSha256"] == code_sha


def test_must_match_with_other_bytes_refuses_before_touching_anything(aws: tuple[Any, Any]) -> None:
    lam, s3 = aws
    artifact = pin(s3, BUILD)
    preprod = EnvironmentDeployment(
        environment="preprod",
        functions=[
            FunctionDeployment(
                key="api",
                function_name="svc-unit-preprod-api",
                alias="live",
                previous_version="1",
                version="2",
                code_sha256=lambda_code_sha256(hashlib.sha256(b"what preprod really runs").hexdigest()),
            )
        ],
    )

    with pytest.raises(CodeShaMismatch, match="preprod svc-unit-preprod-api runs CodeSha256"):
        deploy_environment(lam, "prod", TARGET, artifact, must_match=preprod)

    assert alias_versions(lam) == {"api": "1", "worker": "1"}
    versions = lam.list_versions_by_function(FunctionName=FUNCTIONS["api"])["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_must_match_with_the_same_bytes_deploys(aws: tuple[Any, Any]) -> None:
    lam, s3 = aws
    artifact = pin(s3, BUILD)
    preprod = deploy_environment(lam, "preprod", TARGET, artifact)
    # the same functions stand in for prod here: what matters is that equal bytes pass the guard
    prod = deploy_environment(lam, "prod", TARGET, artifact, must_match=preprod)
    assert [f.previous_version for f in prod.functions] == ["2", "2"]
    assert alias_versions(lam) == {"api": "3", "worker": "3"}


def test_a_function_without_the_alias_fails_the_deploy(aws: tuple[Any, Any]) -> None:
    lam, s3 = aws
    lam.delete_alias(FunctionName=FUNCTIONS["worker"], Name="live")
    with pytest.raises(DeployFailed, match=r"svc-unit-prod-worker: alias 'live' not readable"):
        deploy_environment(lam, "prod", TARGET, pin(s3, BUILD))
    # the alias that exists did not move
    assert lam.get_alias(FunctionName=FUNCTIONS["api"], Name="live")["FunctionVersion"] == "1"


def test_a_missing_package_version_fails_the_deploy(aws: tuple[Any, Any]) -> None:
    lam, s3 = aws
    artifact = pin(s3, BUILD).model_copy(update={"version_id": "no-such-version"})
    with pytest.raises(DeployFailed, match="svc-unit-prod-api"):
        deploy_environment(lam, "prod", TARGET, artifact)
    assert alias_versions(lam) == {"api": "1", "worker": "1"}


def test_a_failing_alias_move_undoes_the_moves_already_made(aws: tuple[Any, Any]) -> None:
    # Given a client whose alias move for the second function (worker) fails
    lam, s3 = aws
    client = FailingAliasClient(lam, fail_for=FUNCTIONS["worker"])

    # When the environment is deployed
    with pytest.raises(
        DeployFailed, match="alias move failed, earlier moves undone: PreconditionFailedException"
    ):
        deploy_environment(client, "prod", TARGET, pin(s3, BUILD))

    # Then api moved to 2, worker's move failed, and api went back to 1: nothing runs half new
    assert client.alias_moves == [
        (FUNCTIONS["api"], "2"),
        (FUNCTIONS["worker"], "2"),
        (FUNCTIONS["api"], "1"),
    ]
    assert alias_versions(lam) == {"api": "1", "worker": "1"}


def test_published_code_that_is_not_the_pinned_bytes_is_a_code_sha_mismatch(aws: tuple[Any, Any]) -> None:
    # Given a pinned artifact whose recorded sha256 is not what the pinned object holds
    lam, s3 = aws
    artifact = pin(s3, BUILD).model_copy(update={"sha256": hashlib.sha256(b"tested bytes").hexdigest()})

    with pytest.raises(CodeShaMismatch, match="svc-unit-prod-api version 2 has CodeSha256"):
        deploy_environment(lam, "prod", TARGET, artifact)

    assert alias_versions(lam) == {"api": "1", "worker": "1"}


def test_a_connection_lost_during_the_alias_moves_also_undoes_them(aws: tuple[Any, Any]) -> None:
    # Given the network fails while the second alias (worker) moves: no answer, not a refusal
    lam, s3 = aws
    lost = EndpointConnectionError(endpoint_url="https://lambda.us-east-1.amazonaws.com")
    client = FailingAliasClient(lam, fail_for=FUNCTIONS["worker"], error=lost)

    # When the environment is deployed
    with pytest.raises(
        DeployFailed, match="alias move failed, earlier moves undone: EndpointConnectionError"
    ):
        deploy_environment(client, "prod", TARGET, pin(s3, BUILD))

    # Then the api alias that had moved is back: the service never runs half old and half new
    assert client.alias_moves[-1] == (FUNCTIONS["api"], "1")
    assert alias_versions(lam) == {"api": "1", "worker": "1"}


class RefusingPublishClient:
    """The real client, except that PublishVersion refuses as AWS does when $LATEST's CodeSha256 differs."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def publish_version(self, **kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "PreconditionFailedException", "Message": "CodeSha256 does not match"}},
            "PublishVersion",
        )


def test_publish_refused_for_another_code_sha_is_a_code_sha_mismatch(aws: tuple[Any, Any]) -> None:
    lam, s3 = aws
    with pytest.raises(CodeShaMismatch, match=r"svc-unit-prod-api: \$LATEST does not hold the pinned bytes"):
        deploy_environment(RefusingPublishClient(lam), "prod", TARGET, pin(s3, BUILD))
    assert alias_versions(lam) == {"api": "1", "worker": "1"}
