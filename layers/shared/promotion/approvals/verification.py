"""The two ways out of "Wait for approval", checked against what the control plane itself recorded.

- ``verify_approval`` ("Verify approval", after a SendTaskSuccess): only an approval the control plane made
  and MACed goes on to prod (promotion.decision_proof). A forged completion fails the promotion with
  ``ApprovalNotVerified``; the execution's waiting records are closed (so they stop blocking a queue) and
  the audit log gets a ``forged_completion`` event.
- ``close_failed_wait`` ("Close approval request", after any error but the timeout): the execution's
  waiting records are closed. The control plane fails the task only as ``Rejected`` or ``Superseded``, and
  only after writing that status to the record; a failure with no such record behind it was sent by a
  token holder. It can only stop the promotion, but it is audited and named ``ApprovalNotVerified``, so
  the notice says what happened.
"""

from __future__ import annotations

from typing import Any

from promotion.approvals.collaborators import REJECTED_ERROR, SUPERSEDED_ERROR, ApprovalServices
from promotion.approvals.decision_proof import DecisionKey, verify_decision
from promotion.approvals.expiry import expire_execution
from promotion.approvals.rules import check_rules
from promotion.errors import ApprovalNotVerified
from promotion.models.approval import ApprovalRecord
from promotion.models.steps import ExpireApprovalRequest, VerifyApprovalRequest
from promotion.pipeline.notify import Failure

# The error names the control plane fails an approval task with, and the record status it writes first.
# Whoever completed the task is unknown: only the task token was needed, and it names nobody.
FORGED_ACTOR = "unknown task-token holder"
_CONTROL_PLANE_FAILURES = {REJECTED_ERROR: "rejected", SUPERSEDED_ERROR: "superseded"}


def _rules_allow(record: ApprovalRecord, approver: str) -> None:
    check_rules(record, approver, "approve")


def verify_approval(
    services: ApprovalServices, key: DecisionKey, request: VerifyApprovalRequest, *, now: float
) -> dict[str, Any]:
    """The verified approval (the record's facts) for ``$.approval``; raises ``ApprovalNotVerified``."""
    try:
        verified = verify_decision(
            services.store,
            key,
            execution_arn=request.execution_arn,
            output=request.approval,
            rules_allow=_rules_allow,
        )
    except ApprovalNotVerified as error:
        _report_forged(
            services,
            request.execution_arn,
            request.execution_name,
            request.pipeline,
            detail=f"SendTaskSuccess not made by the control plane: {error}; "
            f"output {_claim(request.approval)}",
            now=now,
        )
        raise
    return verified.to_payload()


def close_failed_wait(services: ApprovalServices, request: ExpireApprovalRequest, *, now: float) -> Failure:
    """Close the execution's waiting records; the failure to carry on (renamed if the control plane did
    not send it)."""
    failure = request.failure or Failure(Error="Unknown", Cause="")
    records = services.store.for_execution(request.execution_arn)
    expected = _CONTROL_PLANE_FAILURES.get(failure.Error)
    # A Rejected/Superseded the control plane sent always has its record in that status; any other error
    # with a record still waiting is the request step's own failure or a token holder's: only the first
    # two names are claims about a decision, so only they are checked.
    forged = expected is not None and not any(record.status == expected for record in records)
    expire_execution(services, request.execution_arn, now=now)
    if not forged:
        return failure
    detail = (
        f"SendTaskFailure {failure.Error} not made by the control plane (no {expected} record for this "
        f"execution); cause given: {failure.Cause[:500]}"
    )
    _report_forged(
        services, request.execution_arn, request.execution_name, request.pipeline, detail=detail, now=now
    )
    return Failure(
        Error=ApprovalNotVerified.__name__,
        Cause=f"the approval task was failed as {failure.Error} by something other than the control plane; "
        "the promotion stops and nothing went to prod",
    )


def _report_forged(
    services: ApprovalServices,
    execution_arn: str,
    execution_name: str,
    pipeline: str,
    *,
    detail: str,
    now: float,
) -> None:
    """Close what still waits, and write ``forged_completion`` on every record of the execution."""
    closed = expire_execution(services, execution_arn, now=now)
    records = {record.approval_id: record for record in services.store.for_execution(execution_arn)}
    records.update({record.approval_id: record for record in closed})
    if services.log is not None:
        services.log.error(
            "forged approval completion",
            extra={"execution_arn": execution_arn, "detail": detail, "approvals": sorted(records)},
        )
    if not records:
        # Nothing was ever requested for this execution: the event still needs a key to live under.
        services.record_audit_under(
            f"execution:{execution_name or execution_arn}",
            "forged_completion",
            pipeline=pipeline,
            execution_arn=execution_arn,
            actor=FORGED_ACTOR,
            channel="states",
            now=now,
            detail=detail,
        )
        return
    for record in records.values():
        services.record_audit(
            record,
            "forged_completion",
            actor=FORGED_ACTOR,
            channel="states",
            now=now,
            detail=detail,
        )


def _claim(output: Any) -> str:
    text = repr(output)
    return text if len(text) <= 300 else text[:300] + "..."
