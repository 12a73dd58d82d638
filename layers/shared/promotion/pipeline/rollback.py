"""Putting every function of an environment back on the exact version it served before the promotion.

One step for all functions: each alias goes back to its baseline version with any weighted routing
cleared. Each move is guarded by the alias's current RevisionId, so a deploy that is still running cannot
silently overwrite the rollback (its own guarded move fails instead); a move that loses such a race is
read again and retried. The result is verified by reading every alias back.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from promotion.errors import RollbackFailed
from promotion.models.execution import EnvironmentBaseline, RollbackResult

_ATTEMPTS_PER_ALIAS = 3


def _restore(lambda_client: Any, function_name: str, alias: str, version: str) -> str | None:
    """Move ``alias`` to ``version``; the version it moved away from, or None if it was already there."""
    for _ in range(_ATTEMPTS_PER_ALIAS):
        current = lambda_client.get_alias(FunctionName=function_name, Name=alias)
        weights = (current.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        if str(current["FunctionVersion"]) == version and not weights:
            return None
        try:
            lambda_client.update_alias(
                FunctionName=function_name,
                Name=alias,
                FunctionVersion=version,
                RoutingConfig={"AdditionalVersionWeights": {}},
                RevisionId=current["RevisionId"],
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "PreconditionFailedException":
                continue  # changed under us: read it again
            raise
        return str(current["FunctionVersion"])
    raise RollbackFailed(f"{function_name}:{alias} kept changing while rolling back")


def roll_back(lambda_client: Any, baseline: EnvironmentBaseline) -> RollbackResult:
    moved_from: dict[str, str] = {}
    errors: list[str] = []
    for function in baseline.functions:
        try:
            previous = _restore(lambda_client, function.function_name, function.alias, function.version)
        except (ClientError, RollbackFailed) as error:
            # Keep going: every other function still goes back, and the error names all that did not.
            errors.append(f"{function.function_name}: {error}")
            continue
        if previous is not None:
            moved_from[function.key] = previous
    restored: dict[str, str] = {}
    for function in baseline.functions:
        try:
            alias = lambda_client.get_alias(FunctionName=function.function_name, Name=function.alias)
        except ClientError as error:
            errors.append(f"{function.function_name}: cannot read alias back: {error}")
            continue
        restored[function.key] = str(alias["FunctionVersion"])
        if restored[function.key] != function.version:
            errors.append(
                f"{function.function_name}: alias on v{restored[function.key]}, baseline v{function.version}"
            )
    if errors:
        raise RollbackFailed(f"{baseline.environment} rollback incomplete: " + "; ".join(sorted(set(errors))))
    return RollbackResult(environment=baseline.environment, restored=restored, moved_from=moved_from)
