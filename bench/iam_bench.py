"""Benchmark: what the local plane's IAM enforcement costs per AWS request.

    .venv/bin/python bench/iam_bench.py [--requests N]

Starts one local plane (enforcement on), then times N calls of a few operations the handlers make, signed
once as the administrator (not checked) and once as a control-plane function's role (checked), and prints
the median per call of each and their difference. Numbers from one run on one machine: compare the two
columns, not absolutes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from promote_cli.local.plane import LocalControlPlane, PlaneOptions

STACK = "release-promotion"


def median_ms(call: Callable[[], Any], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    runs = parser.parse_args().requests
    plane = LocalControlPlane(PlaneOptions(with_sample_service=True))
    plane.start()
    try:
        assert plane.iam is not None
        assert plane.stack is not None
        prefix = plane.stack.pipeline_config_prefix
        calls: dict[str, tuple[str, Callable[[], Any]]] = {
            "dynamodb GetItem": (
                "CheckAndLockFunction",
                lambda: plane.client("dynamodb").get_item(
                    TableName=f"{STACK}-environments",
                    Key={"pipeline": {"S": "p"}, "environment": {"S": "prod"}},
                ),
            ),
            "lambda GetAlias": (
                "RollbackFunction",
                lambda: plane.client("lambda").get_alias(FunctionName="svc-sentiment-prod-api", Name="live"),
            ),
            "ssm GetParameter": (
                "LoadPipelineFunction",
                lambda: plane.client("ssm").get_parameter(Name=f"{prefix}sentiment-service"),
            ),
        }
        print(f"{'operation':<20} {'admin ms':>9} {'role ms':>9} {'overhead ms':>12}")
        for name, (function, call) in calls.items():
            admin = median_ms(call, runs)
            with plane.iam.identity(f"{STACK}-{function}"):
                role = median_ms(call, runs)
            print(f"{name:<20} {admin:>9.2f} {role:>9.2f} {role - admin:>12.2f}")
    finally:
        plane.stop()


if __name__ == "__main__":
    main()
