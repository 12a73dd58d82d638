"""Proof that the control plane itself made an approval decision, checked before anything touches prod.

Whoever holds a task token can call SendTaskSuccess with any output (the token is in the execution history),
so the output of "Wait for approval" is a claim. When the control plane decides, it MACs the decision
with a KMS HMAC key (the key never leaves KMS; IAM lets only the deciding functions GenerateMac and only
"Verify approval" VerifyMac) and puts the MAC in the task output. "Verify approval" re-reads the approval
record and accepts the output only if the record is approved, belongs to this execution, has enough
distinct approvers under its rules snapshot, and the MAC verifies over the record as it stands. Anything
else is a forged completion: the promotion fails closed with ``ApprovalNotVerified``, the audit log gets a
``forged_completion`` event, and the failure notice is CRITICAL.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, ValidationError

from promotion.errors import ApprovalNotFound, ApprovalNotVerified, PromotionError
from promotion.models.approval import ApprovalRecord
from promotion.models.approver_input import ApproverInputInvalid, validate_inputs

PURPOSE = "approval-decision/v1"
MAC_ALGORITHM = "HMAC_SHA_256"


class DecisionKey(Protocol):
    """Makes and checks MACs over decision messages; the key material stays with the implementation."""

    def mac(self, message: bytes) -> str: ...

    def verify(self, message: bytes, mac: str) -> bool: ...


class KmsDecisionKey:
    """A KMS HMAC key (KeySpec HMAC_256, KeyUsage GENERATE_VERIFY_MAC)."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id

    def mac(self, message: bytes) -> str:
        response = self._kms.generate_mac(KeyId=self._key_id, Message=message, MacAlgorithm=MAC_ALGORITHM)
        return base64.b64encode(response["Mac"]).decode()

    def verify(self, message: bytes, mac: str) -> bool:
        try:
            raw = base64.b64decode(mac, validate=True)
        except ValueError:
            return False
        try:
            response = self._kms.verify_mac(
                KeyId=self._key_id, Message=message, Mac=raw, MacAlgorithm=MAC_ALGORITHM
            )
        except ClientError as error:
            # KMS answers a wrong MAC with KMSInvalidMacException; anything else (throttling, access) is
            # the service's trouble and must not read as "forged": it raises, and the state retries.
            if error.response.get("Error", {}).get("Code") == "KMSInvalidMacException":
                return False
            raise
        return bool(response.get("MacValid"))


def decision_message(record: ApprovalRecord) -> bytes:
    """What the MAC covers: the decision as the record states it, bound to one execution and one build.

    The rules snapshot is part of it, so a record whose rules were edited after the decision no longer
    verifies; so is every approver's input (``approval.inputs``), so values edited afterwards do not
    either. Both enter only when there are any: a record from before inputs existed keeps its document,
    and its MAC still verifies. KMS takes at most 4 KiB, so the MAC is over the document's SHA-256.
    """
    rules = record.rules.model_dump(mode="json")
    if not rules["inputs"]:
        del rules["inputs"]
    document: dict[str, Any] = {
        "purpose": PURPOSE,
        "approval_id": record.approval_id,
        "execution_arn": record.execution_arn,
        "pipeline": record.pipeline,
        "repo": record.repo,
        "sha": record.sha,
        "artifact_sha256": record.artifact_sha256,
        "status": record.status,
        "approvers": sorted(record.votes),
        "decided_at": record.decided_at,
        "rules": rules,
    }
    inputs = {who: vote.inputs for who, vote in record.votes.items() if vote.inputs}
    if inputs:
        document["inputs"] = inputs
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return f"{PURPOSE}\n{hashlib.sha256(canonical).hexdigest()}".encode()


class ClaimedDecision(BaseModel):
    """The part of the task output the check reads; everything in it is a claim until verified."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    approval_id: str
    decision_mac: str


@dataclass(frozen=True)
class VerifiedApproval:
    record: ApprovalRecord

    def to_payload(self) -> dict[str, Any]:
        """The approval as the rest of the promotion sees it: the record's facts, not the output's claims."""
        record = self.record
        approvers = record.approved_by()
        return {
            "approval_id": record.approval_id,
            "approved_by": ", ".join(approvers),
            "approvers": approvers,
            "channel": record.channel or "",
            "decided_at": record.decided_at,
            # How long the promotion waited for people (the dashboard's approval wait).
            "waited_seconds": max(0, (record.decided_at or record.requested_at) - record.requested_at),
            "verified": True,
            # The approver input (``approval.inputs``): the deciding vote's, and every approver's.
            "inputs": record.deciding_inputs(),
            "inputs_by_approver": record.inputs_by_approver(),
        }


class RulesCheck(Protocol):
    def __call__(self, record: ApprovalRecord, approver: str) -> None: ...


class RecordReader(Protocol):
    def get(self, approval_id: str) -> ApprovalRecord: ...


def verify_decision(
    store: RecordReader,
    key: DecisionKey,
    *,
    execution_arn: str,
    output: Any,
    rules_allow: RulesCheck,
) -> VerifiedApproval:
    """The verified approval; raises ``ApprovalNotVerified`` (saying why) for anything short of proof."""
    try:
        claimed = ClaimedDecision.model_validate(output)
    except ValidationError:
        raise ApprovalNotVerified(
            "the approval task was completed without the control plane's decision proof"
        ) from None
    try:
        record = store.get(claimed.approval_id)
    except ApprovalNotFound:
        raise ApprovalNotVerified(
            f"the completion names approval {claimed.approval_id!r}, which does not exist"
        ) from None
    if record.execution_arn != execution_arn:
        raise ApprovalNotVerified(
            f"approval {record.approval_id} belongs to execution {record.execution_name}, not this one"
        )
    if record.status != "approved":
        raise ApprovalNotVerified(f"approval {record.approval_id} is {record.status}, not approved")
    approvers = set(record.votes)
    needed = record.rules.required_approvals
    if len(approvers) < needed:
        raise ApprovalNotVerified(
            f"approval {record.approval_id} has {len(approvers)} distinct approver(s); "
            f"the rules need {needed}"
        )
    for approver in sorted(approvers):
        try:
            rules_allow(record, approver)
        except PromotionError as error:
            raise ApprovalNotVerified(f"the rules do not allow {approver}'s approval: {error}") from error
    for approver in sorted(approvers):
        try:
            validate_inputs(record.rules.inputs, record.votes[approver].inputs)
        except ApproverInputInvalid as error:
            raise ApprovalNotVerified(
                f"{approver}'s approval input does not fit the rules: {error}"
            ) from None
    if not key.verify(decision_message(record), claimed.decision_mac):
        raise ApprovalNotVerified(f"the decision proof of approval {record.approval_id} does not verify")
    return VerifiedApproval(record)
