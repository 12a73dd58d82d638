"""Domain errors.

A Lambda error's ``errorType`` is the exception class name, and the state machine matches on exactly that
name in ``ErrorEquals``. Renaming a class here is a contract change: grep the ASL first.
"""

from __future__ import annotations


class PromotionError(Exception):
    """Base of every error the promotion raises on purpose."""


class InvalidExecutionInput(PromotionError):
    """The execution input does not match the schema."""


class UnknownPipeline(PromotionError):
    """No configuration is stored for the named pipeline."""


class InvalidPipelineConfig(PromotionError):
    """The stored pipeline configuration does not match the schema."""


class ArtifactNotFound(PromotionError):
    """No build (manifest or package) exists yet for the commit."""


class InvalidManifest(PromotionError):
    """The build manifest is not valid JSON of the documented schema, or names another commit."""


class ArtifactNotVersioned(PromotionError):
    """The artifact bucket does not version objects, so the bytes cannot be pinned."""


class ChecksumMismatch(PromotionError):
    """The package's bytes do not hash to the sha256 the manifest promises."""


class DeployFailed(PromotionError):
    """A target function did not take the new code."""


class CodeShaMismatch(PromotionError):
    """A deployed version's CodeSha256 differs from the bytes that were pinned and tested."""


class IntegrationTestsFailed(PromotionError):
    """Preprod did not pass the pipeline's integration checks."""


class CanaryFailed(PromotionError):
    """The new prod version failed the canary checks."""


class BakeAlarm(PromotionError):
    """A prod alarm fired during the bake period."""


class CanaryAnalysisFailed(PromotionError):
    """The new prod versions' metrics are worse than the previous versions' beyond the configured margins,
    or the analysis stayed inconclusive where the pipeline says that fails."""


class AlarmMissing(PromotionError):
    """A configured alarm does not exist, so the bake cannot prove anything (fail closed)."""


class Rejected(PromotionError):
    """An approver rejected the promotion (raised by Step Functions through SendTaskFailure)."""


class ApprovalStoreBusy(PromotionError):
    """The approvals table left records unread through every retry of a batch read (throttling)."""


class ApprovalNotFound(PromotionError):
    """No approval record with that id."""


class ApprovalLinkInvalid(PromotionError):
    """The approval link's signature does not verify."""


class ApprovalExpired(PromotionError):
    """The approval link or request has expired."""


class ApprovalAlreadyDecided(PromotionError):
    """The approval was decided before; decisions are single use."""


class ApproverNotAllowed(PromotionError):
    """The approver is not on the pipeline's allowlist."""


class BuildNotPublished(PromotionError):
    """No build appeared for the commit within the pipeline's artifact wait."""


class EnvironmentNotBootstrapped(PromotionError):
    """A target function has no alias yet: the environment was never bootstrapped (nothing to return to)."""


class EnvironmentFrozen(PromotionError):
    """The environment is frozen (a rollback failed) until an operator runs ``promote unfreeze``."""


class AlarmsAlreadyFiring(PromotionError):
    """An alarm of the target environment is in ALARM before the deploy: deploying would hide the cause."""


class BakeNoData(PromotionError):
    """An alarm had no data all through the bake: a canary that got no traffic must not bake green."""


class ApprovalTimedOut(PromotionError):
    """Nobody decided within the approval timeout."""


class RollbackFailed(PromotionError):
    """The rollback could not put every function back on its baseline version."""


class Superseded(PromotionError):
    """A newer promotion of the same pipeline asked for approval; this one's wait was failed with this."""


class SelfApprovalRefused(PromotionError):
    """The approver is the commit's author, or the author is unverified and the pipeline fails closed."""


class ApprovalCsrfInvalid(PromotionError):
    """The decision form's CSRF token is missing, forged, stale, or the request came from another site."""


class EnvironmentLocked(PromotionError):
    """Another running promotion is deploying this environment; retried until it is done."""


class WouldGoBackwards(PromotionError):
    """Prod runs a newer commit (or it cannot be proven otherwise); only an explicit rollback/redeploy may."""


class ApprovalNotVerified(PromotionError):
    """The approval task was completed with output the control plane cannot prove it made (a forged
    completion): nothing goes to prod."""


class OutsideEnvironmentScope(PromotionError):
    """A step was about to touch a function or alarm that is not its environment's (its credentials would
    refuse too): nothing was sent."""


class EnvironmentAccessDenied(PromotionError):
    """The environment's deployer role could not be assumed (its trust policy does not name this function's
    role, or the external id differs)."""


class NoRollbackTarget(PromotionError):
    """The ledger holds no earlier successful deployment of the environment to go back to."""


class DeploymentWindowClosed(PromotionError):
    """Prod's deployment window is closed (a deny window, a freeze, outside every allow window) and the
    pipeline says fail, or it opens after the longest wait: nothing went to prod."""


class NotFrozen(PromotionError):
    """An operator asked to unfreeze a pipeline or environment that is not frozen: nothing to clear."""


class NotAnExecutionOfPipeline(PromotionError):
    """An operator named an execution that is not a promotion of the pipeline they named."""


class ExecutionNotFound(PromotionError):
    """An operator named a promotion (execution) the state machine does not have."""


class ExecutionNotRunning(PromotionError):
    """An operator's override named a promotion that has already ended."""
