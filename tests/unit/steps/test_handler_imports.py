"""What each handler imports at cold start: only the collaborators and libraries its own paths use; and the
garbage collector paused for that import, resumed by the first request.

Lambda bills the INIT phase (the handler module's import). Each handler is imported in a fresh interpreter
with the environment Lambda gives it, tracing on (``LAMBDA_TASK_ROOT`` set, ``POWERTOOLS_TRACE_DISABLED``
unset, as deployed), and its ``sys.modules`` is checked. No timing here: bench/promotion_bench.py measures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from typing import Any

import pytest

from tests.support.paths import REPO_ROOT
from tests.unit.steps.test_handlers import FUNCTIONS, settings_environment

# The functions that ask for, decide, verify or close approvals (the approval stack: records, audit, the
# decision key, Slack messages). Every other function must not import it.
APPROVAL_FUNCTIONS = {
    "ApprovalApiFunction",
    "OperatorApiFunction",
    "SlackDecisionFunction",
    "VerifyApprovalFunction",
    "ExpireApprovalFunction",
    "RequestApprovalFunction",
    "CleanupExecutionFunction",
}
# The functions that check Slack's signature or answer Slack on every request. Elsewhere slack_sdk is
# imported only when a Slack call is actually made.
SLACK_SDK_FUNCTIONS = {"SlackInteractivityFunction", "SlackDecisionFunction"}
# The functions that call HTTP APIs through requests (the service's checks, GitHub's API).
REQUESTS_FUNCTIONS = {
    "RunChecksFunction",
    "CheckAndLockFunction",
    "DecideApprovalPathFunction",
    "DeployEnvironmentFunction",
    "NotifyFunction",
    "GitHubWebhookFunction",
}
APPROVAL_STACK_MODULES = ("promotion.approvals.runtime", "promotion.approvals.collaborators")
# The GitHub wing's pieces, each imported at cold start only by the functions whose every request may use it.
GITHUB_PIECES = {
    # Signature checks and delivery records: the webhook alone.
    "promotion.github.webhook": {"GitHubWebhookFunction"},
    # The Dependabot proof: "Decide approval path" imports it as it builds its prover.
    "promotion.github.dependabot": set(),
    # Deployment statuses: the functions that post them (the operator's rollback loads them when it runs).
    "promotion.github.deployment_status": {"DeployEnvironmentFunction", "NotifyFunction"},
    # `promote github check`: loaded on the operator function's first check.
    "promotion.github.check": set(),
}
WATCHED = (*APPROVAL_STACK_MODULES, *GITHUB_PIECES, "slack_sdk", "requests", "aws_xray_sdk.core")

_PROBE = """
import gc, importlib.util, json, sys, types
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
imported = sorted(name for name in sys.argv[2:] if name in sys.modules)
collector_during_init = gc.isenabled()
context = types.SimpleNamespace(
    function_name="unit", memory_limit_in_mb=512, aws_request_id="unit-request",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:unit",
)
try:  # An empty event: the request itself fails, after the entry point has run.
    module.lambda_handler({}, context)
except Exception:
    pass
print(json.dumps({
    "imported": imported,
    "collector_during_init": collector_during_init,
    "collector_after_first_request": gc.isenabled(),
    "frozen_objects": gc.get_freeze_count(),
}))
"""


@cache
def cold_start(logical_id: str) -> dict[str, Any]:
    """The handler imported in a fresh interpreter as Lambda's INIT does, then sent one (empty) request."""
    properties = FUNCTIONS[logical_id]
    module_name = properties["Handler"].rpartition(".")[0]
    path = REPO_ROOT / properties["CodeUri"] / f"{module_name}.py"
    own_variables = {
        name: "https://unit.example.com/" if "URL" in name else f"unit-{name.lower()}"
        for name in (properties.get("Environment") or {}).get("Variables", {})
    }
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO_ROOT / "layers" / "shared"),
        **settings_environment(),
        **own_variables,
        # What Lambda sets: with these the Tracer is on and patches as deployed.
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": f"unit-{logical_id}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "release-promotion",
        "POWERTOOLS_METRICS_NAMESPACE": "ReleasePromotion",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
        # The empty request may reach for AWS: refused at once, never a real endpoint.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
    }
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), *WATCHED],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def imported_at_cold_start(logical_id: str) -> set[str]:
    return set(cold_start(logical_id)["imported"])


def test_the_expectations_name_functions_of_the_template() -> None:
    for expected in (APPROVAL_FUNCTIONS, SLACK_SDK_FUNCTIONS, REQUESTS_FUNCTIONS, *GITHUB_PIECES.values()):
        assert expected <= set(FUNCTIONS)


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_a_handler_imports_the_approval_stack_only_if_it_handles_approvals(logical_id: str) -> None:
    imported = imported_at_cold_start(logical_id)
    # Tracing is on, as deployed: the probe would prove nothing about a tracer that never loaded.
    assert "aws_xray_sdk.core" in imported
    uses_approvals = logical_id in APPROVAL_FUNCTIONS
    for module in APPROVAL_STACK_MODULES:
        assert (module in imported) == uses_approvals, (logical_id, module)


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_a_handler_imports_slack_sdk_only_if_it_talks_to_slack_on_every_request(logical_id: str) -> None:
    assert ("slack_sdk" in imported_at_cold_start(logical_id)) == (logical_id in SLACK_SDK_FUNCTIONS)


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_a_handler_imports_requests_only_if_it_calls_http_apis(logical_id: str) -> None:
    assert ("requests" in imported_at_cold_start(logical_id)) == (logical_id in REQUESTS_FUNCTIONS)


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_a_handler_imports_a_github_piece_only_if_its_requests_use_it(logical_id: str) -> None:
    imported = imported_at_cold_start(logical_id)
    wrong = {
        module: "imported" if module in imported else "missing"
        for module, users in GITHUB_PIECES.items()
        if (module in imported) != (logical_id in users)
    }
    assert wrong == {}, logical_id


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_the_collector_is_paused_for_init_and_resumed_by_the_first_request(logical_id: str) -> None:
    result = cold_start(logical_id)
    assert result["collector_during_init"] is False
    assert result["collector_after_first_request"] is True
    # What INIT made is frozen, out of every later full collection's walk.
    assert result["frozen_objects"] > 10_000
