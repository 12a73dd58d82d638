"""The sample service's builds, made and published exactly as its CI would.

A build is ``examples/sentiment-service/src/*.py`` plus a generated ``build_info.py`` (``SHA``, ``VARIANT``)
at the zip root. CI publishes it under ``s3://{bucket}/{prefix}{owner}/{repo}/{sha}/``: ``package.zip`` first,
then ``manifest.json`` naming the package and its sha256. The manifest goes last, so its presence means the
build is complete. The layout comes from ``promotion.artifacts``, which the control plane reads builds with.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promotion.errors import ArtifactNotVersioned
from promotion.models.config import REPO_PATTERN, ArtifactSource
from promotion.pipeline.artifacts import BuildManifest, build_prefix, manifest_key

SAMPLE_DIR: Path = Path(__file__).resolve().parents[3] / "examples" / "sentiment-service"
VARIANTS = ("good", "fails-preprod", "fails-in-prod")
BOOTSTRAP_SHA = "bootstrap"
# The local plane's operator (an IAM user with the template's operator policy); pipeline.local.json maps
# its ARN, arn:aws:iam::123456789012:user/local-operator, to the sample's approver in approval.operators.
LOCAL_OPERATOR_USER = "local-operator"
PACKAGE_NAME = "package.zip"
BUILD_INFO_NAME = "build_info.py"

# The DOS epoch: the earliest timestamp a zip entry can carry, so no build depends on when it ran.
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
# A regular file, rw-r--r--, in the Unix half of the external attributes.
_ZIP_FILE_MODE = 0o100644 << 16
_ZIP_CREATE_SYSTEM_UNIX = 3
# Safe as a file name, an S3 key segment and a Python string literal.
_SHA_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The sample template's ServiceName: the middle of its function and alarm names (svc-<name>-<stage>-...).
SAMPLE_SERVICE_NAME = "sentiment"
SERVICE_NAME_PATTERN = re.compile(r"^[a-z0-9]{1,20}$")


@dataclass(frozen=True)
class PublishedBuild:
    repo: str
    sha: str
    variant: str
    bucket: str
    package_key: str
    package_version_id: str
    manifest_key: str
    manifest_version_id: str
    sha256: str


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: expected one of {', '.join(VARIANTS)}")


def _check_sha(sha: str) -> None:
    if not _SHA_PATTERN.match(sha):
        raise ValueError(f"build SHA {sha!r} must be 1-64 characters of letters, digits, '.', '_' or '-'")


def build_info_source(variant: str, sha: str) -> str:
    """The generated ``build_info.py`` of one build."""
    _check_variant(variant)
    _check_sha(sha)
    return (
        '"""Generated at build time: which build this package is."""\n\n'
        f"SHA = {json.dumps(sha)}\n"
        f"VARIANT = {json.dumps(variant)}\n"
    )


def copy_pipeline_document(service: str) -> str:
    """The sample's pipeline document for another copy of the sample service, deployed from the same
    template with ``ServiceName=service``: every name that says ``sentiment`` (pipeline, repo, functions,
    alarms, API token secret) says ``service`` instead, so the copy shares nothing with the sample."""
    if not SERVICE_NAME_PATTERN.match(service) or service == SAMPLE_SERVICE_NAME:
        raise ValueError(
            f"service name {service!r} must be 1-20 lowercase letters or digits, other than "
            f"{SAMPLE_SERVICE_NAME!r}"
        )
    return (SAMPLE_DIR / "pipeline.local.json").read_text().replace(SAMPLE_SERVICE_NAME, service)


def _source_files(source_dir: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in source_dir.rglob("*.py"):
        relative = path.relative_to(source_dir)
        if "__pycache__" in relative.parts or not path.is_file():
            continue
        name = relative.as_posix()
        if name == BUILD_INFO_NAME:
            raise ValueError(f"{path} would be shadowed by the generated {BUILD_INFO_NAME}: remove it")
        files[name] = path.read_bytes()
    if not files:
        raise FileNotFoundError(f"no Python sources under {source_dir}")
    return files


def build_package(variant: str, sha: str) -> bytes:
    """The deployment zip of the sample service for ``variant`` at ``sha``; equal inputs give equal bytes."""
    files = _source_files(SAMPLE_DIR / "src")
    files[BUILD_INFO_NAME] = build_info_source(variant, sha).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = _ZIP_CREATE_SYSTEM_UNIX
            info.external_attr = _ZIP_FILE_MODE
            archive.writestr(info, files[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def build_manifest(
    repo: str, sha: str, package: bytes, *, package_name: str = PACKAGE_NAME, builder: str = "local"
) -> dict[str, object]:
    """The ``manifest.json`` document CI writes beside ``package`` (checked against ``BuildManifest``)."""
    document: dict[str, object] = {
        "schema_version": 1,
        "repo": repo,
        "sha": sha,
        "package": {"key": package_name, "sha256": hashlib.sha256(package).hexdigest(), "size": len(package)},
        "built_at": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "builder": builder,
    }
    BuildManifest.model_validate(document)
    return document


def _version_id(response: dict[str, Any], bucket: str, key: str) -> str:
    version = response.get("VersionId")
    if not version or version == "null":
        raise ArtifactNotVersioned(
            f"s3://{bucket}/{key} got no object version: enable versioning on the artifact bucket"
        )
    return str(version)


def publish_build(s3: Any, *, bucket: str, prefix: str, repo: str, sha: str, variant: str) -> PublishedBuild:
    """Build ``variant`` at ``sha`` and publish it as CI does: the package, then its manifest."""
    if not re.match(REPO_PATTERN, repo):
        raise ValueError(f"repo {repo!r} is not 'owner/name'")
    package = build_package(variant, sha)
    source = ArtifactSource(bucket=bucket, prefix=prefix)
    package_key = build_prefix(source, repo, sha) + PACKAGE_NAME
    document_key = manifest_key(source, repo, sha)
    manifest = build_manifest(repo, sha, package, package_name=PACKAGE_NAME)

    package_response = s3.put_object(
        Bucket=bucket, Key=package_key, Body=package, ContentType="application/zip"
    )
    package_version = _version_id(package_response, bucket, package_key)
    # Last: a reader that finds the manifest finds a complete build.
    manifest_response = s3.put_object(
        Bucket=bucket,
        Key=document_key,
        Body=(json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode(),
        ContentType="application/json",
    )
    return PublishedBuild(
        repo=repo,
        sha=sha,
        variant=variant,
        bucket=bucket,
        package_key=package_key,
        package_version_id=package_version,
        manifest_key=document_key,
        manifest_version_id=_version_id(manifest_response, bucket, document_key),
        sha256=hashlib.sha256(package).hexdigest(),
    )
