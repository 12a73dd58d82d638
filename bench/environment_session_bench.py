"""What acting as an environment's deployer role costs a step, on moto (no network):

    .venv/bin/python bench/environment_session_bench.py [--rounds N]

Prints the median wall time of: a step's first call for an execution (AssumeRole + a Lambda and a
CloudWatch client, as a step uses them), a later call of the same execution (cached), and, for
comparison, the same two clients with the function's own credentials.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _median_ms(action: Callable[[int], object], rounds: int) -> float:
    timings = []
    for round_number in range(rounds):
        started = time.perf_counter()
        action(round_number)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(key, value)

    sys.path[:0] = [str(ROOT)]
    from moto import mock_aws

    from promotion.adapters import aws
    from promotion.adapters.environment_session import EnvironmentSessions
    from promotion.models.config import parse_pipeline_config
    from tests.support.pipelines import sample_config_dict

    with mock_aws():
        target = parse_pipeline_config(sample_config_dict(), source="bench").environments.prod
        sessions = EnvironmentSessions(aws.client("sts"), aws.client_as, require_role=True)
        own = target.model_copy(update={"role_arn": None})
        own_sessions = EnvironmentSessions(aws.client("sts"), aws.client_as, require_role=False)

        def both(made: Any) -> object:
            return (made.lambda_client, made.cloudwatch)

        first = _median_ms(
            lambda n: both(
                sessions.clients("sentiment-service", "prod", target, execution_name=f"bench-{n}")
            ),
            args.rounds,
        )
        cached = _median_ms(
            lambda n: both(sessions.clients("sentiment-service", "prod", target, execution_name="bench-0")),
            args.rounds,
        )
        own_role = _median_ms(
            lambda n: both(own_sessions.clients("sentiment-service", "prod", own, execution_name=f"own-{n}")),
            args.rounds,
        )
    print(f"first call of an execution (AssumeRole + 2 clients): {first:.1f} ms median of {args.rounds}")
    print(f"later call of the same execution (cached):           {cached:.3f} ms median of {args.rounds}")
    print(f"2 clients with the function's own credentials:      {own_role:.1f} ms median of {args.rounds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
