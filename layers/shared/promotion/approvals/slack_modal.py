"""Slack's approval input modal: the Approve button of a pipeline with ``approval.inputs`` opens a Block Kit
modal (``views.open`` with the click's ``trigger_id``); its submission (``view_submission``) is validated
against the approval record's rules snapshot, and refused field by field (``response_action: errors``), or
handed to the decision worker as an approval with those inputs.

The modal's ``private_metadata`` carries the approval id and the click's ``response_url``: a submission has
no ``response_url`` of its own, and the worker answers the approver through that of the click that opened
the modal. Both come back inside Slack's signed request; the ``response_url`` is checked against the
allowed prefix again, as any click's is. The decision itself validates the inputs once more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from promotion.approvals.slack import (
    APPROVAL_ID,
    APPROVE_ACTION,
    SlackClick,
    SlackPayloadInvalid,
    approval_text,
    who,
)
from promotion.models.approval import ApprovalRecord
from promotion.models.approver_input import ApproverInputField, ApproverInputInvalid, validate_inputs

CALLBACK_ID = "approval_input"
ACTION_ID = "value"
BLOCK_PREFIX = "input_"
MAX_METADATA = 3000  # Slack's limit for private_metadata


class ModalOpener(Protocol):
    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None: ...


class RecordReader(Protocol):
    def get(self, approval_id: str) -> ApprovalRecord: ...


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit]}


def _element(field: ApproverInputField) -> dict[str, Any]:
    if field.type == "enum":
        return {
            "type": "static_select",
            "action_id": ACTION_ID,
            "placeholder": _plain("Choose", 150),
            "options": [{"text": _plain(choice, 75), "value": choice} for choice in field.choices or []],
        }
    if field.type == "boolean":
        return {
            "type": "checkboxes",
            "action_id": ACTION_ID,
            "options": [{"text": _plain(field.label, 75), "value": "true"}],
        }
    if field.type == "integer":
        element: dict[str, Any] = {
            "type": "number_input",
            "action_id": ACTION_ID,
            "is_decimal_allowed": False,
        }
        if field.minimum is not None:
            element["min_value"] = str(field.minimum)
        if field.maximum is not None:
            element["max_value"] = str(field.maximum)
        return element
    return {"type": "plain_text_input", "action_id": ACTION_ID, "max_length": field.max_length}


def _input_block(field: ApproverInputField) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": BLOCK_PREFIX + field.name,
        "label": _plain(field.label, 2000),
        "element": _element(field),
        "optional": not field.required,
    }
    if field.pattern:
        block["hint"] = _plain(f"Format: {field.pattern}", 2000)
    return block


def input_modal(record: ApprovalRecord, *, response_url: str) -> dict[str, Any]:
    """The modal that asks for the record's ``approval.inputs`` before approving."""
    metadata = json.dumps({"approval_id": record.approval_id, "response_url": response_url})
    if len(metadata) > MAX_METADATA:
        raise SlackPayloadInvalid("the response_url is too long for the modal's metadata")
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _plain("Approve for prod", 24),
        "submit": _plain("Approve", 24),
        "close": _plain("Cancel", 24),
        "private_metadata": metadata,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": approval_text(record)[:3000]}},
            *(_input_block(field) for field in record.rules.inputs),
        ],
    }


def _entered(action: Any) -> str | None:
    if not isinstance(action, dict):
        return None
    kind = action.get("type")
    if kind == "static_select":
        option = action.get("selected_option")
        return str(option.get("value")) if isinstance(option, dict) else None
    if kind == "checkboxes":
        return "true" if action.get("selected_options") else "false"
    value = action.get("value")
    return value if isinstance(value, str) else None


def parse_submission(payload: dict[str, Any], *, response_url_prefix: str) -> SlackClick:
    """A ``view_submission`` of the approval input modal (from a verified request), as the approval it asks
    for: its ``inputs`` are what the approver entered, as text ("true"/"false" for a checkbox)."""
    view = payload.get("view")
    if not isinstance(view, dict) or view.get("callback_id") != CALLBACK_ID:
        raise SlackPayloadInvalid("not the approval input modal")
    user_id, user_name, team_id = who(payload)
    try:
        metadata = json.loads(str(view.get("private_metadata") or ""))
    except ValueError:
        raise SlackPayloadInvalid("the modal's metadata is not JSON") from None
    if not isinstance(metadata, dict):
        raise SlackPayloadInvalid("the modal's metadata is not an object")
    approval_id, response_url = metadata.get("approval_id"), metadata.get("response_url")
    if not isinstance(approval_id, str) or not APPROVAL_ID.match(approval_id):
        raise SlackPayloadInvalid("the modal names no approval")
    if not isinstance(response_url, str) or not response_url.startswith(response_url_prefix):
        raise SlackPayloadInvalid("the modal carries no Slack response_url")
    values = (view.get("state") or {}).get("values") or {}
    if not isinstance(values, dict):
        raise SlackPayloadInvalid("the modal's state is not an object")
    inputs: dict[str, str] = {}
    for block_id, actions in values.items():
        if not isinstance(block_id, str) or not block_id.startswith(BLOCK_PREFIX):
            continue
        entered = _entered(actions.get(ACTION_ID) if isinstance(actions, dict) else None)
        if entered is not None:
            inputs[block_id.removeprefix(BLOCK_PREFIX)] = entered
    return SlackClick(
        approval_id=approval_id,
        decision=APPROVE_ACTION,
        user_id=user_id,
        user_name=user_name,
        team_id=team_id,
        response_url=response_url,
        inputs=inputs,
    )


def submission_errors(record: ApprovalRecord, inputs: dict[str, str]) -> dict[str, str]:
    """Slack's ``response_action: errors`` map (block id -> message); empty when the inputs are valid."""
    try:
        validate_inputs(record.rules.inputs, inputs)
    except ApproverInputInvalid as error:
        return {BLOCK_PREFIX + name: message[:150] for name, message in error.errors.items()}
    return {}


@dataclass(frozen=True)
class InputModals:
    """What the interactivity route needs for modals: the records (read only) and Slack's ``views.open``."""

    records: RecordReader
    slack: ModalOpener

    def open_for(self, approval_id: str, *, trigger_id: str, response_url: str) -> bool:
        """Open the input modal for a pending record that asks for input; False: decide the click as is."""
        record = self.records.get(approval_id)
        if record.status != "pending" or not record.rules.inputs:
            return False
        self.slack.open_view(trigger_id, input_modal(record, response_url=response_url))
        return True

    def errors_of(self, submission: SlackClick) -> dict[str, str]:
        return submission_errors(self.records.get(submission.approval_id), submission.inputs)
