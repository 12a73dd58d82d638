"""The approval rules every channel applies: allowlist, two-person rule (logins first, emails second),
and which approver an IAM principal acts as."""

from __future__ import annotations

from promotion.errors import (
    ApproverNotAllowed,
    SelfApprovalRefused,
)
from promotion.github.identity import emails_of, logins_of
from promotion.models.approval import (
    ApprovalPolicy,
    ApprovalRecord,
    Decision,
)


def author_matches(record: ApprovalRecord, approver: str) -> bool | None:
    """Whether the approver made the commit: None when that cannot be known.

    Logins first: every login known or claimed for the author and the committer (GitHub's API, the webhook's
    words, noreply addresses) against the approver's mapped login; then emails. A match on a mere claim
    refuses too (fail closed). A non-match only counts when GitHub's API named the author's account.
    """
    commit = record.commit
    login = record.rules.github_logins.get(approver)
    if login and login.lower() in logins_of(commit):
        return True
    if approver.strip().lower() in emails_of(commit):
        return True
    if not commit.author_confirmed:
        return None
    return False


def check_rules(record: ApprovalRecord, approver: str, decision: Decision) -> str:
    """Raise if the rules forbid this decision; the audit note on the author check otherwise."""
    rules = record.rules
    if approver not in rules.approvers or approver not in record.approvers:
        raise ApproverNotAllowed(f"{approver} is not an approver of this request")
    if decision == "reject":
        return "rejection: author check not needed"
    if rules.allow_self_approval:
        return "self-approval allowed by the pipeline"
    same = author_matches(record, approver)
    if same:
        raise SelfApprovalRefused(f"{approver} is the commit's author and cannot approve their own change")
    if same is None:
        if rules.unverified_author == "refuse":
            raise SelfApprovalRefused(
                "the commit's author is unknown or unverified, so the two-person rule cannot be checked; "
                "this pipeline refuses approval in that case"
            )
        return "author unknown or unverified: two-person rule NOT checked (pipeline allows this)"
    return "approver is neither the commit's author nor its committer (logins per GitHub's API)"


def operator_approver(rules: ApprovalPolicy, principal_arn: str) -> str | None:
    """The approver an IAM principal acts as: an exact key, else the longest matching ``prefix*`` key."""
    if principal_arn in rules.operators:
        return rules.operators[principal_arn]
    matches = [
        (len(key), approver)
        for key, approver in rules.operators.items()
        if key.endswith("*") and principal_arn.startswith(key[:-1])
    ]
    return max(matches)[1] if matches else None
