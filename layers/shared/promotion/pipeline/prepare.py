"""Right before an environment is deployed: check it may be, lock it, and record its baseline in the ledger.

In order: not frozen; take the environment's deploy lock (reclaiming one whose owner execution has ended);
for prod, no alarm already firing and never backwards; then the baseline (what each function serves now)
becomes this deployment's ledger entry, which the rollback restores from.

"Decide approval path" runs the same prod checks first (:func:`ensure_prod_may_deploy`, without the lock),
so nobody is asked to approve what would be refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from promotion.dal.environments import EnvironmentStateStore, LockHeld
from promotion.dal.ledger import DynamoLedger, LedgerEntry, LedgerFunction, entry_key
from promotion.errors import EnvironmentFrozen, EnvironmentLocked, WouldGoBackwards
from promotion.models.config import Environment, PipelineConfig
from promotion.models.execution import EnvironmentBaseline, PinnedArtifact
from promotion.pipeline.baseline import capture_baseline, ensure_not_frozen, ensure_prod_alarms_quiet


class CommitOrder(Protocol):
    """GitHub's compare API: how ``head`` relates to ``base`` (ahead, behind, diverged, identical)."""

    def compare(self, repo: str, base: str, head: str) -> Any: ...


@dataclass(frozen=True)
class PrepareDeps:
    lambda_client: Any
    cloudwatch: Any
    sfn: Any
    environments: EnvironmentStateStore
    ledger: DynamoLedger
    commit_order: CommitOrder | None
    on_reclaim: Any = None  # called with (environment, stale owner) when a stale lock is taken over


@dataclass(frozen=True)
class Deployment:
    execution_arn: str
    execution_name: str
    sha: str
    mode: str
    artifact: PinnedArtifact


