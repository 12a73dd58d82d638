"""Publishing the sample service's builds to a versioned bucket (moto), and the control plane pinning them."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from promote_cli.local import sample
from promotion.errors import ArtifactNotFound, ArtifactNotVersioned
from promotion.models.config import ArtifactSource
from promotion.pipeline.artifacts import fetch_and_pin

BUCKET = "sample-artifacts"
PREFIX = "builds/"
REPO = "example-org/sentiment-service"
SHA = "89abcdef0123456789abcdef0123456789abcdef"
SOURCE = ArtifactSource(bucket=BUCKET, prefix=PREFIX)


class RecordingS3:
    """Passes calls to a real (moto) client and records the keys written, in order."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.puts: list[str] = []

    def put_object(self, **kwargs: Any) -> Any:
        self.puts.append(kwargs["Key"])
        return self._client.put_object(**kwargs)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def publish(s3: Any, variant: str, sha: str = SHA) -> sample.PublishedBuild:
    return sample.publish_build(s3, bucket=BUCKET, prefix=PREFIX, repo=REPO, sha=sha, variant=variant)


def variant_of(package: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        namespace: dict[str, Any] = {}
        exec(archive.read("build_info.py").decode(), namespace)  # noqa: S102 - our own generated module
    return str(namespace["VARIANT"])


def test_publish_writes_package_then_manifest(s3: Any) -> None:
    recorder = RecordingS3(s3)
    build = publish(recorder, "good")

    package_key = f"{PREFIX}{REPO}/{SHA}/package.zip"
    manifest_key = f"{PREFIX}{REPO}/{SHA}/manifest.json"
    assert recorder.puts == [package_key, manifest_key]
    assert (build.package_key, build.manifest_key) == (package_key, manifest_key)
    assert (build.repo, build.sha, build.variant, build.bucket) == (REPO, SHA, "good", BUCKET)

    package = s3.get_object(Bucket=BUCKET, Key=package_key, VersionId=build.package_version_id)["Body"].read()
    assert package == sample.build_package("good", SHA)
    assert build.sha256 == hashlib.sha256(package).hexdigest()

    manifest_object = s3.get_object(Bucket=BUCKET, Key=manifest_key)
    assert manifest_object["VersionId"] == build.manifest_version_id
    assert manifest_object["ContentType"] == "application/json"
    manifest = json.loads(manifest_object["Body"].read())
    assert manifest["repo"] == REPO
    assert manifest["sha"] == SHA
    assert manifest["package"] == {"key": "package.zip", "sha256": build.sha256, "size": len(package)}


def test_control_plane_pins_the_published_build(s3: Any) -> None:
    build = publish(s3, "fails-preprod")
    pinned = fetch_and_pin(s3, SOURCE, REPO, SHA)
    assert pinned.key == build.package_key
    assert pinned.version_id == build.package_version_id
    assert pinned.manifest_key == build.manifest_key
    assert pinned.manifest_version_id == build.manifest_version_id
    assert (
        pinned.sha256
        == build.sha256
        == hashlib.sha256(sample.build_package("fails-preprod", SHA)).hexdigest()
    )


def test_republishing_a_sha_adds_a_version_and_the_pinned_one_keeps_its_bytes(s3: Any) -> None:
    first = publish(s3, "good")
    first_pin = fetch_and_pin(s3, SOURCE, REPO, SHA)

    second = publish(s3, "fails-in-prod")
    assert second.package_key == first.package_key
    assert second.package_version_id != first.package_version_id
    assert second.manifest_version_id != first.manifest_version_id
    assert second.sha256 != first.sha256

    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=first.package_key)["Versions"]
    assert {version["VersionId"] for version in versions} == {
        first.package_version_id,
        second.package_version_id,
    }

    pinned_bytes = s3.get_object(Bucket=BUCKET, Key=first_pin.key, VersionId=first_pin.version_id)[
        "Body"
    ].read()
    assert hashlib.sha256(pinned_bytes).hexdigest() == first_pin.sha256 == first.sha256
    assert variant_of(pinned_bytes) == "good"

    second_pin = fetch_and_pin(s3, SOURCE, REPO, SHA)
    assert second_pin.version_id == second.package_version_id
    assert second_pin.sha256 == second.sha256
    latest = s3.get_object(Bucket=BUCKET, Key=second_pin.key)["Body"].read()
    assert variant_of(latest) == "fails-in-prod"


def test_publishing_to_an_unversioned_bucket_fails_before_the_manifest(s3: Any) -> None:
    s3.create_bucket(Bucket="plain-bucket")
    with pytest.raises(ArtifactNotVersioned, match="versioning"):
        sample.publish_build(s3, bucket="plain-bucket", prefix=PREFIX, repo=REPO, sha=SHA, variant="good")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="plain-bucket").get("Contents", [])]
    assert keys == [f"{PREFIX}{REPO}/{SHA}/package.zip"]
    with pytest.raises(ArtifactNotFound):
        fetch_and_pin(s3, ArtifactSource(bucket="plain-bucket", prefix=PREFIX), REPO, SHA)


def test_publish_rejects_bad_inputs_without_writing(s3: Any) -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        publish(s3, "flaky")
    with pytest.raises(ValueError, match="owner/name"):
        sample.publish_build(s3, bucket=BUCKET, prefix=PREFIX, repo="no-owner", sha=SHA, variant="good")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)
