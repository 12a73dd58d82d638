"""The sample service's builds, made and published exactly as its CI would.

A build is ``examples/sentiment-service/src`` plus a generated ``build_info.py`` (``SHA``, ``VARIANT``) at
the zip root, zipped and published by ``promote_cli.publish`` (the code ``promote publish`` runs in CI):
``package.zip`` first, then ``manifest.json`` naming the package and its sha256.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from promote_cli import publish

SAMPLE_DIR: Path = Path(__file__).resolve().parents[3] / "examples" / "sentiment-service"
VARIANTS = (
    "good",
    "fails-preprod",
    "fails-in-prod",
    "slow-in-prod",
    "errors-in-prod",
    "fails-own-tests",
    "fails-own-tests-in-prod",
    "fails-pre-traffic",
)
BOOTSTRAP_SHA = "bootstrap"
# The local plane's operator (an IAM user with the template's operator policy); pipeline.local.json maps
# its ARN, arn:aws:iam::123456789012:user/local-operator, to the sample's approver in approval.operators.
LOCAL_OPERATOR_USER = "local-operator"
BUILD_INFO_NAME = "build_info.py"

# Safe as a file name, an S3 key segment and a Python string literal.
_SHA_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The sample template's ServiceName: the middle of its function and alarm names (svc-<name>-<stage>-...).
SAMPLE_SERVICE_NAME = "sentiment"
SERVICE_NAME_PATTERN = re.compile(r"^[a-z0-9]{1,20}$")


@dataclass(frozen=True)
class PublishedBuild(publish.PublishedBuild):
    variant: str


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


def build_package(variant: str, sha: str) -> bytes:
    """The deployment zip of the sample service for ``variant`` at ``sha``; equal inputs give equal bytes."""
    info = build_info_source(variant, sha)
    build = publish.read_build_directory(SAMPLE_DIR / "src")
    if BUILD_INFO_NAME in build.files:
        raise ValueError(
            f"{SAMPLE_DIR / 'src' / BUILD_INFO_NAME} would be shadowed by the generated one: remove it"
        )
    return publish.package_zip({**build.files, BUILD_INFO_NAME: info.encode()}, build.executable)


def publish_build(s3: Any, *, bucket: str, prefix: str, repo: str, sha: str, variant: str) -> PublishedBuild:
    """Build ``variant`` at ``sha`` and publish it as CI does: the package, then its manifest."""
    publish.check_repo(repo)
    publish.check_sha(sha)
    package = build_package(variant, sha)
    published = publish.publish_package(
        s3,
        source=publish.artifact_source(bucket, prefix),
        repo=repo,
        sha=sha,
        package=package,
        builder="local",
    )
    return PublishedBuild(**asdict(published), variant=variant)