def _owner_state(sfn: Any, execution_arn: str) -> tuple[str, str]:
    """(status, error) of a lock's owner execution; a vanished one counts as ended."""
    if not execution_arn.startswith("arn:"):
        # Not an execution (an operator's emergency rollback): it holds the lock until its lease ends.
        return "RUNNING", ""
    try:
        described = sfn.describe_execution(executionArn=execution_arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            return "GONE", ""
        raise
    return str(described["status"]), str(described.get("error") or "")


def take_lock(
    deps: PrepareDeps, config: PipelineConfig, environment: Environment, owner: str, now: int
) -> None:
    take_environment_lock(
        deps.environments,
        deps.sfn,
        config,
        environment,
        owner,
        now=now,
        lease_seconds=config.locks.lease_seconds,
        on_reclaim=deps.on_reclaim,
    )


def take_environment_lock(
    environments: EnvironmentStateStore,
    sfn: Any,
    config: PipelineConfig,
    environment: Environment,
    owner: str,
    *,
    now: int,
    lease_seconds: int,
    on_reclaim: Any = None,
) -> None:
    """Take the environment's deploy lock as ``owner``: taken over only from an owner execution that has
    ended (never from a running one, nor from one whose rollback failed)."""
    try:
        environments.acquire_lock(config.name, environment, owner=owner, lease_seconds=lease_seconds, now=now)
        return
    except LockHeld as held:
        status, error = _owner_state(sfn, held.owner)
        owner_name = held.owner.rsplit(":", 1)[-1]
        if status == "RUNNING":
            raise EnvironmentLocked(
                f"{config.name} {environment} is being deployed by {owner_name}; waiting"
            ) from held
        if error == "RollbackFailed":
            # Its rollback failed (and perhaps its freeze too): nobody knows what runs there. Only an
            # operator who has checked may release it.
            raise EnvironmentFrozen(
                f"{config.name} {environment} is still locked by {owner_name}, whose rollback failed; "
                f"check it, then run: promote unfreeze --pipeline {config.name} --environment {environment}"
            ) from held
        stale = held.owner
    if not environments.reclaim_lock(
        config.name, environment, stale_owner=stale, owner=owner, lease_seconds=lease_seconds, now=now
    ):
        raise EnvironmentLocked(f"{config.name} {environment}: the lock changed hands; waiting")
    if on_reclaim is not None:
        on_reclaim(environment, stale)


def ensure_not_backwards(order: CommitOrder | None, repo: str, running: str | None, new: str) -> None:
    """Refuse a commit that is an ancestor of what prod runs; when that cannot be told, refuse too."""
    if running is None or running == new:
        return  # a bootstrap version has no commit to be behind; the same commit is a retry
    how = "use 'promote redeploy prod SHA' to deploy an older build on purpose"
    if order is None:
        raise WouldGoBackwards(
            f"cannot tell whether {new[:12]} is older than {running[:12]}, which prod runs: "
            f"no GitHub token configured; {how}"
        )
    try:
        status = str(order.compare(repo, running, new).status)
    except Exception as error:  # any failure to find out is a refusal
        raise WouldGoBackwards(
            f"cannot tell whether {new[:12]} is older than {running[:12]}, which prod runs "
            f"({type(error).__name__}: {error}); {how}"
        ) from error
    if status == "behind":
        raise WouldGoBackwards(f"{new[:12]} is an ancestor of {running[:12]}, which prod runs; {how}")


@dataclass(frozen=True)
class ProdReadiness:
    """What checking prod before anyone is asked to approve needs: reads only, no lock."""

    cloudwatch: Any
    environments: EnvironmentStateStore
    ledger: DynamoLedger
    commit_order: CommitOrder | None


def running_commit(ledger: DynamoLedger, config: PipelineConfig, environment: Environment) -> str | None:
    """The commit the environment runs now, per the ledger (None: a bootstrap version)."""
    current = ledger.pointer(config.name, environment, "current")
    return current.sha if current else None


def ensure_prod_may_deploy(deps: ProdReadiness, config: PipelineConfig, sha: str, mode: str) -> None:
    """What "Check and lock prod" would refuse, checked before a person is asked: not frozen, no prod alarm
    firing, and (for a promotion) never backwards. Raises the same errors; takes no lock, writes nothing.
    "Check and lock prod" checks all of it again, under its lock, right before the deploy."""
    ensure_not_frozen(deps.environments, config, "prod")
    ensure_prod_alarms_quiet(deps.cloudwatch, config)
    if mode == "promote":
        ensure_not_backwards(deps.commit_order, config.repo, running_commit(deps.ledger, config, "prod"), sha)


def prepare_environment(
    deps: PrepareDeps,
    config: PipelineConfig,
    environment: Environment,
    deployment: Deployment,
    *,
    now: int,
) -> EnvironmentBaseline:
    # Frozen first (capture_baseline checks it), so a frozen environment reports that, not "locked".
    state = deps.environments.get(config.name, environment)
    if not state.frozen:
        take_lock(deps, config, environment, deployment.execution_arn, now)
    baseline = capture_baseline(deps.lambda_client, deps.cloudwatch, deps.environments, config, environment)
    running_sha = running_commit(deps.ledger, config, environment)
    if environment == "prod" and deployment.mode == "promote":
        ensure_not_backwards(deps.commit_order, config.repo, running_sha, deployment.sha)
    key = entry_key(now, deployment.execution_name)
    deps.ledger.start(
        LedgerEntry(
            pipeline=config.name,
            environment=environment,
            entry_key=key,
            execution_arn=deployment.execution_arn,
            execution_name=deployment.execution_name,
            sha=deployment.sha,
            previous_sha=running_sha,
            artifact_version_id=deployment.artifact.version_id,
            artifact_sha256=deployment.artifact.sha256,
            functions=[
                LedgerFunction(
                    key=f.key,
                    function_name=f.function_name,
                    alias=f.alias,
                    previous_version=f.version,
                    previous_code_sha256=f.code_sha256,
                )
                for f in baseline.functions
            ],
            started_at=now,
            mode=deployment.mode,
        )
    )
    return baseline.model_copy(update={"previous_sha": running_sha, "ledger_key": key})
