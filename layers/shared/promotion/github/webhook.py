"""The GitHub webhook intake: verify a delivery, record it, and start at most one promotion per commit.

Order of the checks (docs/webhook.md): unknown pipeline 404 -> body over ``MAX_BODY_BYTES`` 413 -> signature
401 -> content type 415 -> headers and JSON 400 -> another repository 422 -> the event decides: start (201),
ignore with the reason (202), ``ping`` (200), already started (200). Nothing a client sends gets a 5xx; a
503 means AWS itself failed and the delivery can be redelivered.

The signature (``X-Hub-Signature-256``) covers the body only. So the body's facts (repository, SHA, branch,
commit) are *verified*, while the headers (``X-GitHub-Event``, ``X-GitHub-Delivery``) are *claimed*: an
attacker holding one signed body can replay it under any delivery id. That is why a commit, not a delivery,
is the unit of idempotency (``promotion.dal.deliveries``). This module only verifies, records and starts;
everything slow (the Dependabot proof, the build) is the state machine's work.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promotion.adapters.config_store import PipelineConfigStore
from promotion.correlation import Correlation
from promotion.dal.deliveries import CommitClaim, DeliveryStore
from promotion.errors import UnknownPipeline
from promotion.github.attestation import attest
from promotion.models.config import PipelineConfig, secret_name
from promotion.models.execution import CommitInfo, ExecutionInput, Fact, GitHubFacts, Trigger
from promotion.models.validation import describe_validation_error
from promotion.naming import SHA_PATTERN, execution_name, parse_execution_name
from promotion.observability import correlate, logger

# Well above any workflow_run delivery (~25 KiB) or push delivery, and well below Lambda's 6 MB event limit
# once API Gateway has escaped the body into JSON.
MAX_BODY_BYTES = 1024 * 1024
SIGNATURE_HEADER = "x-hub-signature-256"
LEGACY_SIGNATURE_HEADER = "x-hub-signature"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"
JSON_CONTENT_TYPE = "application/json"
# A secret shorter than this makes signatures guessable; the stack generates 64 characters.
MIN_SECRET_LENGTH = 16
# A claim left "starting" this long was abandoned by a crashed instance (the webhook times out at 10 s).
STALE_CLAIM_SECONDS = 60
# How often a failed signature may force a fresh read of the secret (a rotation in progress).
SECRET_REFRESH_INTERVAL_SECONDS = 10
WEBHOOK_ATTEMPT = 1  # a redelivery must map to the same execution name
# The errors with which an execution fails in "Fetch artifact", before "Deploy to preprod" changed anything:
# a commit claim whose execution ended so gives way to the next delivery (docs/webhook.md). Any other end,
# or one that cannot be read, keeps the claim (fail closed).
NOTHING_DEPLOYED_ERRORS = frozenset(
    {"BuildNotPublished", "ArtifactNotFound", "InvalidManifest", "ArtifactNotVersioned"}
)

SIGNATURE_MISMATCH = "X-Hub-Signature-256 does not match the webhook secret"
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_EVENT = re.compile(r"[a-z_]{1,64}")
_DELIVERY = re.compile(r"[A-Za-z0-9-]{1,100}")
_ZERO_SHA = "0" * 40

Outcome = Literal["started", "ignored", "duplicate", "pong", "rejected", "unavailable"]


# ---- answers --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    outcome: Outcome
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"status": self.outcome, "message": self.message, **self.details}


def _rejected(status: int, message: str) -> WebhookAnswer:
    return WebhookAnswer(status, "rejected", message)


# ---- signature ------------------------------------------------------------------------------------
def sign(key: bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` signed with ``key``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_problem(body: bytes, headers: dict[str, str], keys: Sequence[bytes]) -> str | None:
    """Why the delivery's signature does not verify against any of ``keys``, or None when it does."""
    provided = headers.get(SIGNATURE_HEADER)
    if provided is None:
        if headers.get(LEGACY_SIGNATURE_HEADER) is not None:
            return "only X-Hub-Signature (SHA-1) was sent; X-Hub-Signature-256 is required"
        return "X-Hub-Signature-256 is missing: set a secret on the webhook"
    found = _SIGNATURE.fullmatch(provided)
    if found is None:
        return "X-Hub-Signature-256 is not 'sha256=' and 64 hex digits"
    digest = found.group(1).lower()
    matched = False
    for key in keys:
        # Every key is compared, in constant time, whatever the earlier ones gave.
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        matched |= hmac.compare_digest(expected, digest)
    return None if matched else SIGNATURE_MISMATCH


