"""Publishing one build where the control plane looks for it: a zip and, last, its manifest.

Layout (docs/contracts.md, read back by ``promotion.pipeline.artifacts``)::

    s3://{bucket}/{prefix}{owner}/{repo}/{sha}/package.zip
    s3://{bucket}/{prefix}{owner}/{repo}/{sha}/manifest.json      <- written last

The manifest goes last, so a reader that finds it finds a complete build. Both puts carry their SHA-256, so
S3 refuses bytes that changed on the way. ``promote publish`` (CI, real AWS) and ``promote local publish``
(the sample service) both publish through here. The only S3 action used is ``s3:PutObject``: exactly what
the CI role (roles/ci-upload.yaml) grants.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import stat
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from promotion.errors import ArtifactNotVersioned
from promotion.models.config import REPO_PATTERN, ArtifactSource
from promotion.models.validation import describe_validation_error
from promotion.naming import SHA_PATTERN
from promotion.pipeline.artifacts import BuildManifest, build_prefix, manifest_key

PACKAGE_NAME = "package.zip"
# S3's general-purpose bucket names: 3-63 lowercase letters, digits, dots and hyphens, ends alphanumeric.
BUCKET_NAME_PATTERN = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
# Lambda's limit for a function's code unzipped (from S3), layers aside.
MAX_UNZIPPED_BYTES = 262_144_000
# Never part of a build: byte-code caches differ from run to run, and a checkout's history is not code.
SKIPPED_DIRECTORIES = frozenset({"__pycache__", ".git"})

# The DOS epoch: the earliest timestamp a zip entry can carry, so no build depends on when it ran.
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
# Regular files, rw-r--r-- or rwxr-xr-x, in the Unix half of the external attributes.
_ZIP_FILE_MODE = 0o100644 << 16
_ZIP_EXECUTABLE_MODE = 0o100755 << 16
_ZIP_CREATE_SYSTEM_UNIX = 3


class PublishError(ValueError):
    """An input that cannot be published; the message says what to fix."""


@dataclass(frozen=True)
class PublishedBuild:
    repo: str
    sha: str
    bucket: str
    package_key: str
    package_version_id: str
    manifest_key: str
    manifest_version_id: str
    sha256: str
    size: int


def check_repo(repo: str) -> str:
    # "." and ".." are no GitHub owner or repository name, and as key segments they only mislead.
    if not re.match(REPO_PATTERN, repo) or {".", ".."} & set(repo.split("/")):
        raise PublishError(f"repo {repo!r} is not 'owner/name'")
    return repo


def check_sha(sha: str) -> str:
    if not re.match(SHA_PATTERN, sha):
        raise PublishError(f"commit SHA {sha!r} is not 40 lowercase hex characters")
    return sha


def artifact_source(bucket: str, prefix: str) -> ArtifactSource:
    """Where builds go, checked as a pipeline's ``artifacts`` setting is (and the bucket by S3's rules)."""
    if not re.fullmatch(BUCKET_NAME_PATTERN, bucket):
        raise PublishError(f"artifact location: bucket {bucket!r} is not an S3 bucket name")
    try:
        return ArtifactSource(bucket=bucket, prefix=prefix)
    except ValidationError as error:
        raise PublishError(f"artifact location: {describe_validation_error(error)}") from None


@dataclass(frozen=True)
class BuildFiles:
    """A build's files by their path in the zip, and which of them are executable."""

    files: dict[str, bytes]
    executable: frozenset[str] = frozenset()


def read_build_directory(directory: Path) -> BuildFiles:
    """Every regular file under ``directory`` (the service's build), by its path relative to it."""
    if not directory.exists():
        raise PublishError(f"build directory {directory} does not exist")
    if not directory.is_dir():
        raise PublishError(f"{directory} is not a directory")
    files: dict[str, bytes] = {}
    executable: set[str] = set()
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if SKIPPED_DIRECTORIES.intersection(relative.parts) or not path.is_file():
            continue
        name = relative.as_posix()
        files[name] = path.read_bytes()
        if path.stat().st_mode & stat.S_IXUSR:
            executable.add(name)
    if not files:
        raise PublishError(f"build directory {directory} has no files to package")
    total = sum(len(data) for data in files.values())
    if total > MAX_UNZIPPED_BYTES:
        raise PublishError(
            f"build directory {directory} holds {total} bytes; "
            f"Lambda takes at most {MAX_UNZIPPED_BYTES} bytes unzipped"
        )
    return BuildFiles(files=files, executable=frozenset(executable))


