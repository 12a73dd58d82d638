"""EventBridge on the local plane: Step Functions status-change events delivered to the template's rules.

moto emits no EventBridge events for executions. This watcher polls the control plane's executions and,
for every status change, builds the event AWS would send ("Step Functions Execution Status Change") and
invokes the targets of each rule whose pattern matches, as EventBridge would.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class EventRule:
    name: str
    pattern: dict[str, Any]
    target_functions: list[str]


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge matching for the subset our templates use: exact values in lists, nested objects."""
    for key, expected in pattern.items():
        if key not in event:
            return False
        value = event[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not all(isinstance(item, str | int | float | bool) for item in expected):
                raise ValueError(f"unsupported EventBridge pattern for {key!r}: {expected}")
            if value not in expected:
                return False
        else:
            raise ValueError(f"EventBridge pattern values must be lists: {key!r}")
    return True


def _millis(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return None


def status_change_event(execution: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [execution["executionArn"]],
        "detail": {
            "executionArn": execution["executionArn"],
            "stateMachineArn": execution["stateMachineArn"],
            "name": execution["name"],
            "status": execution["status"],
            "startDate": _millis(execution.get("startDate")),
            "stopDate": _millis(execution.get("stopDate")),
            "input": execution.get("input"),
            "inputDetails": {"included": True},
            "output": execution.get("output"),
            "outputDetails": {"included": execution.get("output") is not None},
            "error": execution.get("error"),
            "cause": execution.get("cause"),
        },
    }


class ExecutionStatusWatcher:
    def __init__(
        self,
        *,
        sfn: Any,
        state_machine_arns: list[str],
        rules: list[EventRule],
        invoke: Callable[[str, bytes], Any],
        account: str,
        region: str,
        interval: float = 0.3,
    ) -> None:
        self._sfn = sfn
        self._arns = state_machine_arns
        self._rules = rules
        self._invoke = invoke
        self._account = account
        self._region = region
        self._interval = interval
        self._known: dict[str, str] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-eventbridge", daemon=True)
        self.delivered: list[dict[str, Any]] = []

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and wait for a poll in flight, so none outlives the moto backend it reads."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wake(self) -> None:
        """Poll now: an execution started or ended (the interval is the fallback)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.poll()
            except Exception as error:  # keep watching; a broken poll must not end the local plane
                if self._stop.is_set():
                    return  # the plane is going away underneath the poll: not a fault worth reporting
                print(f"local eventbridge: {type(error).__name__}: {error}", file=sys.stderr)

    def poll(self) -> None:
        for arn in self._arns:
            for page in self._sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
                for summary in page["executions"]:
                    execution_arn, status = summary["executionArn"], summary["status"]
                    if self._known.get(execution_arn) == status:
                        continue
                    self._known[execution_arn] = status
                    described = self._sfn.describe_execution(executionArn=execution_arn)
                    self._deliver(status_change_event(described, self._account, self._region))

    def _deliver(self, event: dict[str, Any]) -> None:
        for rule in self._rules:
            if matches(rule.pattern, event):
                for function in rule.target_functions:
                    self._invoke(function, json.dumps(event, default=str).encode())
                    self.delivered.append(
                        {"rule": rule.name, "function": function, "event": event, "at": time.time()}
                    )
