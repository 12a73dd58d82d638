"""HTML pages of the approval links. Every value is escaped; the pages load nothing from elsewhere."""

from __future__ import annotations

from html import escape

from promotion.approvals import iso
from promotion.models.approval import ApprovalRecord

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1b1f23}"
    "dt{font-weight:600}dd{margin:0 0 .6rem 0;font-family:ui-monospace,monospace;word-break:break-all}"
    "button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.6rem}textarea{width:100%}"
)


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="robots" content="noindex"><style>{_STYLE}</style></head>'
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _facts(record: ApprovalRecord) -> str:
    rows = [
        ("Pipeline", record.pipeline),
        ("Repository", record.repo),
        ("Commit", record.sha),
        ("Build sha256", record.artifact_sha256),
        ("Preprod", record.preprod_report),
        ("Execution", record.execution_name),
        ("Expires", iso(record.expires_at)),
    ]
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows) + "</dl>"


def confirmation_page(record: ApprovalRecord, *, approver: str, expires: str, signature: str) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(value)}">'
        for name, value in (("approver", approver), ("expires", expires), ("sig", signature))
    )
    form = (
        f'<form method="post" action="{escape(record.approval_id)}">{hidden}'
        '<p><label for="reason">Comment (optional)</label><br>'
        '<textarea id="reason" name="reason" rows="3" maxlength="1000"></textarea></p>'
        '<button type="submit" name="decision" value="approve" id="approve">Approve</button>'
        '<button type="submit" name="decision" value="reject" id="reject">Reject</button></form>'
    )
    intro = f"<p>You, {escape(approver)}, are asked to approve this build for prod.</p>"
    return _page(f"Promote {record.repo} to prod?", intro + _facts(record) + form)


def decided_page(record: ApprovalRecord) -> str:
    verb = {"approved": "Approved", "rejected": "Rejected"}.get(record.status, record.status.capitalize())
    who = f" by {escape(record.decided_by or '')}" if record.decided_by else ""
    when = f" at {iso(record.decided_at)}" if record.decided_at else ""
    return _page(f"{verb}{who}", f"<p>{escape(verb)}{who}{when}.</p>" + _facts(record))


def message_page(title: str, message: str) -> str:
    return _page(title, f"<p>{escape(message)}</p>")
