"""Benchmark: how far the largest realistic promotion stays inside Step Functions' quotas.

    .venv/bin/python bench/sfn_limits_bench.py [--functions N] [--time-scale S]

A full promotion on a fresh local plane (real ASL, real handlers, moto's AWS) of a service with N
functions per environment (default 20, each with two alarms and a canary health check), a linear rollout
(10% more every 60 s), a one-hour bake polled every 30 s, and a transient Lambda service error in three
states (each retried once). Every Wait, Retry interval and task timeout runs at the time scale (default
0.01: the hour of bake takes 36 s); the ASL, the handlers and the recorded events are unchanged.

Prints the largest payload the execution carried (compact JSON in UTF-8, as Step Functions counts it)
and where, against 256 KiB; the number of history events against 25,000; and, from the same run, the
events one bake poll and one traffic step add, so the headroom reads in polls.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = "bench-limits"
RETRIED_STATES = ("Deploy to prod", "Shift traffic", "Check prod alarms")

# Where a history event carries a payload: (details key, field).
PAYLOAD_FIELDS = (
    ("executionStartedEventDetails", "input"),
    ("executionSucceededEventDetails", "output"),
    ("stateEnteredEventDetails", "input"),
    ("stateExitedEventDetails", "output"),
    ("lambdaFunctionScheduledEventDetails", "input"),
    ("lambdaFunctionSucceededEventDetails", "output"),
    ("taskScheduledEventDetails", "parameters"),
    ("taskSucceededEventDetails", "output"),
)


def pipeline_document(plane: Any, functions: int) -> str:
    """The sample pipeline with ``functions`` functions per environment, created here as the sample's
    worker (same role, handler and bootstrap build), two alarms each, and a canary health check each."""
    from promote_cli.local import sample
    from tests.support.pipelines import SAMPLE_PIPELINE_FILE

    package = sample.build_package("good", sample.BOOTSTRAP_SHA)
    document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
    document["name"] = PIPELINE
    for env, settings in document["environments"].items():
        # In the environment's own account, under the service's name prefix: where its deployer role acts.
        lam = plane.environment_client(env, "lambda")
        cloudwatch = plane.environment_client(env, "cloudwatch")
        template = lam.get_function_configuration(FunctionName=settings["functions"]["worker"])
        for index in range(len(settings["functions"]), functions):
            key = f"fn{index:02d}"
            name = f"svc-sentiment-{env}-bench-{key}"
            lam.create_function(
                FunctionName=name,
                Runtime=template["Runtime"],
                Role=template["Role"],
                Handler=template["Handler"],
                Code={"ZipFile": package},
                Timeout=template["Timeout"],
                Environment={"Variables": template.get("Environment", {}).get("Variables", {})},
            )
            version = lam.publish_version(FunctionName=name)["Version"]
            lam.create_alias(FunctionName=name, Name=settings["alias"], FunctionVersion=version)
            settings["functions"][key] = name
            for suffix in ("errors", "p99"):
                alarm = f"{name}-{suffix}"
                cloudwatch.put_metric_alarm(
                    AlarmName=alarm,
                    Namespace="AWS/Lambda",
                    MetricName="Errors" if suffix == "errors" else "Duration",
                    Dimensions=[{"Name": "FunctionName", "Value": name}],
                    Statistic="Sum",
                    Period=60,
                    EvaluationPeriods=1,
                    Threshold=1,
                    ComparisonOperator="GreaterThanOrEqualToThreshold",
                )
                cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="bench")
                settings["alarms"].append(alarm)
    checks = [c for c in document["canary_checks"] if "function" not in c]
    health = next(c for c in document["canary_checks"] if c.get("function") == "worker")
    prod = document["environments"]["prod"]
    # Every function serving traffic gets its health check; the service's own test Lambda answers tests.
    named_tests = [value for value in prod.get("service_tests", {}).values() if isinstance(value, str)]
    not_serving = {prod["http_entry"], *named_tests}
    for key in prod["functions"]:
        if key not in not_serving:
            checks.append({**health, "name": f"{key}-health", "function": key})
    document["canary_checks"] = checks
    document["rollout"] = {"strategy": "linear", "step_percent": 10, "interval_seconds": 60}
    document["bake"] = {"duration_seconds": 3_600, "poll_interval_seconds": 30}
    # The approval timeout is scaled too: long enough for this script to approve.
    document["approval"]["timeout_seconds"] = 86_400
    return json.dumps(document)


def largest_payload(events: list[dict[str, Any]]) -> tuple[int, str]:
    from promote_cli.local.sfn_limits import payload_size

    largest, where, state = 0, "", ""
    for event in events:
        entered = event.get("stateEnteredEventDetails")
        if entered:
            state = entered["name"]
        for key, field in PAYLOAD_FIELDS:
            text = (event.get(key) or {}).get(field)
            if text is None:
                continue
            size = payload_size(json.loads(text))
            if size > largest:
                largest, where = size, f"{event['type']}.{field} of {state or 'the execution'}"
    return largest, where


def events_per_visit(events: list[dict[str, Any]], first: str, last: str) -> float:
    """Events recorded from entering ``first`` to leaving ``last``, per time through, on average."""
    counts: list[int] = []
    start: int | None = None
    for index, event in enumerate(events):
        details = event.get("stateEnteredEventDetails") or {}
        if details.get("name") == first:
            start = index
        exited = event.get("stateExitedEventDetails") or {}
        if start is not None and exited.get("name") == last:
            counts.append(index - start + 1)
            start = None
    return sum(counts) / len(counts) if counts else 0.0


def main(argv: list[str] | None = None) -> int:
    sys.path[:0] = [str(ROOT)]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--functions", type=int, default=20, help="functions per environment (2 to 50)")
    parser.add_argument("--time-scale", type=float, default=0.01, help="in (0, 1]")
    args = parser.parse_args(argv)
    if not 2 <= args.functions <= 50 or not 0 < args.time_scale <= 1:
        print("sfn_limits_bench: --functions must be 2..50 and --time-scale in (0, 1]", file=sys.stderr)
        return 2

    import logging

    from promote_cli.local.plane import LocalControlPlane, PlaneOptions
    from promote_cli.local.sfn_limits import HISTORY_LIMIT_EVENTS, PAYLOAD_LIMIT_BYTES
    from tests.support.fault_matrix import inject_state_fault
    from tests.support.promotion import (
        decide_via_link,
        history,
        publish_and_start,
        wait_for_approval_links,
        wait_for_end,
    )

    plane = LocalControlPlane(PlaneOptions(time_scale=args.time_scale))
    plane.start()
    logging.disable(logging.CRITICAL)  # the handlers' JSON logs would bury the numbers
    started = time.perf_counter()
    try:
        plane.put_pipeline(pipeline_document(plane, args.functions), source="sfn limits bench")
        faults = [
            inject_state_fault(plane, state, "transient", PIPELINE, times=1) for state in RETRIED_STATES
        ]
        promotion = publish_and_start(plane, pipeline=PIPELINE)
        for link in wait_for_approval_links(plane, promotion, timeout=300):
            decide_via_link(link, "approve", "bench")
        described = wait_for_end(plane, promotion.execution_arn, timeout=1_800)
        events = history(plane, promotion.execution_arn)
    finally:
        plane.stop()
    seconds = time.perf_counter() - started

    if described["status"] != "SUCCEEDED":
        print(
            f"sfn_limits_bench: the promotion ended {described['status']}: {described.get('error')}: "
            f"{str(described.get('cause'))[-600:]}"
        )
        return 1
    retries = sum(fault.hits for fault in faults)
    visits = Counter(
        e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")
    )
    size, where = largest_payload(events)
    per_poll = events_per_visit(events, "Check prod alarms", "Bake")
    per_step = events_per_visit(events, "Hold traffic step", "All traffic shifted?")
    headroom = HISTORY_LIMIT_EVENTS - len(events)

    print(
        f"measured: one full promotion on the local plane at time scale {args.time_scale} "
        f"({seconds:.0f} s wall); events and payloads as the interpreter recorded them, nothing extrapolated"
    )
    print(
        f"service: {args.functions} functions per environment, "
        f"{len(json.loads(described['output'])['bake']['alarms'])} alarms in the bake; "
        f"linear 10%/60 s: {visits['Shift traffic']} traffic steps; "
        f"bake 3600 s / 30 s: {visits['Check prod alarms']} alarm polls; {retries} retried attempts"
    )
    print(
        f"largest payload: {size} bytes = {100 * size / PAYLOAD_LIMIT_BYTES:.1f}% of {PAYLOAD_LIMIT_BYTES} "
        f"({where})"
    )
    print(
        f"history: {len(events)} events = {100 * len(events) / HISTORY_LIMIT_EVENTS:.1f}% of "
        f"{HISTORY_LIMIT_EVENTS}"
    )
    print(
        f"per bake poll: {per_poll:.0f} events; per traffic step: {per_step:.0f} events; "
        f"headroom: {headroom} events, about {int(headroom // per_poll) if per_poll else 0} more bake polls"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
