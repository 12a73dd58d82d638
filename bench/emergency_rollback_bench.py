"""Benchmark: how long an emergency rollback takes, from the operator's command until prod's aliases
point at the previous known-good versions, on the local plane.

    .venv/bin/python bench/emergency_rollback_bench.py [--rounds N]

A local plane runs in this process (its handlers' logs go to a file, named at the end), with a zero-second
bake. Each round promotes a new build to prod (approved through the emailed link), then rolls prod back
two ways, each timed until every alias of prod reads the previous build's version:

- route: one SigV4-signed ``POST /operator/pipelines/{pipeline}/rollback`` (what the CLI sends), as the
  local operator; the AWS requests made meanwhile (every botocore call in this process: the operator
  handler's, through moto) are counted by service and operation;
- cli: ``promote --local rollback prod`` in a new process, its interpreter start included.

Between the two, the round promotes one more build, so each rollback has a build to go back from. For
comparison it prints the same round's full promotion (what ``promote redeploy`` reruns: preprod, checks,
approval, prod, canary; here approved the moment the link lands and with no bake, so a floor) wall
time. Numbers from one machine at one time: compare them with each other, not across machines.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.01
PIPELINE = "sentiment-service"


class CallCounter:
    """Counts every botocore API call made in this process while armed."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.armed = False

    def install(self) -> None:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        counter = self

        def counted(client: Any, operation: str, params: Any) -> Any:
            if counter.armed:
                counter.calls[f"{client.meta.service_model.service_name}:{operation}"] += 1
            return original(client, operation, params)

        BaseClient._make_api_call = counted  # type: ignore[method-assign]


def promote_to_prod(plane: Any) -> tuple[Any, float]:
    from tests.support.promotion import (
        decide_via_link,
        declare_ahead_of_prod,
        publish_and_start,
        wait_for_approval_links,
        wait_for_end,
    )

    started = time.perf_counter()
    promotion = publish_and_start(plane, pipeline=PIPELINE)
    declare_ahead_of_prod(plane, promotion.config, promotion.sha)
    (link, *_) = wait_for_approval_links(plane, promotion)
    if decide_via_link(link, "approve", "bench").status_code != 200:
        raise RuntimeError("approval refused")
    status = wait_for_end(plane, promotion.execution_arn, timeout=120)["status"]
    if status != "SUCCEEDED":
        raise RuntimeError(f"promotion of {promotion.sha[:12]} ended {status}")
    return promotion, time.perf_counter() - started


def prod_versions(plane: Any, promotion: Any) -> dict[str, str]:
    from tests.support.promotion import serving_now

    return {key: s["version"] for key, s in serving_now(plane, promotion.config)["prod"].items()}


def wait_for_versions(plane: Any, promotion: Any, wanted: dict[str, str], deadline: float) -> None:
    while prod_versions(plane, promotion) != wanted:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"prod never reached {wanted}")
        time.sleep(POLL_SECONDS)


def route_rollback(plane: Any, promotion: Any, wanted: dict[str, str], counter: CallCounter) -> float:
    from botocore.credentials import ReadOnlyCredentials

    from promote_cli.approvals import OperatorClient

    operator = plane.operator
    client = OperatorClient(
        plane.api_url,
        ReadOnlyCredentials(operator["access_key_id"], operator["secret_access_key"], None),
        plane.options.region,
    )
    counter.calls.clear()
    counter.armed = True
    started = time.perf_counter()
    client.call("POST", f"/operator/pipelines/{PIPELINE}/rollback", body={"reason": "bench"})
    counter.armed = False
    wait_for_versions(plane, promotion, wanted, started + 30)
    return time.perf_counter() - started


def cli_rollback(plane: Any, promotion: Any, wanted: dict[str, str]) -> float:
    state = Path(tempfile.mkdtemp(prefix="rollback-bench-"))
    (state / "local.json").write_text(json.dumps(plane.ready_info()))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment["PROMOTE_STATE_DIR"] = str(state)
    command = [sys.executable, "-m", "promote_cli", "--local", "rollback", "prod"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--pipeline", PIPELINE, "--reason", "bench"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )
    if done.returncode != 0:
        raise RuntimeError(f"promote rollback failed: {done.stderr.strip()}")
    wait_for_versions(plane, promotion, wanted, started + 30)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "layers" / "shared")]
    from promote_cli.local.plane import LocalControlPlane, PlaneOptions

    report = sys.stdout
    counter = CallCounter()
    counter.install()
    rows: list[tuple[float, float, float]] = []
    calls: list[collections.Counter[str]] = []
    log_path = Path(tempfile.mkdtemp(prefix="rollback-bench-")) / "plane.log"
    with log_path.open("w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        plane = LocalControlPlane(PlaneOptions())
        plane.start()
        try:
            document = json.loads(
                (ROOT / "examples" / "sentiment-service" / "pipeline.local.json").read_text()
            )
            document["bake"] = {"duration_seconds": 0, "poll_interval_seconds": 1}
            plane.put_pipeline(json.dumps(document), source="bench: zero-wait pipeline")
            previous, _ = promote_to_prod(plane)
            for _ in range(args.rounds):
                wanted = prod_versions(plane, previous)
                latest, promotion_seconds = promote_to_prod(plane)
                route = route_rollback(plane, latest, wanted, counter)
                calls.append(collections.Counter(counter.calls))
                again, _ = promote_to_prod(plane)
                cli = cli_rollback(plane, again, wanted)
                rows.append((route, cli, promotion_seconds))
                previous = again
        finally:
            plane.stop()

    print(f"{'round':>5} {'route s':>8} {'cli s':>7} {'full promotion s':>16}", file=report)
    for index, (route, cli, promotion) in enumerate(rows, 1):
        print(f"{index:5d} {route:8.3f} {cli:7.3f} {promotion:16.2f}", file=report)
    print(
        f"median: route {statistics.median(r[0] for r in rows):.3f} s, "
        f"cli {statistics.median(r[1] for r in rows):.3f} s, "
        f"full promotion {statistics.median(r[2] for r in rows):.2f} s",
        file=report,
    )
    # IAM reads are the local plane's stand-in for API Gateway's IAM authorizer, not the function's calls.
    authorizer = {name: count for name, count in calls[-1].items() if name.startswith("iam:")}
    function = {name: count for name, count in calls[-1].items() if name not in authorizer}
    print(
        f"AWS calls of the operator function during one route rollback (round {len(calls)}): "
        f"{sum(function.values())} (plus {sum(authorizer.values())} IAM reads of the local authorizer)",
        file=report,
    )
    for name, count in sorted(function.items()):
        print(f"  {name} {count}", file=report)
    print(f"load average (1, 5, 15 min): {' '.join(f'{v:.1f}' for v in os.getloadavg())}", file=report)
    print(f"plane log: {log_path}", file=report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
