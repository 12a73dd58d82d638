"""Attested execution inputs: "verified" facts count only when the control plane itself vouches for them.

Anyone allowed to call StartExecution can write ``"verified": true`` into an execution input. So the
webhook, after checking GitHub's signature, attests the input it starts: an HMAC-SHA256 over the input's
canonical JSON (everything but the attestation), the execution's name and its state machine's ARN, keyed
with the stack's attestation key (``{stack}/attestation-key``, used for nothing else). Binding the name and
the state machine means an attested input copied out of one execution's history and started under another
name, or on another state machine, no longer verifies.

Consumers call :func:`trusted_input` with the execution they run in (``$$.Execution.Id`` and
``$$.Execution.Name``): with no valid attestation, every verified fact is downgraded to a claim (fail
closed), and the rules that need verified facts (the two-person rule) treat them as unknown.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from promotion.models.execution import ExecutionInput

_PURPOSE = b"execution-input-attestation/v2\n"
_EXECUTION_ARN = re.compile(r"^(arn:[a-z-]+:states:[a-z0-9-]+:[0-9]{12}:)execution:([^:]+):([^:]+)$")


def state_machine_of(execution_arn: str, execution_name: str) -> str | None:
    """The state machine ARN of a Standard execution's ARN, when that ARN ends in ``execution_name``."""
    match = _EXECUTION_ARN.match(execution_arn)
    if match is None or match.group(3) != execution_name:
        return None
    return f"{match.group(1)}stateMachine:{match.group(2)}"


def _digest(key: bytes, execution_input: ExecutionInput, execution_name: str, state_machine_arn: str) -> str:
    document = execution_input.model_dump(mode="json", exclude={"attestation"})
    bound = {"input": document, "execution_name": execution_name, "state_machine_arn": state_machine_arn}
    canonical = json.dumps(bound, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return hmac.new(key, _PURPOSE + canonical, hashlib.sha256).hexdigest()


def attest(
    execution_input: ExecutionInput, key: bytes, *, execution_name: str, state_machine_arn: str
) -> ExecutionInput:
    """The input with the control plane's attestation, valid only for this execution name and machine."""
    digest = _digest(key, execution_input, execution_name, state_machine_arn)
    return execution_input.model_copy(update={"attestation": digest})


def is_attested(
    execution_input: ExecutionInput, key: bytes, *, execution_arn: str, execution_name: str
) -> bool:
    given = execution_input.attestation
    state_machine_arn = state_machine_of(execution_arn, execution_name)
    if not given or state_machine_arn is None:
        return False
    expected = _digest(key, execution_input, execution_name, state_machine_arn)
    return hmac.compare_digest(str(given), expected)


def trusted_input(
    execution_input: ExecutionInput, key: bytes, *, execution_arn: str, execution_name: str
) -> ExecutionInput:
    """The input as far as it can be trusted in this execution: unattested verified facts become claims."""
    if is_attested(execution_input, key, execution_arn=execution_arn, execution_name=execution_name):
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
