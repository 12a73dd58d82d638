"""What a refused or failed decision answers over HTTP, whichever route took it (links, operators).

Each route adds its own refusals (a bad link, an unknown caller) in front of these; the first entry whose
type matches wins, so more specific types come first.
"""

from __future__ import annotations

from promotion.approvals.collaborators import ApprovalQueued, DecisionNotDelivered
from promotion.errors import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalNotFound,
    ApprovalStoreBusy,
    ApproverNotAllowed,
    SelfApprovalRefused,
)
from promotion.models.approver_input import ApproverInputInvalid

ErrorStatus = dict[type[Exception], tuple[int, str]]

DECISION_ERROR_STATUS: ErrorStatus = {
    ApproverNotAllowed: (403, "Not an approver"),
    SelfApprovalRefused: (403, "Not allowed"),
    ApprovalNotFound: (404, "No such approval"),
    ApprovalAlreadyDecided: (409, "Already decided"),
    ApprovalQueued: (409, "Waiting in line"),
    ApprovalExpired: (410, "Expired"),
    ApproverInputInvalid: (422, "Input not valid"),
    DecisionNotDelivered: (503, "Try again"),
    ApprovalStoreBusy: (503, "Try again"),
}


def status_of(error: Exception, table: ErrorStatus) -> tuple[int, str] | None:
    """The HTTP status and title for ``error``, or None when it is the service's fault (a 500)."""
    for error_type, answer in table.items():
        if isinstance(error, error_type):
            return answer
    return None
