"""Attested execution inputs: "verified" facts count only when the control plane itself vouches for them.

Anyone allowed to call StartExecution can write ``"verified": true`` into an execution input. So the
webhook, after checking GitHub's signature, attests the input it starts: an HMAC-SHA256 over the input's
canonical JSON (everything but the attestation), keyed with the control plane's link-signing secret under
its own purpose string. Consumers call :func:`trusted_input`: with no valid attestation, every verified
fact is downgraded to a claim (fail closed), and the rules that need verified facts (the two-person rule)
treat them as unknown.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from promotion.models.execution import ExecutionInput

_PURPOSE = b"execution-input-attestation/v1\n"


def _digest(key: bytes, execution_input: ExecutionInput) -> str:
    document = execution_input.model_dump(mode="json", exclude={"attestation"})
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return hmac.new(key, _PURPOSE + canonical, hashlib.sha256).hexdigest()


def attest(execution_input: ExecutionInput, key: bytes) -> ExecutionInput:
    return execution_input.model_copy(update={"attestation": _digest(key, execution_input)})


def is_attested(execution_input: ExecutionInput, key: bytes) -> bool:
    given = execution_input.attestation
    return bool(given) and hmac.compare_digest(str(given), _digest(key, execution_input))


def trusted_input(execution_input: ExecutionInput, key: bytes) -> ExecutionInput:
    """The input as far as it can be trusted: unattested verified facts become claims."""
    if is_attested(execution_input, key):
        return execution_input
    update: dict[str, object] = {}
    if execution_input.commit is not None and execution_input.commit.verified:
        update["commit"] = execution_input.commit.model_copy(update={"verified": False})
    github = execution_input.trigger.github
    if github is not None:
        facts = {
            name: fact.model_copy(update={"provenance": "claimed"})
            for name in ("repo", "sha", "ref", "pull_request", "delivery_id")
            if (fact := getattr(github, name)) is not None
        }
        update["trigger"] = execution_input.trigger.model_copy(
            update={"github": github.model_copy(update=facts)}
        )
    return execution_input.model_copy(update=update)
