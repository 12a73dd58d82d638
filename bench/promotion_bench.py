"""Benchmark: a happy-path and a rollback-path promotion on the local plane, and handler cold imports.

    .venv/bin/python bench/promotion_bench.py [--runs N]

Prints, per path: wall time, state transitions counted from the execution history (states entered plus
retry attempts, as Step Functions bills them), and their cost at $0.025 per 1,000 transitions. Then each
handler module's cold import time (a fresh interpreter per run, median of N) next to ``import boto3`` alone.
Numbers from one run on one machine: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _support import PRICE_PER_TRANSITION, ROOT, RemotePlane, transitions


def run_promotions() -> list[tuple[str, float, int, str]]:
    import tempfile

    sys.path[:0] = [str(ROOT)]
    from promote_cli.local.demo import LocalPlaneProcess
    from tests.support.promotion import (
        decide_via_link,
        history,
        publish_and_start,
        wait_for_approval_links,
        wait_for_end,
    )

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    state = tempfile.mkdtemp(prefix="promote-bench-")
    process = LocalPlaneProcess(Path(state))
    plane: Any = RemotePlane(process.wait_ready())
    rows = []
    try:
        for label, variant in (
            ("happy path (approved, 4 s bake)", "good"),
            ("rollback path (canary fails)", "fails-in-prod"),
        ):
            started = time.perf_counter()
            promotion = publish_and_start(plane, variant=variant)
            links = wait_for_approval_links(plane, promotion)
            decide_via_link(links[0], "approve")
            status = wait_for_end(plane, promotion.execution_arn, timeout=120)["status"]
            elapsed = time.perf_counter() - started
            rows.append((label, elapsed, transitions(history(plane, promotion.execution_arn)), status))
    finally:
        process.stop()
    return rows


def cold_import(module_file: Path | None, runs: int) -> float:
    env = {
        **os.environ,
        "STACK_NAME": "bench",
        "PIPELINE_CONFIG_PREFIX": "/bench/pipelines/",
        "APPROVALS_TABLE": "bench-approvals",
        "APPROVAL_SIGNING_SECRET_ID": "bench",
        "EMAIL_SENDER": "bench@example.com",
        "NOTIFICATIONS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench",
        "IDEMPOTENCY_TABLE": "bench-idempotency",
        "ENVIRONMENTS_TABLE": "bench-environments",
        "AUDIT_TABLE": "bench-audit",
        "DELIVERIES_TABLE": "bench-deliveries",
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:bench-promotion",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "PYTHONPATH": str(ROOT / "layers" / "shared"),
    }
    if module_file is None:
        code = "import time; t = time.perf_counter(); import boto3; print(time.perf_counter() - t)"
    else:
        code = (
            "import importlib.util, time; t = time.perf_counter(); "
            f"spec = importlib.util.spec_from_file_location('handler', {str(module_file)!r}); "
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
            "print(time.perf_counter() - t)"
        )
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            return float("nan")
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="cold-import runs per module (median)")
    args = parser.parse_args()

    print("promotion paths on the local plane (time scale 1.0)")
    print(f"{'path':40} {'status':10} {'wall s':>8} {'transitions':>12} {'cost $':>10}")
    for label, elapsed, count, status in run_promotions():
        print(f"{label:40} {status:10} {elapsed:8.2f} {count:12d} {count * PRICE_PER_TRANSITION:10.6f}")

    print()
    print(f"cold import, median of {args.runs} fresh interpreters (tracing on, as in Lambda)")
    baseline = cold_import(None, args.runs)
    print(f"{'import boto3 alone':40} {baseline * 1000:8.0f} ms   1.00x")
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        seconds = cold_import(app, args.runs)
        print(f"{app.parent.name:40} {seconds * 1000:8.0f} ms {seconds / baseline:6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
