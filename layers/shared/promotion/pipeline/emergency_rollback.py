"""An operator's emergency rollback: an environment's aliases straight back to its previous known-good
versions, in seconds, without rerunning a promotion (no preprod, no checks, no approval).

The target comes from the deployment ledger: the newest ``succeeded`` entry whose versions differ from
what the environment runs now, skipping the commits an emergency rollback already moved away from. So a
second rollback goes one known-good build further back rather than forward again, and a build rolled back
in an incident is never the target of a later one.

Under the environment's deploy lock, the same lock promotions take (``take_environment_lock``): a running
promotion's lock is never taken over, and the refusal names it; a finished one's is reclaimed as a promotion
would. The aliases move with the promotion's own rollback (``pipeline.rollback.roll_back``: each move
guarded by the alias's RevisionId, read back at the end). The operator's identity is the verified caller
the route hands in; it goes into the ledger entry (mode ``emergency_rollback``), the audit log and the
notice. A rollback that cannot complete freezes the environment, as a failed promotion rollback does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from promotion.adapters.messaging import EventPublisher, Mailer
from promotion.approvals.audit import AuditEvent, AuditLog, Requester, audit_event
from promotion.dal.environments import EnvironmentStateStore
from promotion.dal.ledger import EnvironmentPointer, LedgerEntry, LedgerFunction, Outcome, entry_key
from promotion.errors import (
    EnvironmentFrozen,
    EnvironmentLocked,
    NoRollbackTarget,
)
from promotion.models.config import Environment, PipelineConfig
from promotion.models.execution import BaselineFunction, EnvironmentBaseline
from promotion.observability import logger
from promotion.pipeline.prepare import take_environment_lock
from promotion.pipeline.rollback import roll_back

if TYPE_CHECKING:  # the GitHub stack is imported only where a reporter is made
    from promotion.github.deployment_status import DeploymentReporter

MODE = "emergency_rollback"
# The lock is held for seconds; a rollback that dies holding it frees the environment after this.
LOCK_LEASE_SECONDS = 300
# How far back the ledger is read for a known-good entry.
HISTORY_ENTRIES = 50


class RollbackLedger(Protocol):
    """The deployment ledger as an emergency rollback uses it (``dal.ledger.DynamoLedger``)."""

    def pointer(
        self, pipeline: str, environment: str, which: Literal["current", "known_good"]
    ) -> EnvironmentPointer | None: ...

    def history(self, pipeline: str, environment: str, *, limit: int = 10) -> list[LedgerEntry]: ...

    def entry(self, pipeline: str, environment: str, key: str) -> LedgerEntry | None: ...

    def start(self, entry: LedgerEntry) -> None: ...

    def record_restored(
        self,
        pipeline: str,
        environment: str,
        key: str,
        *,
        sha: str,
        versions: dict[str, str],
        at: int,
        execution_name: str,
    ) -> None: ...

    def finish(
        self,
        pipeline: str,
        environment: str,
        key: str,
        *,
        outcome: Outcome,
        at: int,
        approver: str | None = None,
        detail: str | None = None,
    ) -> LedgerEntry | None: ...


@dataclass(frozen=True)
class EmergencyRollbackDeps:
    lambda_client: Any  # acts on the environment as its deployer role
    sfn: Any  # tells a lock held by a running promotion from one held by a finished one
    environments: EnvironmentStateStore
    ledger: RollbackLedger
    audit: AuditLog
    mailer: Mailer
    publisher: EventPublisher
    # GitHub deployment statuses (``github.deployment_status``); None: none posted.
    reporter: DeploymentReporter | None = None


class EmergencyRollbackResult(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    pipeline: str
    environment: Environment
    sha: str
    previous_sha: str | None
    versions: dict[str, str]  # function key -> the version its alias points at now
    moved_from: dict[str, str]  # function key -> the version it was moved away from
    ledger_entry: str
    restored_entry: str
    operator: str
    reason: str
    seconds: float


def _versions(entry: LedgerEntry) -> dict[str, str] | None:
    """What an entry deployed, per function; None when it names no version for some function."""
    versions = {f.key: f.version for f in entry.functions}
    if not versions or any(v is None for v in versions.values()):
        return None
    return {key: str(version) for key, version in versions.items()}


def rollback_target(
    ledger: RollbackLedger, pipeline: str, environment: Environment
) -> tuple[LedgerEntry, EnvironmentPointer | None]:
    """The entry to go back to, and the ``current`` pointer it was chosen against: newest first, the first
    ``succeeded`` entry whose versions are not what runs now and whose commit no later emergency rollback
    moved away from (an operator rolled it back in an incident: it is not known-good any more)."""
    current = ledger.pointer(pipeline, environment, "current")
    serving = current.versions if current else {}
    abandoned: set[str] = set()
    for entry in ledger.history(pipeline, environment, limit=HISTORY_ENTRIES):
        if entry.mode == MODE:
            if entry.previous_sha:
                abandoned.add(entry.previous_sha)
            continue
        versions = _versions(entry)
        if (
            entry.outcome == "succeeded"
            and entry.sha not in abandoned
            and versions is not None
            and versions != serving
        ):
            return entry, current
    raise NoRollbackTarget(
        f"{pipeline} {environment}: the ledger has no earlier successful deployment to go back to "
        f"(the last {HISTORY_ENTRIES} entries); use 'promote redeploy' for an older build"
    )


def _refuse_if_frozen(environments: EnvironmentStateStore, pipeline: str, environment: str) -> None:
    state = environments.get(pipeline, environment)
    if state.frozen:
        raise EnvironmentFrozen(
            f"{pipeline} {environment} is frozen since a failed rollback ({state.reason}): nobody knows "
            f"what it runs; check it, then run: promote unfreeze --pipeline {pipeline} "
            f"--environment {environment}"
        )


def _lock(
    deps: EmergencyRollbackDeps, config: PipelineConfig, environment: Environment, owner: str, now: int
) -> None:
    try:
        take_environment_lock(
            deps.environments, deps.sfn, config, environment, owner, now=now, lease_seconds=LOCK_LEASE_SECONDS
        )
    except EnvironmentLocked as locked:
        holder = deps.environments.get(config.name, environment).lock_owner or "another deployment"
        if holder.startswith("arn:"):
            what = (
                f"which is deploying it: nothing was moved. Stop it with 'promote cancel {holder}' "
                "(its own rollback runs), or wait for it to end, then roll back again"
            )
        else:
            what = "another emergency rollback: nothing was moved; check 'promote status' before trying again"
        raise EnvironmentLocked(f"{config.name} {environment} is locked by {holder}, {what}") from locked


def emergency_rollback(
    deps: EmergencyRollbackDeps,
    config: PipelineConfig,
    environment: Environment,
    *,
    operator: str,
    reason: str,
    now: float,
    requester: Requester | None = None,
    clock: Any = time.monotonic,
) -> EmergencyRollbackResult:
    """Move ``environment``'s aliases to the previous known-good versions; ``operator`` is the verified
    caller. Raises EnvironmentFrozen, EnvironmentLocked or NoRollbackTarget having moved nothing, and
    RollbackFailed (after freezing the environment) when the aliases could not all be put back."""
    started = clock()
    at = int(now)
    name = f"{MODE}-{config.name}-{int(now * 1000)}"
    owner = f"{MODE}:{name}"
    _refuse_if_frozen(deps.environments, config.name, environment)
    _lock(deps, config, environment, owner, at)
    try:
        target, current = rollback_target(deps.ledger, config.name, environment)
        versions = _versions(target) or {}
        serving = current.versions if current else {}
        key = entry_key(at, name)
        deps.ledger.start(
            LedgerEntry(
                pipeline=config.name,
                environment=environment,
                entry_key=key,
                execution_arn="",
                execution_name=name,
                sha=target.sha,
                previous_sha=current.sha if current else None,
                artifact_version_id=target.artifact_version_id,
                artifact_sha256=target.artifact_sha256,
                functions=[
                    LedgerFunction(
                        key=f.key,
                        function_name=f.function_name,
                        alias=f.alias,
                        previous_version=serving.get(f.key, ""),
                        version=f.version,
                        code_sha256=f.code_sha256,
                    )
                    for f in target.functions
                ],
                started_at=at,
                approver=operator,
                mode=MODE,
                detail=reason,
                restored_entry_key=target.entry_key,
            )
        )
        baseline = EnvironmentBaseline(
            environment=environment,
            functions=[
                BaselineFunction(
                    key=f.key,
                    function_name=f.function_name,
                    alias=f.alias,
                    version=versions[f.key],
                    code_sha256=f.code_sha256 or "",
                )
                for f in target.functions
            ],
            previous_sha=current.sha if current else None,
            ledger_key=key,
        )
        try:
            moved = roll_back(deps.lambda_client, baseline)
        except Exception as failed:  # whatever stopped it, some aliases may have moved: freeze, record
            _record_failure(
                deps, config, environment, key, target, operator, reason, str(failed), at, requester
            )
            raise
        deps.ledger.record_restored(
            config.name, environment, key, sha=target.sha, versions=moved.restored, at=at, execution_name=name
        )
    finally:
        deps.environments.release_lock(config.name, environment, owner=owner)
    result = EmergencyRollbackResult(
        pipeline=config.name,
        environment=environment,
        sha=target.sha,
        previous_sha=current.sha if current else None,
        versions=moved.restored,
        moved_from=moved.moved_from,
        ledger_entry=key,
        restored_entry=target.entry_key,
        operator=operator,
        reason=reason,
        seconds=round(clock() - started, 3),
    )
    deps.audit.record(
        _audit(
            config.name, environment, "emergency_rollback", operator, reason, now, requester, _summary(result)
        )
    )
    _notify(deps, config, result)
    if deps.reporter is not None:  # never raises: GitHub is a bystander
        deps.reporter.restored(
            config,
            environment,
            result.sha,
            description=f"emergency rollback by {operator.rsplit('/', 1)[-1]}: {reason}",
            name=name,
        )
    return result


def _summary(result: EmergencyRollbackResult) -> str:
    versions = ", ".join(f"{k} v{v}" for k, v in sorted(result.versions.items()))
    return f"{result.environment} back on {result.sha[:12]} ({versions}); ledger {result.ledger_entry}"


def _audit(
    pipeline: str,
    environment: str,
    action: Any,
    operator: str,
    reason: str,
    now: float,
    requester: Requester | None,
    detail: str,
) -> AuditEvent:
    return audit_event(
        approval_id=f"rollback#{pipeline}#{environment}",
        action=action,
        actor=operator,
        channel="operator",
        at_ms=int(now * 1000),
        requester=requester,
        pipeline=pipeline,
        comment=reason,
        detail=detail,
    )


def _record_failure(
    deps: EmergencyRollbackDeps,
    config: PipelineConfig,
    environment: Environment,
    key: str,
    target: LedgerEntry,
    operator: str,
    reason: str,
    error: str,
    at: int,
    requester: Requester | None,
) -> None:
    """What runs is unknown now: freeze the environment (its lock stays until ``promote unfreeze``),
    record it, and say so loudly."""
    deps.environments.freeze(
        config.name, environment, reason=f"emergency rollback failed: {error}", by=operator, at=at
    )
    deps.ledger.finish(config.name, environment, key, outcome="rollback_failed", at=at, detail=error)
    deps.audit.record(
        _audit(config.name, environment, "emergency_rollback_failed", operator, reason, at, requester, error)
    )
    subject = f"CRITICAL: emergency rollback of {config.name} {environment} failed; {environment} is frozen"
    text = "\n".join(
        [
            subject,
            "",
            f"Requested by: {operator}",
            f"Reason: {reason}",
            f"Target: {target.sha} ({target.entry_key})",
            f"Error: {error}",
            "",
            "Check every alias by hand, then: "
            f"promote unfreeze --pipeline {config.name} --environment {environment}",
        ]
    )
    event = {
        "outcome": "emergency_rollback_failed",
        "pipeline": config.name,
        "environment": environment,
        "sha": target.sha,
        "operator": operator,
        "reason": reason,
        "error": error,
        "repo": config.repo,
        "subject": subject,
    }
    _send(deps, config, subject, text, event)


def _notify(deps: EmergencyRollbackDeps, config: PipelineConfig, result: EmergencyRollbackResult) -> None:
    subject = (
        f"Emergency rollback: {config.name} {result.environment} back on {result.sha[:12]} "
        f"(by {result.operator.rsplit('/', 1)[-1]})"
    )
    versions = ", ".join(f"{k} v{v}" for k, v in sorted(result.versions.items()))
    text = "\n".join(
        [
            subject,
            "",
            f"Requested by: {result.operator}",
            f"Reason: {result.reason}",
            f"{result.environment.capitalize()} now runs: {versions}",
            f"It ran before: {result.previous_sha or 'unknown'}",
            f"Ledger entry: {result.ledger_entry} (restores {result.restored_entry})",
        ]
    )
    event = {"outcome": "emergency_rollback", "repo": config.repo, "subject": subject} | result.model_dump(
        mode="json"
    )
    _send(deps, config, subject, text, event)


def _send(
    deps: EmergencyRollbackDeps, config: PipelineConfig, subject: str, text: str, event: dict[str, Any]
) -> None:
    # The aliases have moved (or the environment is frozen) whatever happens here: a notice that cannot
    # go out is logged, never turned into an error that would read as "nothing happened".
    try:
        deps.publisher.publish(subject=subject, event=event)
        if config.notifications.emails:
            deps.mailer.send(to=list(config.notifications.emails), subject=subject, text=text)
    except Exception as error:
        logger.warning(
            "emergency rollback notice not sent",
            extra={"pipeline": config.name, "error": f"{type(error).__name__}: {error}"},
        )
