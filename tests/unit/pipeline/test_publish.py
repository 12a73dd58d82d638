"""``promote publish``: the zip, the manifest and the upload CI makes, read back by the fetch step (moto)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from promote_cli import cli, publish
from promotion.errors import ArtifactNotVersioned
from promotion.models.config import ArtifactSource
from promotion.pipeline.artifacts import BuildManifest, fetch_and_pin
from tests.support.artifact_bucket import RecordingS3, versioned_bucket

BUCKET = "release-promotion-artifacts-123456789012-us-east-1"
PREFIX = "builds/"
REPO = "example-org/orders-service"
SHA = "0123456789abcdef0123456789abcdef01234567"
SOURCE = ArtifactSource(bucket=BUCKET, prefix=PREFIX)
BUILDER = "https://github.com/example-org/orders-service/actions/runs/42/attempts/1"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with versioned_bucket(monkeypatch, BUCKET) as client:
        yield client


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "build"
    (directory / "orders" / "__pycache__").mkdir(parents=True)
    (directory / "app.py").write_text("def handler(event, context):\n    return {}\n")
    (directory / "orders" / "__init__.py").write_text("")
    (directory / "orders" / "__pycache__" / "__init__.cpython-313.pyc").write_bytes(b"\x00cache")
    (directory / "bootstrap").write_text("#!/bin/sh\nexec python3 app.py\n")
    (directory / "bootstrap").chmod(0o755)
    (directory / ".git").mkdir()
    (directory / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return directory


def keys(s3: Any) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


# ---- the zip ---------------------------------------------------------------------------------------------
def test_the_zip_holds_the_build_directory_and_nothing_else(build_dir: Path) -> None:
    build = publish.read_build_directory(build_dir)
    package = publish.package_zip(build.files, build.executable)
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        assert sorted(infos) == ["app.py", "bootstrap", "orders/__init__.py"]
        assert archive.read("app.py") == (build_dir / "app.py").read_bytes()
        assert infos["bootstrap"].external_attr >> 16 == 0o100755
        assert infos["app.py"].external_attr >> 16 == 0o100644
        assert {info.date_time for info in infos.values()} == {(1980, 1, 1, 0, 0, 0)}


def test_the_zip_is_the_same_bytes_whenever_it_is_built(build_dir: Path) -> None:
    first = publish.package_zip(publish.read_build_directory(build_dir).files)
    os.utime(build_dir / "app.py", (1_700_000_000, 1_700_000_000))
    assert publish.package_zip(publish.read_build_directory(build_dir).files) == first
    (build_dir / "app.py").write_text("changed = True\n")
    assert publish.package_zip(publish.read_build_directory(build_dir).files) != first


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: (root / "file.txt", (root / "file.txt").write_text("x"))[0], "is not a directory"),
        (lambda root: (root / "empty", (root / "empty").mkdir())[0], "has no files to package"),
        (
            lambda root: (
                root / "cache-only",
                (root / "cache-only" / "__pycache__").mkdir(parents=True),
                (root / "cache-only" / "__pycache__" / "a.pyc").write_bytes(b"x"),
            )[0],
            "has no files to package",
        ),
    ],
)
def test_a_directory_without_a_build_is_refused(tmp_path: Path, make: Any, message: str) -> None:
    with pytest.raises(publish.PublishError, match=message):
        publish.read_build_directory(make(tmp_path))


def test_a_build_over_lambdas_unzipped_limit_is_refused(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = sum(len(data) for data in publish.read_build_directory(build_dir).files.values())
    monkeypatch.setattr(publish, "MAX_UNZIPPED_BYTES", total - 1)
    with pytest.raises(publish.PublishError, match=f"holds {total} bytes"):
        publish.read_build_directory(build_dir)


# ---- the manifest ----------------------------------------------------------------------------------------
def test_the_manifest_names_the_package_by_its_sha256_and_size() -> None:
    package = b"PK\x05\x06" + b"\x00" * 18
    document = publish.build_manifest(REPO, SHA, package, builder=BUILDER)
    manifest = BuildManifest.model_validate(json.loads(json.dumps(document)))
    assert (manifest.repo, manifest.sha, manifest.builder) == (REPO, SHA, BUILDER)
    assert manifest.package.key == "package.zip"
    assert manifest.package.sha256 == hashlib.sha256(package).hexdigest()
    assert manifest.package.size == len(package)
    assert manifest.built_at.endswith("Z")


def test_the_builder_is_the_github_actions_run_when_there_is_one() -> None:
    environ = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "example-org/orders-service",
        "GITHUB_RUN_ID": "42",
        "GITHUB_RUN_ATTEMPT": "1",
    }
    assert publish.default_builder(environ) == BUILDER
    assert publish.default_builder({}) == "promote publish"


# ---- the upload ------------------------------------------------------------------------------------------
def test_publish_puts_the_package_then_the_manifest_and_the_fetch_step_pins_them(
    s3: Any, build_dir: Path
) -> None:
    recorder = RecordingS3(s3)
    published = publish.publish_directory(
        recorder, source=SOURCE, repo=REPO, sha=SHA, directory=build_dir, builder=BUILDER
    )

    package_key = f"builds/{REPO}/{SHA}/package.zip"
    manifest_key = f"builds/{REPO}/{SHA}/manifest.json"
    # Only puts (all the CI role may do), the manifest last.
    assert recorder.calls == [("put_object", package_key), ("put_object", manifest_key)]
    assert (published.package_key, published.manifest_key) == (package_key, manifest_key)

    package = s3.get_object(Bucket=BUCKET, Key=package_key)["Body"].read()
    build = publish.read_build_directory(build_dir)
    assert package == publish.package_zip(build.files, build.executable)
    assert published.sha256 == hashlib.sha256(package).hexdigest()
    assert published.size == len(package)

    manifest_object = s3.get_object(Bucket=BUCKET, Key=manifest_key)
    assert manifest_object["ContentType"] == "application/json"
    manifest = json.loads(manifest_object["Body"].read())
    assert manifest["package"] == {"key": "package.zip", "sha256": published.sha256, "size": len(package)}
    assert manifest["builder"] == BUILDER

    pinned = fetch_and_pin(s3, SOURCE, REPO, SHA)
    assert (pinned.key, pinned.version_id) == (package_key, published.package_version_id)
    assert (pinned.manifest_key, pinned.manifest_version_id) == (manifest_key, published.manifest_version_id)
    assert pinned.sha256 == published.sha256


def test_each_put_carries_its_sha256_for_s3_to_verify(s3: Any) -> None:
    # S3 refuses a put whose body does not hash to x-amz-checksum-sha256 (BadDigest); moto does not check
    # it, so what is checked here is that each put sends, on the wire, the digest of the body it was given.
    bodies: dict[str, bytes] = {}
    checksums: dict[str, str] = {}

    class BodyRecordingS3(RecordingS3):
        def put_object(self, **kwargs: Any) -> Any:
            bodies[kwargs["Key"]] = kwargs["Body"]
            return super().put_object(**kwargs)

    def record(request: Any, **_: Any) -> None:
        key = urlsplit(request.url).path.lstrip("/").removeprefix(f"{BUCKET}/")  # virtual-host or path
        checksums[key] = request.headers["x-amz-checksum-sha256"].decode()

    s3.meta.events.register("before-send.s3.PutObject", record)
    published = publish.publish_package(
        BodyRecordingS3(s3), source=SOURCE, repo=REPO, sha=SHA, package=b"zip bytes", builder=BUILDER
    )
    assert set(checksums) == set(bodies) == {published.package_key, published.manifest_key}
    for key, body in bodies.items():
        assert base64.b64decode(checksums[key]) == hashlib.sha256(body).digest()
    assert base64.b64decode(checksums[published.package_key]).hex() == published.sha256


def test_publishing_to_an_unversioned_bucket_fails_before_the_manifest(s3: Any) -> None:
    s3.create_bucket(Bucket="plain-bucket")
    with pytest.raises(ArtifactNotVersioned, match="versioning"):
        publish.publish_package(
            s3,
            source=ArtifactSource(bucket="plain-bucket", prefix=PREFIX),
            repo=REPO,
            sha=SHA,
            package=b"zip bytes",
            builder=BUILDER,
        )
    listed = s3.list_objects_v2(Bucket="plain-bucket")["Contents"]
    assert [item["Key"] for item in listed] == [f"builds/{REPO}/{SHA}/package.zip"]


@pytest.mark.parametrize(
    ("repo", "sha", "message"),
    [
        ("no-owner", SHA, "is not 'owner/name'"),
        ("example-org/orders/extra", SHA, "is not 'owner/name'"),
        ("../orders-service", SHA, "is not 'owner/name'"),
        (REPO, SHA[:12], "is not 40 lowercase hex"),
        (REPO, SHA.upper(), "is not 40 lowercase hex"),
        (REPO, "bootstrap", "is not 40 lowercase hex"),
        (REPO, SHA + "/../x", "is not 40 lowercase hex"),
    ],
)
def test_publish_refuses_bad_repos_and_shas_without_writing(
    s3: Any, build_dir: Path, repo: str, sha: str, message: str
) -> None:
    with pytest.raises(publish.PublishError, match=message):
        publish.publish_directory(s3, source=SOURCE, repo=repo, sha=sha, directory=build_dir, builder=BUILDER)
    assert keys(s3) == []


# ---- the command -----------------------------------------------------------------------------------------
def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_promote_publish_uploads_and_prints_what_it_published(
    s3: Any, build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["publish", str(build_dir), "--repo", REPO, "--sha", SHA, "--bucket", BUCKET, "--builder", BUILDER]
    assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["package_key"] == f"builds/{REPO}/{SHA}/package.zip"
    assert fetch_and_pin(s3, SOURCE, REPO, SHA).sha256 == printed["sha256"]


def test_promote_publish_reads_the_bucket_from_the_environment(
    s3: Any, build_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(cli.ARTIFACT_BUCKET_ENV, BUCKET)
    monkeypatch.setenv(cli.ARTIFACT_PREFIX_ENV, "ci/")
    assert cli.main(["publish", str(build_dir), "--repo", REPO, "--sha", SHA]) == 0
    assert json.loads(capsys.readouterr().out)["manifest_key"] == f"ci/{REPO}/{SHA}/manifest.json"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--sha", "abc123"], "commit SHA 'abc123' is not 40 lowercase hex characters"),
        (["--repo", "orders-service"], "repo 'orders-service' is not 'owner/name'"),
        (["--directory", "missing"], "does not exist"),
        (["--directory", "empty"], "has no files to package"),
        (["--bucket", ""], "no artifact bucket: pass --bucket or set PROMOTE_ARTIFACT_BUCKET"),
        (["--bucket", "Not_A_Bucket!"], "artifact location: bucket"),
        (["--prefix", "/builds"], "artifact location: prefix"),
        (["--bucket", "someone-elses-bucket"], "S3 refused the upload to s3://someone-elses-bucket/builds/"),
    ],
)
def test_promote_publish_bad_input_is_one_line_on_stderr_and_exit_2(
    s3: Any,
    build_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    (tmp_path / "empty").mkdir()
    options = {"--directory": str(build_dir), "--repo": REPO, "--sha": SHA, "--bucket": BUCKET}
    name, value = arguments
    options[name] = str(tmp_path / value) if name == "--directory" else value
    directory = options.pop("--directory")
    argv = ["publish", directory, *[item for pair in options.items() for item in pair]]
    assert cli.main(argv) == 2
    line = one_error_line(capsys)
    assert line.startswith("promote: ")
    assert message in line
    assert keys(s3) == []
