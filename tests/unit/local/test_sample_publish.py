"""Publishing the sample service's variants (moto): what is the sample's own on top of ``promote publish``.

The upload itself (package then manifest, the checksums, an unversioned bucket, bad repos and SHAs) is
``promote_cli.publish``'s and tested in tests/unit/pipeline/test_publish.py; here: each variant's package is
the build the sample makes of it, and a variant republished at one SHA never changes the pinned bytes.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from promote_cli.local import sample
from promotion.models.config import ArtifactSource
from promotion.pipeline.artifacts import fetch_and_pin
from tests.support.artifact_bucket import RecordingS3, versioned_bucket

BUCKET = "sample-artifacts"
PREFIX = "builds/"
REPO = "example-org/sentiment-service"
SHA = "89abcdef0123456789abcdef0123456789abcdef"
SOURCE = ArtifactSource(bucket=BUCKET, prefix=PREFIX)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with versioned_bucket(monkeypatch, BUCKET) as client:
        yield client


def publish(s3: Any, variant: str, sha: str = SHA) -> sample.PublishedBuild:
    return sample.publish_build(s3, bucket=BUCKET, prefix=PREFIX, repo=REPO, sha=sha, variant=variant)


def variant_of(package: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        namespace: dict[str, Any] = {}
        exec(archive.read("build_info.py").decode(), namespace)  # noqa: S102 - our own generated module
    return str(namespace["VARIANT"])


@pytest.mark.parametrize("variant", ["good", "fails-preprod"])
def test_the_published_package_is_the_variants_build_and_the_control_plane_pins_it(
    s3: Any, variant: str
) -> None:
    recorder = RecordingS3(s3)
    build = publish(recorder, variant)

    assert [key for _, key in recorder.calls] == [build.package_key, build.manifest_key]
    assert (build.repo, build.sha, build.variant, build.bucket) == (REPO, SHA, variant, BUCKET)
    package = s3.get_object(Bucket=BUCKET, Key=build.package_key, VersionId=build.package_version_id)[
        "Body"
    ].read()
    assert package == sample.build_package(variant, SHA)
    assert variant_of(package) == variant
    pinned = fetch_and_pin(s3, SOURCE, REPO, SHA)
    assert (pinned.key, pinned.version_id) == (build.package_key, build.package_version_id)
    assert (pinned.manifest_key, pinned.manifest_version_id) == (
        build.manifest_key,
        build.manifest_version_id,
    )
    assert pinned.sha256 == build.sha256 == hashlib.sha256(package).hexdigest()


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


def test_an_unknown_variant_is_refused_without_writing(s3: Any) -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        publish(s3, "flaky")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)
