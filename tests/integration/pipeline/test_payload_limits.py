"""Step Functions' 256 KiB payload quota on the real ASL and handlers (local plane, time scale 0.1)."""

from __future__ import annotations

from typing import Any

import pytest

from promote_cli.local.plane import LocalControlPlane
from promote_cli.local.sfn_limits import DATA_LIMIT_EXCEEDED, PAYLOAD_LIMIT_BYTES, payload_size
from tests.support.fault_matrix import deployed_definition, state_targets
from tests.support.promotion import history, publish_and_start, wait_for_end

STATE = "Load pipeline config"  # its Catch on States.ALL leads to Record failure


def test_a_task_result_over_256_kib_fails_the_promotion_past_its_states_all_catch(
    plane: LocalControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    function_name = state_targets(deployed_definition(plane))[STATE].function_name
    function = plane.runtime.control_functions()[function_name]
    real_handler = function.handler()
    results: list[dict[str, Any]] = []

    def oversized(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # The real handler's answer, grown past the quota.
        result = {**real_handler(event, context), "notes": "x" * PAYLOAD_LIMIT_BYTES}
        results.append(result)
        return result

    monkeypatch.setattr(function, "_handler", oversized)

    promotion = publish_and_start(plane)
    described = wait_for_end(plane, promotion.execution_arn)

    assert len(results) == 1  # the Lambda.* Retry does not match it either
    assert payload_size(results[0]) > PAYLOAD_LIMIT_BYTES
    assert described["status"] == "FAILED"
    assert described["error"] == DATA_LIMIT_EXCEEDED
    assert function_name in described["cause"]
    # Not caught: Record failure and the failure notice never ran.
    assert promotion.states() == [STATE]
    events = history(plane, promotion.execution_arn)
    assert [e["type"] for e in events[-2:]] == ["LambdaFunctionFailed", "ExecutionFailed"]
    assert events[-2]["lambdaFunctionFailedEventDetails"]["error"] == DATA_LIMIT_EXCEEDED