def package_zip(files: Mapping[str, bytes], executable: Collection[str] = ()) -> bytes:
    """The deployment zip of ``files``; equal inputs give equal bytes (fixed order, times and modes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = _ZIP_CREATE_SYSTEM_UNIX
            info.external_attr = _ZIP_EXECUTABLE_MODE if name in executable else _ZIP_FILE_MODE
            archive.writestr(info, files[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def build_manifest(
    repo: str,
    sha: str,
    package: bytes,
    *,
    builder: str,
    package_name: str = PACKAGE_NAME,
    built_at: datetime | None = None,
) -> dict[str, object]:
    """The ``manifest.json`` document beside ``package`` (checked against ``BuildManifest``)."""
    moment = (built_at or datetime.now(UTC)).astimezone(UTC)
    document: dict[str, object] = {
        "schema_version": 1,
        "repo": repo,
        "sha": sha,
        "package": {"key": package_name, "sha256": hashlib.sha256(package).hexdigest(), "size": len(package)},
        "built_at": moment.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "builder": builder,
    }
    BuildManifest.model_validate(document)
    return document


def default_builder(environ: Mapping[str, str] = os.environ) -> str:
    """Who built it: the GitHub Actions run when there is one (its URL), else the command."""
    run_id = environ.get("GITHUB_RUN_ID")
    repository = environ.get("GITHUB_REPOSITORY")
    if environ.get("GITHUB_ACTIONS") == "true" and run_id and repository:
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        attempt = environ.get("GITHUB_RUN_ATTEMPT", "1")
        return f"{server}/{repository}/actions/runs/{run_id}/attempts/{attempt}"
    return "promote publish"


def _sha256_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _version_id(response: Mapping[str, Any], bucket: str, key: str) -> str:
    version = response.get("VersionId")
    if not version or version == "null":
        raise ArtifactNotVersioned(
            f"s3://{bucket}/{key} got no object version: enable versioning on the artifact bucket"
        )
    return str(version)


def publish_package(
    s3: Any, *, source: ArtifactSource, repo: str, sha: str, package: bytes, builder: str
) -> PublishedBuild:
    """Put ``package`` and then its manifest under the build's prefix; nothing but ``s3:PutObject``."""
    check_repo(repo)
    check_sha(sha)
    if not package:
        raise PublishError("the package is empty")
    package_key = build_prefix(source, repo, sha) + PACKAGE_NAME
    document_key = manifest_key(source, repo, sha)
    manifest = build_manifest(repo, sha, package, builder=builder)
    manifest_body = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()

    package_response = s3.put_object(
        Bucket=source.bucket,
        Key=package_key,
        Body=package,
        ContentType="application/zip",
        ChecksumSHA256=_sha256_base64(package),
    )
    package_version = _version_id(package_response, source.bucket, package_key)
    # Last: a reader that finds the manifest finds a complete build.
    manifest_response = s3.put_object(
        Bucket=source.bucket,
        Key=document_key,
        Body=manifest_body,
        ContentType="application/json",
        ChecksumSHA256=_sha256_base64(manifest_body),
    )
    return PublishedBuild(
        repo=repo,
        sha=sha,
        bucket=source.bucket,
        package_key=package_key,
        package_version_id=package_version,
        manifest_key=document_key,
        manifest_version_id=_version_id(manifest_response, source.bucket, document_key),
        sha256=hashlib.sha256(package).hexdigest(),
        size=len(package),
    )


def publish_directory(
    s3: Any, *, source: ArtifactSource, repo: str, sha: str, directory: Path, builder: str
) -> PublishedBuild:
    """``promote publish``: zip the build directory and publish it."""
    check_repo(repo)
    check_sha(sha)
    build = read_build_directory(directory)
    return publish_package(
        s3,
        source=source,
        repo=repo,
        sha=sha,
        package=package_zip(build.files, build.executable),
        builder=builder,
    )
