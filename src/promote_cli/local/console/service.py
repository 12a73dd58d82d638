"""The console's data: the executions of the promotion state machine, and one execution as its graph with
each state's status, the path taken, the event history, the waiting approval, bake and traffic progress.

Everything comes from Step Functions (the execution, its history, its state machine's definition) and the
approvals table through ``promotion.dal``; the console keeps nothing of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from promote_cli.local.console.graph import state_graph
from promote_cli.local.console.history import ExecutionTrace, redact, trace
from promotion.console import execution_console_url
from promotion.dal.approvals import ApprovalStore
from promotion.naming import parse_execution_name

# How often a page asks again while the execution runs.
REFRESH_SECONDS = 2
# The list shows the newest executions only.
LIST_LIMIT = 50
# An event detail longer than this is cut in the history panel (each state's input and output is whole in
# its visits; the events that carry them show only the state's name).
EVENT_DETAIL_CHARS = 2048
# The state data fields holding a check report ("Run integration tests", "Canary check").
CHECK_SUITES = ("integration", "canary")
_STATE_DATA_DETAILS = ("stateEnteredEventDetails", "stateExitedEventDetails")


class ExecutionConsole:
    def __init__(
        self, *, sfn: Any, state_machine_arn: str, approvals: ApprovalStore, console_base: str
    ) -> None:
        self._sfn = sfn
        self._state_machine_arn = state_machine_arn
        self._approvals = approvals
        self._console_base = console_base

    # ---- the list --------------------------------------------------------------------------------
    def executions(self) -> dict[str, Any]:
        listed: list[dict[str, Any]] = []
        for page in self._sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self._state_machine_arn
        ):
            listed.extend(page["executions"])
        listed.sort(key=lambda item: item["startDate"], reverse=True)
        rows = [self._row(item) for item in listed[:LIST_LIMIT]]
        return {
            "executions": rows,
            "refresh_seconds": REFRESH_SECONDS,
            "done": all(row["status"] != "RUNNING" for row in rows),
        }

    def _row(self, item: dict[str, Any]) -> dict[str, Any]:
        arn = str(item["executionArn"])
        described = self._sfn.describe_execution(executionArn=arn)
        history = trace(list(self._history(arn)), status=str(described["status"]))
        current = history.visits[-1].state if history.visits else None
        return {
            **self._summary(described),
            "current_state": current,
            "current_status": history.visits[-1].status if history.visits else None,
        }

    # ---- one execution ---------------------------------------------------------------------------
    def summary(self, execution_arn: str) -> dict[str, Any] | None:
        """The execution's name, status, pipeline, commit and times; None when there is no such execution."""
        described = self._describe(execution_arn)
        return None if described is None else self._summary(described)

    def execution(self, execution_arn: str) -> dict[str, Any] | None:
        """None when there is no such execution (of this plane's state machine)."""
        described = self._describe(execution_arn)
        if described is None:
            return None
        definition = self._sfn.describe_state_machine(stateMachineArn=described["stateMachineArn"])[
            "definition"
        ]
        events = list(self._history(execution_arn))
        history = trace(events, status=str(described["status"]))
        failure = history.failure
        if failure is None and described.get("error"):
            failure_json: dict[str, str] | None = {
                "error": str(described.get("error", "")),
                "cause": str(described.get("cause", "")),
            }
        else:
            failure_json = failure.to_json() if failure else None
        return {
            "execution": self._summary(described),
            "graph": state_graph(definition).to_json(),
            "states": history.state_status(),
            "path": [list(step) for step in history.path],
            "caught_path": [list(step) for step in history.caught_path],
            "visits": [visit.to_json() for visit in history.visits],
            "events": [_event_row(event) for event in events],
            "failure": failure_json,
            "approval": self._approval(execution_arn),
            "bake": _dict_or_none(history.latest_output_field("bake")),
            # Prod's deployment window as last checked: why it waits, when it goes (docs/release-policy.md).
            "window": _dict_or_none(history.latest_output_field("window")),
            "traffic": _traffic(history),
            # The check reports that passed (a failed one is the failure's cause), the service's own cases
            # and its pre-traffic hook's included, and the canary analysis's verdict with its numbers.
            "checks": [
                report
                for report in (_dict_or_none(history.latest_output_field(suite)) for suite in CHECK_SUITES)
                if report is not None
            ],
            "analysis": _analysis(history),
            "refresh_seconds": REFRESH_SECONDS,
            "done": described["status"] != "RUNNING",
        }

    def _describe(self, execution_arn: str) -> dict[str, Any] | None:
        try:
            described: dict[str, Any] = self._sfn.describe_execution(executionArn=execution_arn)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
                return None
            raise
        return described if described["stateMachineArn"] == self._state_machine_arn else None

    def _approval(self, execution_arn: str) -> dict[str, Any] | None:
        """The newest approval the execution asked for: who is asked, until when, and what they did."""
        records = self._approvals.for_execution(execution_arn)
        if not records:
            return None
        record = max(records, key=lambda r: r.requested_at)
        return {
            "approval_id": record.approval_id,
            "status": record.status,
            "approvers": list(record.approvers),
            "required_approvals": record.rules.required_approvals,
            "approved_by": record.approved_by(),
            "requested_at": _epoch_iso(record.requested_at),
            "expires_at": _epoch_iso(record.expires_at),
            "decided_by": record.decided_by,
            "decided_at": _epoch_iso(record.decided_at),
            "reason": record.reason,
            "approval_reason": record.approval_reason,
            # What each approver filled in (the pipeline's ``approval.inputs``), as validated at their vote.
            "inputs": record.inputs_by_approver(),
        }

    def _summary(self, described: dict[str, Any]) -> dict[str, Any]:
        arn = str(described["executionArn"])
        started: datetime = described["startDate"]
        stopped: datetime | None = described.get("stopDate")
        try:
            document = json.loads(described.get("input") or "{}")
        except ValueError:
            document = {}
        parsed = parse_execution_name(str(described["name"]))
        document = document if isinstance(document, dict) else {}
        end = stopped or datetime.now(tz=started.tzinfo)
        return {
            "arn": arn,
            "name": str(described["name"]),
            "status": str(described["status"]),
            "pipeline": str(document.get("pipeline") or (parsed.pipeline if parsed else "")),
            "sha": str(document.get("sha") or (parsed.short_sha if parsed else "")),
            "started": started.isoformat(),
            "stopped": stopped.isoformat() if stopped else None,
            "duration_seconds": round((end - started).total_seconds(), 1),
            "console_url": execution_console_url(arn, self._console_base),
            "input": json.dumps(redact(document)),
            "output": described.get("output"),
        }

    def _history(self, execution_arn: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._sfn.get_execution_history(
                executionArn=execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
            )
            yield from page["events"]
            token = page.get("nextToken")
            if not token:
                return


def _event_row(event: dict[str, Any]) -> dict[str, Any]:
    details = {
        key: redact(value)
        for key, value in event.items()
        if key.endswith("EventDetails") and value and key not in _STATE_DATA_DETAILS
    }
    text = json.dumps(details, default=str)
    if len(text) > EVENT_DETAIL_CHARS:
        text = text[:EVENT_DETAIL_CHARS] + f" ... ({len(text) - EVENT_DETAIL_CHARS} more characters)"
    timestamp = event.get("timestamp")
    return {
        "id": int(event["id"]),
        "type": str(event["type"]),
        "timestamp": timestamp.isoformat() if isinstance(timestamp, datetime) else str(timestamp or ""),
        "state": str(
            (event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}).get(
                "name", ""
            )
        ),
        "detail": text if details else "",
    }


def _traffic(history: ExecutionTrace) -> dict[str, Any] | None:
    traffic = _dict_or_none(history.latest_output_field("traffic"))
    if traffic is None or not isinstance(traffic.get("weight"), int | float):
        return traffic
    return {**traffic, "percent": round(float(traffic["weight"]) * 100, 1)}


def _analysis(history: ExecutionTrace) -> dict[str, Any] | None:
    """The newest canary analysis: the bake's last check, else the traffic steps' (``$.rollout_alarms``)."""
    for field in ("bake", "rollout_alarms"):
        progress = _dict_or_none(history.latest_output_field(field))
        analysis = _dict_or_none((progress or {}).get("analysis"))
        if analysis is not None:
            return analysis
    return None


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


def _epoch_iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()
