"""What approvers read: the email's subject, text and HTML, and how the commit's author is described."""

from __future__ import annotations

from html import escape

from promotion.approvals.collaborators import iso
from promotion.models.approval import (
    ApprovalRecord,
)


def approval_subject(record: ApprovalRecord) -> str:
    return f"Approve {record.repo}@{record.sha[:12]} to prod? ({record.pipeline})"


def author_who(record: ApprovalRecord) -> str:
    commit = record.commit
    return " / ".join(part for part in (commit.author_login, commit.author_email) if part) or "unknown"


def verification_text(record: ApprovalRecord) -> str:
    """ "verified" only when GitHub's API named the author's account; otherwise where the words came from."""
    commit = record.commit
    if commit.author_confirmed:
        return "verified"
    if commit.source == "github_api":
        return "NOT verified: GitHub links the author's email to no account"
    if commit.source == "webhook":
        return "NOT verified: from the webhook payload, not confirmed by GitHub's API"
    return "NOT verified"


def author_text(record: ApprovalRecord) -> str:
    return f"{author_who(record)} ({verification_text(record)})"


def approval_email_text(
    record: ApprovalRecord,
    link: str,
    *,
    approver: str,
    waiting_behind: list[ApprovalRecord] | None = None,
    prod_window: str | None = None,
) -> str:
    lines = [
        f"{record.repo} commit {record.sha} passed preprod and waits for approval to go to prod.",
        "",
        f"Pipeline:   {record.pipeline}",
        f"Commit:     {record.sha}",
        f"Message:    {_first_line(record.commit.message)}",
        f"Author:     {author_text(record)}",
        f"Compare:    {record.compare_url}",
        f"Build:      sha256 {record.artifact_sha256}",
        f"Preprod:    {record.preprod_report}",
        f"Why asked:  {record.approval_reason or 'every change needs approval'}",
        f"Execution:  {record.execution_name}",
        f"Console:    {record.console_url}",
        f"Expires:    {iso(record.expires_at)}",
    ]
    if record.rules.required_approvals > 1:
        lines.append(f"Needs:      {record.rules.required_approvals} distinct approvers")
    if waiting_behind:
        lines.append(f"Queued:     behind {', '.join(other.execution_name for other in waiting_behind)}")
    if prod_window:
        lines.append(f"Prod window: {prod_window}")
    lines += [
        "",
        f"For {approver}. Opening a link decides nothing: it shows the change and asks you to confirm.",
        f"Approve: {_intent_link(link, 'approve')}",
        f"Reject:  {_intent_link(link, 'reject')}",
        "",
        "This link is for you alone; do not forward it.",
    ]
    return "\n".join(lines)


def approval_email_html(
    record: ApprovalRecord,
    link: str,
    *,
    approver: str,
    waiting_behind: list[ApprovalRecord] | None = None,
    prod_window: str | None = None,
) -> str:
    rows = [
        ("Pipeline", escape(record.pipeline)),
        ("Commit", f'<a href="{escape(record.compare_url)}">{escape(record.sha)}</a>'),
        ("Message", escape(record.commit.message or "unknown")),
        ("Author", escape(author_text(record))),
        ("Build sha256", escape(record.artifact_sha256)),
        ("Preprod", escape(record.preprod_report)),
        ("Why asked", escape(record.approval_reason or "every change needs approval")),
        ("Execution", f'<a href="{escape(record.console_url)}">{escape(record.execution_name)}</a>'),
        ("Expires", escape(iso(record.expires_at))),
    ]
    if record.rules.required_approvals > 1:
        rows.append(("Needs", f"{record.rules.required_approvals} distinct approvers"))
    if waiting_behind:
        rows.append(("Queued behind", escape(", ".join(o.execution_name for o in waiting_behind))))
    if prod_window:
        rows.append(("Prod window", escape(prod_window)))
    table = "".join(
        f'<tr><th align="left" style="padding-right:1em">{k}</th><td>{v}</td></tr>' for k, v in rows
    )
    return (
        f"<html><body><p>{escape(record.repo)} commit <code>{escape(record.sha[:12])}</code> passed preprod "
        f"and waits for approval to go to prod.</p><table>{table}</table>"
        f"<p>For {escape(approver)}. Opening a link decides nothing: it shows the change and asks you to "
        "confirm.</p>"
        f'<p><a href="{escape(_intent_link(link, "approve"))}">Approve</a> &nbsp; '
        f'<a href="{escape(_intent_link(link, "reject"))}">Reject</a></p>'
        "<p>This link is for you alone; do not forward it.</p></body></html>"
    )


def _first_line(message: str | None) -> str:
    return message.strip().splitlines()[0][:200] if message and message.strip() else "unknown"


def _intent_link(link: str, intent: str) -> str:
    # The intent only pre-selects a button on the confirmation page; it is not signed and decides nothing.
    return f"{link}&intent={intent}"
