"""Deploying one pinned build to every function of an environment, so that they move together.

Per function, all functions at once: UpdateFunctionCode from the pinned S3 object version, wait until
the update is done, and PublishVersion guarded by the expected CodeSha256. Only when every function has its
new version do the aliases move, each guarded by the alias's RevisionId; if one alias move fails, the ones
already moved go back before the error is raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from promotion.concurrency import map_all
from promotion.errors import CodeShaMismatch, DeployFailed
from promotion.models.config import Environment, EnvironmentTarget
from promotion.models.execution import EnvironmentDeployment, FunctionDeployment, PinnedArtifact
from promotion.pipeline.artifacts import lambda_code_sha256

_WAITER_CONFIG = {"Delay": 2, "MaxAttempts": 60}
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Prepared:
    key: str
    function_name: str
    previous_version: str
    alias_revision: str
    version: str
    code_sha256: str


def _error_code(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, BotoCoreError):
        return type(error).__name__  # no answer at all (connection, timeout): no AWS error code
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def _prepare(
    lambda_client: Any, key: str, function_name: str, alias: str, artifact: PinnedArtifact, expected: str
) -> _Prepared:
    try:
        current = lambda_client.get_alias(FunctionName=function_name, Name=alias)
    except ClientError as error:
        raise DeployFailed(
            f"{function_name}: alias {alias!r} not readable ({_error_code(error)}); "
            "bootstrap the environment with a first version and alias"
        ) from error
    try:
        lambda_client.update_function_code(
            FunctionName=function_name,
            S3Bucket=artifact.bucket,
            S3Key=artifact.key,
            S3ObjectVersion=artifact.version_id,
        )
        lambda_client.get_waiter("function_updated_v2").wait(
            FunctionName=function_name, WaiterConfig=_WAITER_CONFIG
        )
        published = lambda_client.publish_version(
            FunctionName=function_name,
            CodeSha256=expected,
            Description=f"{artifact.repo}@{artifact.sha}"[:256],
        )
    except WaiterError as error:
        raise DeployFailed(f"{function_name}: code update did not complete: {error}") from error
    except ClientError as error:
        if _error_code(error) == "PreconditionFailedException":
            raise CodeShaMismatch(
                f"{function_name}: $LATEST does not hold the pinned bytes (expected CodeSha256 {expected})"
            ) from error
        raise DeployFailed(f"{function_name}: {_error_code(error)}: {error}") from error
    if published["CodeSha256"] != expected:
        raise CodeShaMismatch(
            f"{function_name} version {published['Version']} has CodeSha256 {published['CodeSha256']}, "
            f"pinned build has {expected}"
        )
    return _Prepared(
        key=key,
        function_name=function_name,
        previous_version=str(current["FunctionVersion"]),
        alias_revision=str(current["RevisionId"]),
        version=str(published["Version"]),
        code_sha256=str(published["CodeSha256"]),
    )


def _move_alias(lambda_client: Any, prepared: _Prepared, alias: str, version: str, revision: str) -> str:
    response = lambda_client.update_alias(
        FunctionName=prepared.function_name,
        Name=alias,
        FunctionVersion=version,
        RoutingConfig={"AdditionalVersionWeights": {}},
        RevisionId=revision,
    )
    return str(response.get("RevisionId", ""))


def deploy_environment(
    lambda_client: Any,
    environment: Environment,
    target: EnvironmentTarget,
    artifact: PinnedArtifact,
    *,
    must_match: EnvironmentDeployment | None = None,
    route: bool = True,
) -> EnvironmentDeployment:
    """Deploy ``artifact`` to every function of ``target``; with ``must_match``, prove the bytes are the same.

    With ``route=False`` the new versions are published but no traffic moves: a gradual rollout shifts it
    later (``promotion.traffic``), after the canary checks have called the new versions directly.
    """
    expected = lambda_code_sha256(artifact.sha256)
    if must_match is not None:
        for function in must_match.functions:
            if function.code_sha256 != expected:
                raise CodeShaMismatch(
                    f"{must_match.environment} {function.function_name} runs CodeSha256 "
                    f"{function.code_sha256}, this build is {expected}"
                )
    # All functions at once: on AWS each code update takes seconds to apply (the waiter polls every 2 s), so
    # an environment's deploy takes as long as its slowest function, not the sum of them. Every update ends
    # before the first failure (in the functions' order) is raised; no alias has moved by then.
    prepared = map_all(
        lambda function: _prepare(lambda_client, function[0], function[1], target.alias, artifact, expected),
        sorted(target.functions.items()),
    )
    moved: list[tuple[_Prepared, str]] = []
    try:
        for item in prepared if route else []:
            new_revision = _move_alias(lambda_client, item, target.alias, item.version, item.alias_revision)
            moved.append((item, new_revision))
    # A lost connection (BotoCoreError) leaves the moves as half done as a refusal (ClientError) does.
    except (ClientError, BotoCoreError) as error:
        for item, revision in reversed(moved):
            # Best effort: put the functions already moved back where they were, so the service never
            # runs half old and half new.
            try:
                _move_alias(lambda_client, item, target.alias, item.previous_version, revision)
            except (ClientError, BotoCoreError) as undo_error:
                # The rollback state restores every alias from the baseline; say what it will find.
                _log.warning("could not undo alias move of %s: %s", item.function_name, undo_error)
        raise DeployFailed(
            f"alias move failed, earlier moves undone: {_error_code(error)}: {error}"
        ) from error
    return EnvironmentDeployment(
        environment=environment,
        functions=[
            FunctionDeployment(
                key=item.key,
                function_name=item.function_name,
                alias=target.alias,
                previous_version=item.previous_version,
                version=item.version,
                code_sha256=item.code_sha256,
            )
            for item in prepared
        ],
    )
