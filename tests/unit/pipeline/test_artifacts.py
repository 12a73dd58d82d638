"""Fetching a commit's build from S3: manifest, checksum, and the object versions it pins (moto S3)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from promotion.errors import ArtifactNotFound, ArtifactNotVersioned, ChecksumMismatch, InvalidManifest
from promotion.models.config import ArtifactSource
from promotion.pipeline.artifacts import fetch_and_pin, lambda_code_sha256, manifest_key
from tests.support.pipelines import github_push_sha

BUCKET = "unit-artifacts"
REPO = "example-org/sentiment-service"
SHA = github_push_sha()
OTHER_SHA = "0123456789abcdef0123456789abcdef01234567"
SOURCE = ArtifactSource(bucket=BUCKET, prefix="builds/")
BUILD_PREFIX = f"builds/{REPO}/{SHA}/"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def manifest_for(package: bytes, /, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": 1,
        "repo": REPO,
        "sha": SHA,
        "package": {
            "key": "package.zip",
            "sha256": hashlib.sha256(package).hexdigest(),
            "size": len(package),
        },
        "built_at": "2024-05-01T12:00:00Z",
        "builder": "unit",
    }
    document.update(changes)
    return document


def put_build(
    s3: Any, package: bytes, manifest: dict[str, Any] | None = None, *, bucket: str = BUCKET
) -> str:
    """Publish as CI does (package, then manifest); returns the package's version id."""
    version = s3.put_object(Bucket=bucket, Key=BUILD_PREFIX + "package.zip", Body=package).get("VersionId")
    document = manifest if manifest is not None else manifest_for(package)
    s3.put_object(Bucket=bucket, Key=BUILD_PREFIX + "manifest.json", Body=json.dumps(document).encode())
    return str(version)


def test_pins_the_package_and_manifest_versions_it_read(s3: Any) -> None:
    package = b"PK\x03\x04 build one" * 100
    package_version = put_build(s3, package)

    pinned = fetch_and_pin(s3, SOURCE, REPO, SHA)

    manifest_version = s3.head_object(Bucket=BUCKET, Key=BUILD_PREFIX + "manifest.json")["VersionId"]
    assert pinned.bucket == BUCKET
    assert pinned.key == BUILD_PREFIX + "package.zip"
    assert pinned.version_id == package_version
    assert pinned.manifest_key == manifest_key(SOURCE, REPO, SHA) == BUILD_PREFIX + "manifest.json"
    assert pinned.manifest_version_id == manifest_version
    assert (pinned.repo, pinned.sha, pinned.size) == (REPO, SHA, len(package))
    assert pinned.sha256 == hashlib.sha256(package).hexdigest()


def test_the_pinned_version_holds_exactly_the_bytes_that_were_hashed(s3: Any) -> None:
    # Given a commit rebuilt: the same keys hold a second version of package and manifest
    first = b"first build bytes"
    second = b"second, different build bytes"
    first_version = put_build(s3, first)
    second_version = put_build(s3, second)

    # When the build is pinned
    pinned = fetch_and_pin(s3, SOURCE, REPO, SHA)

    # Then the pin is the version that was read and hashed, and reading that version gives those bytes
    assert pinned.version_id == second_version != first_version
    stored = s3.get_object(Bucket=BUCKET, Key=pinned.key, VersionId=pinned.version_id)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == pinned.sha256 == hashlib.sha256(second).hexdigest()

    # And a later overwrite of the key does not change what the pinned version holds
    s3.put_object(Bucket=BUCKET, Key=pinned.key, Body=b"overwritten later")
    again = s3.get_object(Bucket=BUCKET, Key=pinned.key, VersionId=pinned.version_id)["Body"].read()
    assert again == second


def test_no_manifest_is_artifact_not_found(s3: Any) -> None:
    with pytest.raises(
        ArtifactNotFound, match=f"no build manifest at s3://{BUCKET}/{BUILD_PREFIX}manifest.json"
    ):
        fetch_and_pin(s3, SOURCE, REPO, SHA)


