"""The promotion state machine end to end on the local plane: real ASL, real handlers, moto's AWS."""

from __future__ import annotations

from promotion.pipeline.artifacts import lambda_code_sha256
from tests.support.log_lines import captured_log_lines
from tests.support.promotion import (
    decide_via_link,
    outbox,
    publish_and_start,
    wait_for_approval_links,
    wait_for_end,
    wait_for_state,
)

HAPPY_PATH = [
    "Load pipeline config",
    "Fetch artifact",
    # The sample pipeline has no deployment windows: nothing invokes the window check.
    "Deployment windows for preprod?",
    "Check and lock preprod",
    "Deploy to preprod",
    "Run integration tests",
    "Release preprod lock",
    "Going to prod?",
    "Decide approval path",
    "Approval needed?",
    "Wait for approval",
    "Verify approval",
    "Deployment windows for prod?",
    "Check and lock prod",
    "Deploy to prod",
    "Run canary checks",
    "Shift traffic",
    "All traffic shifted?",
    "Start bake",
    "Check prod alarms",
    "Bake complete?",
]


def test_approved_promotion_puts_the_pinned_build_in_both_environments(plane) -> None:
    # Given a good build and a started promotion waiting for approval
    calls_before = len(plane.runtime.invocations)
    with captured_log_lines() as log_lines:
        promotion = publish_and_start(plane, variant="good")
        wait_for_state(plane, promotion.execution_arn, "Wait for approval")
        links = wait_for_approval_links(plane, promotion)
        assert len(links) == 1

        # When the approver opens the link and presses Approve
        answer = decide_via_link(links[0], "approve", "ship it")

        # Then the promotion succeeds through the bake
        assert answer.status_code == 200
        assert "Approved by release-manager@example.com" in answer.text
        described = wait_for_end(plane, promotion.execution_arn)
    assert described["status"] == "SUCCEEDED"
    states = promotion.states()
    assert states[: len(HAPPY_PATH)] == HAPPY_PATH
    assert states[-4:] == ["Record success", "Notify success", "Promoted or deployed?", "Promoted"]
    assert "Approval bypassed" not in states
    # no window check was invoked, in either environment (the pipeline has no deployment windows)
    invoked = {name for name, _ in plane.runtime.invocations[calls_before:]}
    assert invoked
    assert not {name for name in invoked if "CheckWindow" in name}
    # the bake polled the alarms more than once (4 s bake, 2 s polls)
    assert states.count("Check prod alarms") == 3

    # And both environments serve exactly the published bytes on a new version
    expected = lambda_code_sha256(promotion.build.sha256)
    after = promotion.after()
    for environment in ("preprod", "prod"):
        for key, serving in after[environment].items():
            assert serving["code_sha256"] == expected
            assert int(serving["version"]) > int(promotion.before[environment][key]["version"])
    assert set(after["prod"]) == {"api", "tests", "worker"}  # several functions moved together

    # And the service's own pre-traffic hook and test Lambda passed in both environments, in the reports
    output = promotion.output()
    for suite, environment in (("integration", "preprod"), ("canary", "prod")):
        results = output[suite]["results"]
        assert {r["source"] for r in results} == {"pre_traffic_hook", "http", "test_function"}, suite
        # the hook's cases first: it ran before anything called the new versions
        assert results[0]["name"] == "pre-traffic tests/build-under-test", results
        own = {r["name"]: r for r in results if r["source"] == "test_function"}
        assert set(own) == {
            "tests/health",
            "tests/blank-text-refused",
            "tests/score-idempotent",
            "tests/concurrent-requests",
            "tests/latency-under-bound",
        }, environment
        assert all(r["passed"] for r in results), results

    # And the output names the approver, and the team was told
    assert output["approval"]["approved_by"] == "release-manager@example.com"
    assert output["approval"]["channel"] == "email"
    assert output["approval_path"]["decision"] == "approval_required"
    notices = [
        m
        for m in outbox(plane)
        if m["recipient"] == "team@example.com" and promotion.sha[:12] in m["subject"]
    ]
    assert [m["subject"].split(" ")[0] for m in notices] == ["Promoted"]

    # And every log line its steps wrote names it, its commit and its repository
    name = promotion.execution_arn.rsplit(":", 1)[1]
    own = [line for line in log_lines if line.get("correlation_id") == name]
    assert {line["message"] for line in own} >= {"traffic shifted"}
    for line in own:
        assert line["pipeline"] == promotion.config.name, line
        assert promotion.sha.startswith(line["commit"]), line
        assert line["repository"] == promotion.config.repo, line
    # (lines of other executions still finishing in this plane are theirs, and named too)
    assert all("correlation_id" in line for line in log_lines), log_lines
