"""Record real execution histories on the local plane for the unit tests of ``promote describe|watch``.

Each promotion runs the real ASL and handlers; its ``GetExecutionHistory`` events and ``DescribeExecution``
answer are written as JSON (timestamps as ISO 8601, one event a line) to
``tests/unit/cli/histories/{name}.json``; the checkout's own path in stack traces reads
``/srv/release-promotion``.

    .venv/bin/python -m tests.support.record_histories
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from promote_cli.local.plane import LocalControlPlane, PlaneOptions
from tests.support.fault_matrix import inject_state_fault
from tests.support.pipelines import SAMPLE_PIPELINE_FILE
from tests.support.promotion import (
    control,
    decide_via_link,
    history,
    new_sha,
    publish_and_start,
    wait_for_approval_links,
    wait_for_end,
)

HISTORIES = Path(__file__).resolve().parents[1] / "unit" / "cli" / "histories"
CHECKOUT = str(Path(__file__).resolve().parents[2])


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return value.replace(CHECKOUT, "/srv/release-promotion")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _write(plane: LocalControlPlane, name: str, execution_arn: str) -> None:
    described = plane.client("stepfunctions").describe_execution(executionArn=execution_arn)
    events = _plain(history(plane, execution_arn))
    HISTORIES.mkdir(parents=True, exist_ok=True)
    lines = ",\n".join(json.dumps(event) for event in events)
    text = f'{{"describe": {json.dumps(_plain(described))},\n"events": [\n{lines}\n]}}\n'
    (HISTORIES / f"{name}.json").write_text(text)
    print(f"{name}: {described['status']} {described.get('error', '')}, {len(events)} events")


def _pipeline(plane: LocalControlPlane, name: str, **sections: Any) -> str:
    document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
    document["name"] = name
    for section, changes in sections.items():
        document[section] = {**document.get(section, {}), **changes}
    return plane.put_pipeline(json.dumps(document), source=f"recorded history {name}")


def record(plane: LocalControlPlane) -> None:
    # Approved by email, deployed, baked, promoted.
    promotion = publish_and_start(plane)
    (link,) = wait_for_approval_links(plane, promotion)
    decide_via_link(link, "approve", "ship it")
    wait_for_end(plane, promotion.execution_arn, timeout=120)
    _write(plane, "approved", promotion.execution_arn)

    # Preprod's integration tests fail: preprod rolls back.
    promotion = publish_and_start(plane, variant="fails-preprod")
    wait_for_end(plane, promotion.execution_arn, timeout=120)
    _write(plane, "fails_preprod", promotion.execution_arn)

    # A transient Lambda error deploying preprod (retried), then the approver rejects.
    pipeline = _pipeline(plane, "recorded-retry")
    fault = inject_state_fault(plane, "Deploy to preprod", "transient", pipeline, times=2)
    promotion = publish_and_start(plane, pipeline=pipeline)
    (link,) = wait_for_approval_links(plane, promotion)
    decide_via_link(link, "reject", "not today")
    wait_for_end(plane, promotion.execution_arn, timeout=120)
    assert fault.hits == 2
    plane.runtime.clear_faults()
    _write(plane, "retried_then_rejected", promotion.execution_arn)

    # CI never publishes the build: the fetch retries until the pipeline's wait is over.
    pipeline = _pipeline(plane, "recorded-unpublished", artifacts={"wait_seconds": 2})
    started = control(plane).start(pipeline, new_sha(), requested_by="tests")
    wait_for_end(plane, started["execution_arn"], timeout=120)
    _write(plane, "never_published", started["execution_arn"])


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    plane = LocalControlPlane(PlaneOptions(time_scale=0.1))
    plane.start()
    try:
        record(plane)
    finally:
        plane.stop()


if __name__ == "__main__":
    main()