def test_a_manifest_naming_a_missing_package_is_artifact_not_found(s3: Any) -> None:
    package = b"never uploaded"
    s3.put_object(
        Bucket=BUCKET, Key=BUILD_PREFIX + "manifest.json", Body=json.dumps(manifest_for(package)).encode()
    )
    with pytest.raises(ArtifactNotFound, match=r"package\.zip, which is missing"):
        fetch_and_pin(s3, SOURCE, REPO, SHA)


def test_an_unversioned_bucket_cannot_pin(s3: Any) -> None:
    s3.create_bucket(Bucket="plain-bucket")
    put_build(s3, b"package bytes", bucket="plain-bucket")
    with pytest.raises(ArtifactNotVersioned, match="enable versioning"):
        fetch_and_pin(s3, ArtifactSource(bucket="plain-bucket", prefix="builds/"), REPO, SHA)


def test_wrong_sha256_is_a_checksum_mismatch(s3: Any) -> None:
    package = b"the real bytes"
    claimed = hashlib.sha256(b"some other bytes").hexdigest()
    put_build(
        s3, package, manifest_for(package, package={"key": "package.zip", "sha256": claimed, "size": 14})
    )
    with pytest.raises(ChecksumMismatch) as caught:
        fetch_and_pin(s3, SOURCE, REPO, SHA)
    assert hashlib.sha256(package).hexdigest() in str(caught.value)
    assert f"manifest says {claimed}" in str(caught.value)


def test_wrong_size_is_a_checksum_mismatch(s3: Any) -> None:
    package = b"the real bytes"
    document = manifest_for(package)
    document["package"]["size"] = len(package) + 1
    put_build(s3, package, document)
    with pytest.raises(ChecksumMismatch, match=r"\(14 bytes\), manifest says .* \(15 bytes\)"):
        fetch_and_pin(s3, SOURCE, REPO, SHA)


def test_a_manifest_for_another_commit_is_invalid(s3: Any) -> None:
    package = b"package bytes"
    put_build(s3, package, manifest_for(package, sha=OTHER_SHA))
    with pytest.raises(InvalidManifest, match=f"describes {REPO}@{OTHER_SHA}, not {REPO}@{SHA}"):
        fetch_and_pin(s3, SOURCE, REPO, SHA)


def test_a_manifest_for_another_repo_is_invalid(s3: Any) -> None:
    package = b"package bytes"
    put_build(s3, package, manifest_for(package, repo="example-org/other-service"))
    with pytest.raises(InvalidManifest, match="describes example-org/other-service@"):
        fetch_and_pin(s3, SOURCE, REPO, SHA)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "Expecting property name"),
        (json.dumps({"schema_version": 2}).encode(), "schema_version"),
        (json.dumps(manifest_for(b"x", extra="field")).encode(), "extra: Extra inputs are not permitted"),
        (
            json.dumps(
                manifest_for(b"x", package={"key": "../escape.zip", "sha256": "0" * 64, "size": 1})
            ).encode(),
            "package.key",
        ),
    ],
)
def test_a_malformed_manifest_is_invalid(s3: Any, body: bytes, detail: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=BUILD_PREFIX + "manifest.json", Body=body)
    with pytest.raises(InvalidManifest) as caught:
        fetch_and_pin(s3, SOURCE, REPO, SHA)
    assert str(caught.value).startswith(f"s3://{BUCKET}/{BUILD_PREFIX}manifest.json: ")
    assert detail in str(caught.value)


def test_lambda_code_sha256_is_base64_of_the_digest() -> None:
    package = b"some package"
    assert (
        lambda_code_sha256(hashlib.sha256(package).hexdigest())
        == base64.b64encode(hashlib.sha256(package).digest()).decode()
    )


class SuspendedVersioningS3:
    """The real client, answering as S3 does for objects written while versioning was suspended."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_object(self, **kwargs: Any) -> Any:
        # moto omits the VersionId here; S3 itself says "null"
        return {**self._client.get_object(**kwargs), "VersionId": "null"}


def test_a_null_version_cannot_be_pinned(s3: Any) -> None:
    put_build(s3, b"package bytes")
    with pytest.raises(ArtifactNotVersioned, match="has no object version"):
        fetch_and_pin(SuspendedVersioningS3(s3), SOURCE, REPO, SHA)