class WebhookSecretUnusable(Exception):
    """The configured webhook secret is missing, malformed or too short (a deployment problem)."""


def parse_webhook_secret(value: str) -> list[bytes]:
    """A plain string, or ``{"current": ..., "previous": ...}`` while a rotation is under way."""
    candidates: list[Any]
    try:
        document = json.loads(value)
    except ValueError:
        document = None
    if isinstance(document, dict):
        if not isinstance(document.get("current"), str):
            raise WebhookSecretUnusable("the webhook secret JSON has no 'current' string")
        # An empty "previous" is the state between rotations.
        candidates = [document["current"], document.get("previous") or ""]
        candidates = [candidates[0], *(c for c in candidates[1:] if c)]
    else:
        candidates = [value]
    keys = []
    for candidate in candidates:
        if not isinstance(candidate, str) or len(candidate) < MIN_SECRET_LENGTH:
            raise WebhookSecretUnusable(f"a webhook secret must be at least {MIN_SECRET_LENGTH} characters")
        keys.append(candidate.encode())
    return keys


class WebhookKeys:
    """The keys a pipeline's deliveries may be signed with, cached by the fetcher (powertools parameters).

    A failed signature may force one fresh read per ``SECRET_REFRESH_INTERVAL_SECONDS``, so a new secret is
    accepted as soon as it is stored, without letting unsigned traffic hammer Secrets Manager.
    """

    def __init__(
        self,
        fetch: Callable[[str, bool], str],
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_interval: float = SECRET_REFRESH_INTERVAL_SECONDS,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._last_refresh: dict[str, float] = {}

    def keys(self, secret_id: str) -> list[bytes]:
        return parse_webhook_secret(self._fetch(secret_id, False))

    def refreshed_keys(self, secret_id: str) -> list[bytes] | None:
        """Freshly read keys, or None when a refresh happened too recently."""
        now = self._clock()
        last = self._last_refresh.get(secret_id)
        if last is not None and now - last < self._refresh_interval:
            return None
        self._last_refresh[secret_id] = now
        return parse_webhook_secret(self._fetch(secret_id, True))


# ---- payloads (only the fields read here; GitHub sends many more) --------------------------------------
class _Payload(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)


class Repository(_Payload):
    full_name: str = Field(max_length=300)


class Account(_Payload):
    login: str = Field(default="unknown", max_length=200)


class CommitAuthor(_Payload):
    name: str | None = None
    email: str | None = None
    # Push payloads only: the GitHub login GitHub matched the author's email to.
    username: str | None = None


class HeadCommit(_Payload):
    id: str | None = None
    message: str | None = None
    author: CommitAuthor | None = None


class PullRequestHead(_Payload):
    sha: str | None = None


class PullRequestRef(_Payload):
    number: int
    head: PullRequestHead | None = None


class WorkflowRun(_Payload):
    head_sha: str
    head_branch: str | None = None
    event: str
    status: str | None = None
    conclusion: str | None = None
    name: str | None = None
    path: str | None = None
    head_repository: Repository | None = None
    head_commit: HeadCommit | None = None
    pull_requests: list[PullRequestRef] = Field(default_factory=list)


class Workflow(_Payload):
    name: str | None = None
    path: str | None = None


class WorkflowRunEvent(_Payload):
    action: str
    repository: Repository
    workflow_run: WorkflowRun
    workflow: Workflow | None = None
    sender: Account | None = None


class PushEvent(_Payload):
    ref: str
    after: str
    deleted: bool = False
    repository: Repository
    head_commit: HeadCommit | None = None
    sender: Account | None = None


class AnyEvent(_Payload):
    repository: Repository | None = None


# ---- deciding what a delivery asks for -----------------------------------------------------------------
@dataclass(frozen=True)
class StartWanted:
    sha: str
    ref: str
    pull_request: int | None
    commit: CommitInfo
    requested_by: str


@dataclass(frozen=True)
class Ignored:
    reason: str


class BadPayload(Exception):
    """The body does not have the shape GitHub gives this event (400)."""


def _parse(model: type[Any], payload: dict[str, Any], event: str) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise BadPayload(f"not a {event} payload: {describe_validation_error(error)}") from error


def _same_repo(a: str, b: str) -> bool:
    # GitHub repository names are case-insensitive.
    return a.lower() == b.lower()


def _commit_info(head: HeadCommit | None) -> CommitInfo:
    author = head.author if head and head.author else CommitAuthor()
    message = head.message if head and head.message else None
    return CommitInfo(
        message=message[:10_000] if message else None,
        author_login=author.username or None,
        author_email=author.email or None,
        verified=True,
    )


def _workflow_matches(wanted: str, event: WorkflowRunEvent) -> bool:
    """By file path only: a workflow's name is free text any workflow file can claim."""
    run = event.workflow_run
    # A run's path may carry "@ref" for workflows called from elsewhere.
    paths = {p.split("@", 1)[0] for p in (run.path, event.workflow.path if event.workflow else None) if p}
    return wanted in paths


def decide_workflow_run(config: PipelineConfig, event: WorkflowRunEvent) -> StartWanted | Ignored:
    run = event.workflow_run
    wanted = config.github.build_workflow
    if event.action != "completed":
        return Ignored(f"workflow_run {event.action}: only a completed run starts a promotion")
    if not _workflow_matches(wanted, event):
        return Ignored(f"workflow {run.path or run.name!r} is not the build workflow {wanted!r}")
    if run.conclusion != "success":
        return Ignored(f"the build concluded {run.conclusion!r}, not 'success'")
    if run.event != "push":
        return Ignored(f"the build was triggered by {run.event!r}, not by a push")
    if run.head_branch != config.branch:
        return Ignored(f"the build ran on branch {run.head_branch!r}, not {config.branch!r}")
    head_repo = run.head_repository.full_name if run.head_repository else None
    if head_repo is None or not _same_repo(head_repo, config.repo):
        return Ignored(f"the build ran on a commit of {head_repo or 'an unknown repository'} (a fork?)")
    if not re.fullmatch(SHA_PATTERN, run.head_sha):
        raise BadPayload("workflow_run.head_sha is not a 40-character commit SHA")
    pulls = [p.number for p in run.pull_requests if p.head is None or p.head.sha == run.head_sha]
    actor = event.sender.login if event.sender else "unknown"
    return StartWanted(
        sha=run.head_sha,
        ref=f"refs/heads/{config.branch}",
        pull_request=pulls[0] if len(pulls) == 1 else None,
        commit=_commit_info(run.head_commit),
        requested_by=f"GitHub workflow_run ({actor})",
    )


def decide_push(config: PipelineConfig, event: PushEvent) -> StartWanted | Ignored:
    branch_ref = f"refs/heads/{config.branch}"
    if event.ref.startswith("refs/tags/"):
        return Ignored(f"tag push ({event.ref}): tags do not start promotions")
    if event.deleted or event.after == _ZERO_SHA:
        return Ignored(f"{event.ref} was deleted")
    if event.ref != branch_ref:
        return Ignored(f"push to {event.ref}, not {branch_ref}")
    if not config.github.push_triggers:
        return Ignored("push triggers are off for this pipeline: the build workflow's run starts promotions")
    if not re.fullmatch(SHA_PATTERN, event.after):
        raise BadPayload("push.after is not a 40-character commit SHA")
    if event.head_commit is not None and event.head_commit.id not in (None, event.after):
        raise BadPayload("push.head_commit.id differs from push.after")
    pusher = event.sender.login if event.sender else "unknown"
    return StartWanted(
        sha=event.after,
        ref=event.ref,
        pull_request=None,
        commit=_commit_info(event.head_commit),
        requested_by=f"GitHub push ({pusher})",
    )


def execution_input(
    config: PipelineConfig, wanted: StartWanted, *, event: str, repo: str, delivery_id: str
) -> ExecutionInput:
    verified: Literal["verified"] = "verified"
    return ExecutionInput(
        pipeline=config.name,
        sha=wanted.sha,
        attempt=WEBHOOK_ATTEMPT,
        trigger=Trigger(
            source="webhook",
            requested_by=wanted.requested_by[:200],
            github=GitHubFacts(
                event=event,
                repo=Fact(value=repo, provenance=verified),
                sha=Fact(value=wanted.sha, provenance=verified),
                ref=Fact(value=wanted.ref, provenance=verified),
                pull_request=(
                    Fact(value=wanted.pull_request, provenance=verified)
                    if wanted.pull_request is not None
                    else None
                ),
                # Not covered by the signature: anyone replaying a signed body chooses it.
                delivery_id=Fact(value=delivery_id, provenance="claimed"),
            ),
        ),
        commit=wanted.commit,
    )


# ---- receiving one delivery ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    pipeline: str
    headers: dict[str, str]  # lower-case names, as API Gateway's HTTP API delivers them
    body: bytes


@dataclass(frozen=True)
class WebhookDeps:
    configs: PipelineConfigStore
    keys: WebhookKeys
    store: DeliveryStore
    sfn: Any
    state_machine_arn: str
    # The stack's webhook secret, for pipelines that do not name their own.
    default_secret_id: str | None
    # Every webhook secret read lies under this (``{stack}/github/webhook/``): a pipeline config naming
    # anything else (an API token, another stack's secret) is refused before any read.
    webhook_secret_prefix: str
    clock: Callable[[], float] = time.time
    # The control plane's key that attests the inputs it starts (promotion.attestation); without it the
    # inputs go unattested and their verified facts count as claims downstream.
    attestation_key: Callable[[], bytes] | None = None


class _ServiceDown(Exception):
    """AWS failed us (not the client): answer 503 so the delivery can be redelivered."""


def receive(deps: WebhookDeps, delivery: Delivery) -> WebhookAnswer:
    try:
        return _receive(deps, delivery)
    except _ServiceDown as error:
        logger.error(
            "webhook could not be processed", extra={"pipeline": delivery.pipeline, "error": str(error)}
        )
        return WebhookAnswer(503, "unavailable", "temporarily unable to process the delivery; redeliver it")


def _receive(deps: WebhookDeps, delivery: Delivery) -> WebhookAnswer:
    headers = delivery.headers
    try:
        config = deps.configs.get(delivery.pipeline)
    except UnknownPipeline:
        return _rejected(404, "no such pipeline")
    # Parameter Store down, or a broken stored config: ours to fix, not the client's.
    except Exception as error:
        raise _ServiceDown(f"pipeline config: {type(error).__name__}: {error}") from error
    if len(delivery.body) > MAX_BODY_BYTES:
        return _rejected(413, f"body larger than {MAX_BODY_BYTES} bytes")

    problem = _verify(deps, config, delivery)
    if problem is not None:
        # The body is never logged: an unverified body is anyone's text.
        logger.warning(
            "webhook signature refused",
            extra={
                "pipeline": config.name,
                "reason": problem,
                "delivery": headers.get(DELIVERY_HEADER, "")[:100],
            },
        )
        return _rejected(401, problem)

    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != JSON_CONTENT_TYPE:
        return _rejected(415, "set the webhook's content type to application/json")
    event_name = headers.get(EVENT_HEADER, "")
    delivery_id = headers.get(DELIVERY_HEADER, "")
    if not _EVENT.fullmatch(event_name):
        return _rejected(400, "X-GitHub-Event is missing or malformed")
    if not _DELIVERY.fullmatch(delivery_id):
        return _rejected(400, "X-GitHub-Delivery is missing or malformed")
    try:
        payload = json.loads(delivery.body)
    except (ValueError, RecursionError):
        return _rejected(400, "the body is not JSON")
    if not isinstance(payload, dict):
        return _rejected(400, "the body is not a JSON object")

    try:
        return _handle_event(deps, config, event_name, delivery_id, payload)
    except BadPayload as error:
        return _rejected(400, str(error)[:500])


def _verify(deps: WebhookDeps, config: PipelineConfig, delivery: Delivery) -> str | None:
    secret_id = config.github.webhook_secret_id or deps.default_secret_id
    if not secret_id:
        logger.error("no webhook secret configured", extra={"pipeline": config.name})
        return "this pipeline has no webhook secret configured"
    if not secret_name(secret_id).startswith(deps.webhook_secret_prefix):
        logger.error("webhook secret outside the webhook prefix", extra={"pipeline": config.name})
        return f"this pipeline's webhook secret is not under {deps.webhook_secret_prefix}"
    try:
        problem = signature_problem(delivery.body, delivery.headers, deps.keys.keys(secret_id))
        if problem == SIGNATURE_MISMATCH:
            fresh = deps.keys.refreshed_keys(secret_id)
            if fresh is not None:
                problem = signature_problem(delivery.body, delivery.headers, fresh)
    except WebhookSecretUnusable as error:
        logger.error("webhook secret unusable", extra={"pipeline": config.name, "error": str(error)})
        raise _ServiceDown(str(error)) from error
    except Exception as error:  # Secrets Manager unreachable, no permission, ...: never a pass
        raise _ServiceDown(f"webhook secret: {type(error).__name__}") from error
    return problem


def _handle_event(
    deps: WebhookDeps, config: PipelineConfig, event_name: str, delivery_id: str, payload: dict[str, Any]
) -> WebhookAnswer:
    envelope: AnyEvent = _parse(AnyEvent, payload, event_name)
    if envelope.repository is not None and not _same_repo(envelope.repository.full_name, config.repo):
        return _rejected(
            422,
            f"delivery is for {envelope.repository.full_name}; pipeline {config.name} deploys {config.repo}",
        )
    if event_name == "ping":
        return WebhookAnswer(200, "pong", "webhook reached the pipeline", {"pipeline": config.name})

    decision: StartWanted | Ignored
    if event_name == "workflow_run":
        decision = decide_workflow_run(config, _parse(WorkflowRunEvent, payload, event_name))
    elif event_name == "push":
        decision = decide_push(config, _parse(PushEvent, payload, event_name))
    else:
        decision = Ignored(f"{event_name} events do not start promotions (workflow_run and push do)")
    if envelope.repository is None:
        return _rejected(422, f"the {event_name} payload names no repository")

    now = int(deps.clock())
    try:
        first_time = deps.store.record_delivery(
            delivery_id, pipeline=config.name, event=event_name, received_at=now
        )
    except (ClientError, BotoCoreError) as error:
        raise _ServiceDown(f"deliveries table: {error}") from error
    log = {"pipeline": config.name, "delivery": delivery_id, "event": event_name}
    if isinstance(decision, Ignored):
        logger.info("webhook ignored", extra={**log, "reason": decision.reason})
        return WebhookAnswer(202, "ignored", decision.reason)

    wanted_input = execution_input(
        config, decision, event=event_name, repo=envelope.repository.full_name, delivery_id=delivery_id
    )
    answer = _ensure_started(deps, config, wanted_input, delivery_id, now, first_time=first_time)
    if not first_time and answer.outcome == "duplicate":
        answer = WebhookAnswer(
            200, "duplicate", "delivery already received; " + answer.message, answer.details
        )
    correlate(
        Correlation(
            execution=answer.details.get("execution_name"),
            pipeline=config.name,
            commit=decision.sha,
            repository=config.repo,
        )
    )
    logger.info("webhook handled", extra={**log, "sha": decision.sha, "outcome": answer.outcome})
    return answer


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def _claim(
    deps: WebhookDeps,
    config: PipelineConfig,
    wanted: ExecutionInput,
    delivery_id: str,
    now: int,
    attempt: int,
) -> CommitClaim:
    name = execution_name(config.name, wanted.sha, attempt)
    document = wanted.model_copy(update={"attempt": attempt})
    if deps.attestation_key is not None:
        # The signature checked out: vouch for the facts taken from the body, for this execution only.
        try:
            document = attest(
                document,
                deps.attestation_key(),
                execution_name=name,
                state_machine_arn=deps.state_machine_arn,
            )
        except Exception as error:
            # Start anyway, unattested: downstream its facts count as claims (the two-person rule then
            # treats the author as unverified), which is the safe reading.
            logger.warning(
                "input not attested", extra={"pipeline": config.name, "error": type(error).__name__}
            )
    return CommitClaim(
        pipeline=config.name,
        sha=wanted.sha,
        delivery_id=delivery_id,
        execution_name=name,
        execution_input=document.to_payload(),
        claimed_at=now,
    )


def ended_without_deploying(sfn: Any, execution_arn: str) -> bool:
    """Whether the execution is over and ended before "Deploy to preprod" changed anything.

    Decided from its status and error alone (DescribeExecution: the history would hold task tokens). False
    whenever that is not certain, the execution unreadable included: the claim then stays.
    """
    try:
        described = sfn.describe_execution(executionArn=execution_arn)
    except Exception as error:
        logger.warning("earlier execution unreadable", extra={"error": type(error).__name__})
        return False
    return described.get("status") == "FAILED" and described.get("error") in NOTHING_DEPLOYED_ERRORS


def _next_attempt(existing: CommitClaim) -> int | None:
    parsed = parse_execution_name(existing.execution_name)
    return parsed.attempt + 1 if parsed is not None and parsed.attempt < 9999 else None


def _ensure_started(
    deps: WebhookDeps,
    config: PipelineConfig,
    wanted: ExecutionInput,
    delivery_id: str,
    now: int,
    *,
    first_time: bool,
) -> WebhookAnswer:
    claim = _claim(deps, config, wanted, delivery_id, now, WEBHOOK_ATTEMPT)
    try:
        existing = deps.store.claim_commit(claim)
        if existing is not None:
            if existing.status == "started":
                attempt = _next_attempt(existing)
                # A delivery id starts at most once: only a delivery never seen before may start the next
                # attempt, and only when the claim's execution is known to have deployed nothing.
                if (
                    first_time
                    and attempt is not None
                    and existing.execution_arn
                    and ended_without_deploying(deps.sfn, existing.execution_arn)
                ):
                    successor = _claim(deps, config, wanted, delivery_id, now, attempt)
                    if deps.store.supersede(existing, successor):
                        logger.info(
                            "commit claim gave way",
                            extra={"ended": existing.execution_name, "next": successor.execution_name},
                        )
                        return _start(deps, successor)
                    return WebhookAnswer(
                        200,
                        "duplicate",
                        f"{wanted.sha[:12]} is being started again by another delivery",
                        {"execution_name": existing.execution_name},
                    )
                return WebhookAnswer(
                    200,
                    "duplicate",
                    f"{wanted.sha[:12]} was already started",
                    {"execution_name": existing.execution_name, "execution_arn": existing.execution_arn},
                )
            if now - existing.claimed_at < STALE_CLAIM_SECONDS or not deps.store.take_over(existing, now=now):
                return WebhookAnswer(
                    200,
                    "duplicate",
                    f"{wanted.sha[:12]} is being started by an earlier delivery",
                    {"execution_name": existing.execution_name},
                )
            # An instance died between claiming and starting: finish its start, with its name and input.
            claim = existing
        return _start(deps, claim)
    except (ClientError, BotoCoreError) as error:
        raise _ServiceDown(f"deliveries table: {error}") from error


def _start(deps: WebhookDeps, claim: CommitClaim) -> WebhookAnswer:
    details = {"execution_name": claim.execution_name}
    try:
        response = deps.sfn.start_execution(
            stateMachineArn=deps.state_machine_arn,
            name=claim.execution_name,
            input=json.dumps(claim.execution_input),
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            deps.store.release(claim)
            raise _ServiceDown(f"StartExecution: {error}") from error
        # Started before under this name: by an operator, or by an instance that died before recording it.
        arn = _execution_arn(deps.state_machine_arn, claim.execution_name)
        deps.store.mark_started(claim, execution_arn=arn)
        return WebhookAnswer(
            200, "duplicate", f"{claim.sha[:12]} was already started", {**details, "execution_arn": arn}
        )
    except BotoCoreError as error:
        deps.store.release(claim)
        raise _ServiceDown(f"StartExecution: {error}") from error
    arn = str(response["executionArn"])
    deps.store.mark_started(claim, execution_arn=arn)
    return WebhookAnswer(
        201, "started", f"promotion of {claim.sha[:12]} started", {**details, "execution_arn": arn}
    )
