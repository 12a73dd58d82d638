"""Finding a commit's build in S3, checking it against its manifest, and pinning its object versions.

Layout (docs/contracts.md): ``s3://{bucket}/{prefix}{owner}/{repo}/{sha}/manifest.json`` beside the package it
names, e.g. ``.../{sha}/package.zip``. The manifest is written last by CI, so its presence means the build is
complete.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promotion.errors import ArtifactNotFound, ArtifactNotVersioned, ChecksumMismatch, InvalidManifest
from promotion.models.config import ArtifactSource
from promotion.models.execution import PinnedArtifact
from promotion.models.validation import describe_validation_error

MANIFEST_NAME = "manifest.json"
_MISSING_CODES = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}
_CHUNK = 1024 * 1024


class PackageEntry(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[A-Za-z0-9._-]+$", description="object name beside the manifest")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=1)


class BuildManifest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    repo: str
    sha: str
    package: PackageEntry
    built_at: str
    builder: str | None = None


def build_prefix(source: ArtifactSource, repo: str, sha: str) -> str:
    return f"{source.prefix}{repo}/{sha}/"


def manifest_key(source: ArtifactSource, repo: str, sha: str) -> str:
    return build_prefix(source, repo, sha) + MANIFEST_NAME


def lambda_code_sha256(sha256_hex: str) -> str:
    """Lambda's CodeSha256 (base64 of the digest) for a package whose sha256 is ``sha256_hex``."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode()


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING_CODES


def _version_of(response: dict[str, Any], bucket: str, key: str) -> str:
    version = response.get("VersionId")
    if not version or version == "null":
        raise ArtifactNotVersioned(
            f"s3://{bucket}/{key} has no object version: enable versioning on the artifact bucket"
        )
    return str(version)


def fetch_and_pin(s3: Any, source: ArtifactSource, repo: str, sha: str) -> PinnedArtifact:
    """Read the manifest, hash the package it names, and pin both to the versions that were read."""
    key = manifest_key(source, repo, sha)
    try:
        manifest_object = s3.get_object(Bucket=source.bucket, Key=key)
    except ClientError as error:
        if _is_missing(error):
            raise ArtifactNotFound(f"no build manifest at s3://{source.bucket}/{key}") from error
        raise
    manifest_version = _version_of(manifest_object, source.bucket, key)
    try:
        manifest = BuildManifest.model_validate(json.loads(manifest_object["Body"].read()))
    except (ValueError, ValidationError) as error:
        detail = describe_validation_error(error) if isinstance(error, ValidationError) else str(error)
        raise InvalidManifest(f"s3://{source.bucket}/{key}: {detail}") from error
    if manifest.repo != repo or manifest.sha != sha:
        raise InvalidManifest(
            f"s3://{source.bucket}/{key} describes {manifest.repo}@{manifest.sha}, not {repo}@{sha}"
        )

    package_key = build_prefix(source, repo, sha) + manifest.package.key
    try:
        package_object = s3.get_object(Bucket=source.bucket, Key=package_key)
    except ClientError as error:
        if _is_missing(error):
            raise ArtifactNotFound(
                f"manifest names s3://{source.bucket}/{package_key}, which is missing"
            ) from error
        raise
    # Pin the version whose bytes are hashed here: a later overwrite of the key cannot change what deploys.
    package_version = _version_of(package_object, source.bucket, package_key)
    digest = hashlib.sha256()
    size = 0
    for chunk in package_object["Body"].iter_chunks(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    actual = digest.hexdigest()
    if actual != manifest.package.sha256 or size != manifest.package.size:
        raise ChecksumMismatch(
            f"s3://{source.bucket}/{package_key} version {package_version}: sha256 {actual} ({size} bytes), "
            f"manifest says {manifest.package.sha256} ({manifest.package.size} bytes)"
        )
    return PinnedArtifact(
        repo=repo,
        sha=sha,
        bucket=source.bucket,
        key=package_key,
        version_id=package_version,
        sha256=actual,
        size=size,
        manifest_key=key,
        manifest_version_id=manifest_version,
    )
