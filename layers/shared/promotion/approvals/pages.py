"""HTML pages of the approval links. Every value is escaped; the pages load nothing from elsewhere and run no
script, so a mail scanner that renders them can at most read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from promotion.approvals.collaborators import iso
from promotion.approvals.messages import author_who, verification_text
from promotion.approvals.rules import author_matches
from promotion.dal.approvals import decided_message
from promotion.models.approval import ApprovalRecord
from promotion.models.approver_input import ApproverInputField, input_text

# The form field of an approval input: a prefix keeps inputs apart from the form's own fields.
INPUT_PREFIX = "input."

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1b1f23}"
    "dt{font-weight:600}dd{margin:0 0 .6rem 0;font-family:ui-monospace,monospace;word-break:break-all;"
    "white-space:pre-wrap}"
    "button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.6rem}textarea{width:100%}"
    ".warn{background:#fff5d6;border-left:4px solid #d4a000;padding:.5rem .8rem}"
    "fieldset{margin:0 0 1rem 0}.field{margin:0 0 .8rem 0}.hint{color:#57606a;font-size:.9rem}"
    ".error{color:#b00020;font-weight:600;margin:.2rem 0}"
)


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="robots" content="noindex"><style>{_STYLE}</style></head>'
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _link(url: str, text: str) -> str:
    return f'<a href="{escape(url)}" rel="noreferrer">{escape(text)}</a>' if url else escape(text)


def author_note(record: ApprovalRecord, approver: str | None = None) -> str:
    commit = record.commit
    who = author_who(record)
    if approver is not None and not record.rules.allow_self_approval and author_matches(record, approver):
        return f"You are the author or committer ({who}): you cannot approve your own change."
    if not commit.author_confirmed:
        rule = record.rules.unverified_author
        consequence = (
            "this pipeline refuses approval when the author cannot be checked"
            if rule == "refuse" and not record.rules.allow_self_approval
            else "the two-person rule cannot be checked for this change"
        )
        return f"Author {who} is {verification_text(record)}; {consequence}."
    return f"Author {who} (verified by GitHub's API)."


def _facts(record: ApprovalRecord) -> str:
    rows = [
        ("Pipeline", escape(record.pipeline)),
        ("Repository", escape(record.repo)),
        ("Commit", _link(record.compare_url, record.sha)),
        ("Message", escape(record.commit.message or "unknown")),
        ("Author", escape(author_note(record).removeprefix("Author ").rstrip("."))),
        ("Requested by", escape(record.requested_by or "unknown")),
        ("Build sha256", escape(record.artifact_sha256)),
        ("Preprod", escape(record.preprod_report)),
        ("Execution", _link(record.console_url, record.execution_name)),
        ("Expires", escape(iso(record.expires_at))),
    ]
    given = {who: vote.inputs for who, vote in record.votes.items() if vote.inputs}
    if given:
        rows.append(
            ("Approver input", escape("; ".join(f"{who}: {input_text(v)}" for who, v in given.items())))
        )
    needed = record.rules.required_approvals
    if needed > 1:
        have = ", ".join(record.approved_by()) or "none yet"
        rows.append(("Approvals", escape(f"{len(record.votes)} of {needed} ({have})")))
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _input_control(field: ApproverInputField, value: str, error: str | None) -> str:
    """One approval input as a form control, its hint, and its error (if the last post had one)."""
    name = escape(INPUT_PREFIX + field.name)
    ident = escape(f"input-{field.name}")
    described = f' aria-describedby="{ident}-error" aria-invalid="true"' if error else ""
    required = " required" if field.required else ""
    hint = ""
    if field.type == "boolean":
        checked = " checked" if value.lower() in ("true", "on", "yes", "1") else ""
        control = (
            f'<input type="checkbox" id="{ident}" name="{name}" value="true"{checked}{described}> '
            f'<label for="{ident}">{escape(field.label)}{" (required)" if field.required else ""}</label>'
        )
    else:
        label = (
            f'<label for="{ident}">{escape(field.label)}{" (required)" if field.required else ""}</label><br>'
        )
        if field.type == "enum":
            options = '<option value="">choose</option>' + "".join(
                f'<option value="{escape(choice)}"{" selected" if choice == value else ""}>'
                f"{escape(choice)}</option>"
                for choice in field.choices or []
            )
            control = label + f'<select id="{ident}" name="{name}"{required}{described}>{options}</select>'
        elif field.type == "integer":
            bounds = "".join(
                f' {attribute}="{bound}"'
                for attribute, bound in (("min", field.minimum), ("max", field.maximum))
                if bound is not None
            )
            control = (
                label + f'<input type="number" id="{ident}" name="{name}" value="{escape(value)}"'
                f"{bounds}{required}{described}>"
            )
        else:
            control = (
                label + f'<input type="text" id="{ident}" name="{name}" value="{escape(value)}" '
                f'maxlength="{field.max_length}"{required}{described}>'
            )
            if field.pattern:
                hint = f'<br><span class="hint">Format: {escape(field.pattern)}</span>'
    shown_error = f'<p class="error" id="{ident}-error">{escape(error)}</p>' if error else ""
    return f'<div class="field">{control}{hint}{shown_error}</div>'


def _inputs_fieldset(record: ApprovalRecord, values: Mapping[str, str], errors: Mapping[str, str]) -> str:
    fields = record.rules.inputs
    if not fields:
        return ""
    controls = "".join(_input_control(f, values.get(f.name, ""), errors.get(f.name)) for f in fields)
    return (
        "<fieldset><legend>To approve, fill in (a rejection needs none of it)</legend>"
        + controls
        + "</fieldset>"
    )


def confirmation_page(
    record: ApprovalRecord,
    *,
    approver: str,
    expires: str,
    signature: str,
    csrf_nonce: str,
    csrf_token: str,
    intent: str = "",
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> str:
    """The form that decides; ``values`` and ``errors`` re-show an approval whose input was refused."""
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(value)}">'
        for name, value in (
            ("approver", approver),
            ("expires", expires),
            ("sig", signature),
            ("csrf_nonce", csrf_nonce),
            ("csrf", csrf_token),
        )
    )
    approve_focus = " autofocus" if intent == "approve" else ""
    reject_focus = " autofocus" if intent == "reject" else ""
    errors = errors or {}
    problem = (
        '<p class="error" id="input-errors">Not approved: '
        f"{escape('; '.join(errors.values()))}. Nothing was decided.</p>"
        if errors
        else ""
    )
    form = (
        f'<form method="post" action="{escape(record.approval_id)}">{hidden}{problem}'
        f"{_inputs_fieldset(record, values or {}, errors)}"
        '<p><label for="reason">Comment (optional)</label><br>'
        '<textarea id="reason" name="reason" rows="3" maxlength="1000"></textarea></p>'
        f'<button type="submit" name="decision" value="approve" id="approve"{approve_focus}>Approve</button>'
        f'<button type="submit" name="decision" value="reject" id="reject" formnovalidate{reject_focus}>'
        "Reject</button>"
        "</form>"
    )
    intro = (
        f"<p>You, {escape(approver)}, are asked to approve this build for prod. "
        "Nothing is decided until you press a button.</p>"
        f'<p class="warn">{escape(author_note(record, approver))}</p>'
    )
    return _page(f"Promote {record.repo} to prod?", intro + _facts(record) + form)


def decided_page(record: ApprovalRecord, *, final: bool = True) -> str:
    if not final:
        have, need = len(record.votes), record.rules.required_approvals
        title = f"Approval recorded ({have} of {need})"
        return _page(title, f"<p>Waiting for {need - have} more approval(s).</p>" + _facts(record))
    if record.status in ("approved", "rejected"):
        verb = record.status.capitalize()
        when = f" at {iso(record.decided_at)}" if record.decided_at else ""
        title = f"{verb} by {record.decided_by}"
        return _page(title, f"<p>{escape(title)}{escape(when)}.</p>" + _facts(record))
    return closed_page(record)


def closed_page(record: ApprovalRecord) -> str:
    """Expired or superseded: nothing can be decided any more."""
    title = {"expired": "Expired", "superseded": "Superseded"}.get(record.status, record.status.capitalize())
    return _page(title, f"<p>{escape(decided_message(record).capitalize())}.</p>" + _facts(record))


def message_page(title: str, message: str) -> str:
    return _page(title, f"<p>{escape(message)}</p>")
