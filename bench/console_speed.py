"""Benchmark: how long the local console takes to answer, as the executions it lists grow.

    .venv/bin/python bench/console_speed.py [--executions N] [--samples K]

A local plane runs in this process (its handlers' logs go to a file, named at the end). One promotion of a
published build is approved and runs to Promoted (about 150 history events); then N more are started for
commits CI never published, in a pipeline that waits 0 s for builds, so each ends at once. Then, K times
each, it times:

- execution JSON: ``GET /_local/console/api/executions/{ARN}`` of the promoted execution (describe, its
  state machine's definition, the whole history, the approvals table), what an open page fetches every
  2 s while the execution runs;
- list JSON: ``GET /_local/console/api/executions`` (describe and history of each of the newest 50);
- page: ``GET /_local/console/executions/{ARN}`` (the shell; the browser then loads the JSON).

It prints the median and the slowest of each, and the size of the execution JSON. Numbers from one
machine at one time: compare them with each other, not across machines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
UNPUBLISHED_PIPELINE = "console-bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--executions", type=int, default=30, help="promotions listed besides the promoted one"
    )
    parser.add_argument("--samples", type=int, default=10, help="requests timed per endpoint")
    args = parser.parse_args()

    sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "layers" / "shared")]
    import requests

    from promote_cli.local.plane import LocalControlPlane, PlaneOptions
    from tests.support import promotion as support
    from tests.support.pipelines import SAMPLE_PIPELINE_FILE

    log_path = Path(tempfile.mkdtemp(prefix="console-speed-")) / "plane.log"
    with log_path.open("w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        plane = LocalControlPlane(PlaneOptions(time_scale=0.1))
        plane.start()
        try:
            promoted = support.publish_and_start(plane)
            link = support.wait_for_approval_links(plane, promoted, timeout=60)[0]
            support.decide_via_link(link, "approve")
            ended = support.wait_for_end(plane, promoted.execution_arn, timeout=120)
            if ended["status"] != "SUCCEEDED":
                raise SystemExit(f"the promotion ended {ended['status']}: {ended.get('error')}")
            document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
            document["name"] = UNPUBLISHED_PIPELINE
            document["artifacts"] = {**document["artifacts"], "wait_seconds": 0}
            plane.put_pipeline(json.dumps(document), source="console bench")
            ctl = support.control(plane)
            started = [
                ctl.start(UNPUBLISHED_PIPELINE, os.urandom(20).hex(), requested_by="bench")["execution_arn"]
                for _ in range(args.executions)
            ]
            for arn in started:
                support.wait_for_end(plane, arn, timeout=60)
            encoded = quote(promoted.execution_arn, safe="")
            urls = {
                "execution JSON": f"{plane.console_url}/api/executions/{encoded}",
                "list JSON": f"{plane.console_url}/api/executions",
                "page": f"{plane.console_url}/executions/{encoded}",
            }
            timings: dict[str, list[float]] = {name: [] for name in urls}
            sizes: dict[str, int] = {}
            for _ in range(args.samples):
                for name, url in urls.items():
                    began = time.perf_counter()
                    answer = requests.get(url, timeout=60)
                    timings[name].append(time.perf_counter() - began)
                    answer.raise_for_status()
                    sizes[name] = len(answer.content)
        finally:
            plane.stop()
    print(f"executions listed: {min(args.executions + 1, 50)}; load average {os.getloadavg()[0]:.2f}")
    for name, values in timings.items():
        median, slowest = statistics.median(values) * 1000, max(values) * 1000
        print(
            f"{name:15} median {median:7.1f} ms   slowest {slowest:7.1f} ms   {sizes[name] / 1024:7.1f} KiB"
        )
    print(f"plane log: {log_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
