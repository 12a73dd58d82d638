"""Benchmark: how fast the local plane runs a happy-path promotion with nothing to wait for.

    .venv/bin/python bench/plane_speed.py [--runs N] [--bake SECONDS] [--time-scale S]

A local plane runs in this process (its handlers' logs go to a file, named at the end). The sample
pipeline gets a zero-second bake, so no Wait state sleeps; each run publishes a good build, starts a
promotion, approves it through the emailed link the moment the link lands in the outbox, and waits for
the end. Per run it prints:

- wall: the execution's own, from ExecutionStarted to its last event (the history's timestamps);
- client: from publishing the build (then StartExecution) until the bench sees the end. The bench
  watches in process, every 20 ms, the execution's status in the plane's Step Functions backend and the
  messages sent since the run began: polling through the APIs (DescribeExecution and the outbox route,
  every 50 ms) took CPU from the plane it measures, about a tenth of a run's, and more with every run as
  the outbox grew;
- cpu: CPU seconds this process (plane, handlers, bench client) used meanwhile, the figure a busy
  shared machine distorts least (service functions' warm interpreters are other processes, not counted);
- transitions: states entered plus retry attempts, as Step Functions bills them;
- handlers: time inside Lambda handlers of the control plane invoked by the state machine (from the
  history's LambdaFunctionStarted -> Succeeded/Failed, or TaskStarted -> TaskSubmitted for the
  approval request's own invocation), which includes the service functions they call (the checks);
- approval: the time the execution spent waiting for the task token (TaskSubmitted -> TaskSucceeded):
  the bench noticing the email, opening the link and posting Approve;
- overhead per transition: (wall - handlers - approval) / transitions, i.e. what the plane itself costs
  between one state and the next: the interpreter, moto's APIs, the HTTP hops, polling.

Every part shares one process and, on a shared machine, the cores: run it when the machine is quiet, and
read the load average printed with the results.

The first run includes each handler module's first import; the median of the others is the steady state.
Numbers from one machine at one time: compare them with each other, not across machines.
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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from _support import transitions

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Run:
    status: str
    wall: float
    client: float
    cpu: float
    transitions: int
    handlers: float
    approval: float
    states: dict[str, float]

    @property
    def overhead_per_transition(self) -> float:
        return (self.wall - self.handlers - self.approval) / max(self.transitions, 1)


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def handler_and_approval_seconds(history: list[dict[str, Any]]) -> tuple[float, float]:
    """Time inside the Lambda handlers the state machine invoked, and time waiting for a task token.

    A Lambda task runs its handler from LambdaFunctionStarted to LambdaFunctionSucceeded (or Failed,
    TimedOut). A ``.waitForTaskToken`` task runs its handler from TaskStarted to TaskSubmitted, then waits
    for the token until TaskSucceeded (or Failed, TimedOut).
    """
    handlers = approval = 0.0
    handler_started: datetime | None = None
    waiting_since: datetime | None = None
    for event in history:
        kind, at = event["type"], event["timestamp"]
        if kind in ("LambdaFunctionStarted", "TaskStarted"):
            handler_started = at
        elif kind == "TaskSubmitted" and handler_started is not None:
            handlers += _seconds(handler_started, at)
            handler_started, waiting_since = None, at
        elif kind.startswith(("LambdaFunction", "Task")) and kind.endswith(
            ("Succeeded", "Failed", "TimedOut")
        ):
            if waiting_since is not None:
                approval += _seconds(waiting_since, at)
            elif handler_started is not None:
                handlers += _seconds(handler_started, at)
            handler_started = waiting_since = None
    return handlers, approval


def per_state_seconds(history: list[dict[str, Any]]) -> dict[str, float]:
    """Wall seconds from entering each state to entering the next one (summed over repeats)."""
    entered = [
        (event["stateEnteredEventDetails"]["name"], event["timestamp"])
        for event in history
        if event["type"].endswith("StateEntered")
    ]
    end = history[-1]["timestamp"]
    totals: dict[str, float] = {}
    for (name, at), (_, following) in zip(entered, [*entered[1:], ("", end)], strict=True):
        totals[name] = totals.get(name, 0.0) + _seconds(at, following)
    return totals


def zero_wait_pipeline(bake_seconds: int) -> str:
    document = json.loads((ROOT / "examples" / "sentiment-service" / "pipeline.local.json").read_text())
    document["bake"] = {"duration_seconds": bake_seconds, "poll_interval_seconds": 1}
    return json.dumps(document, indent=2)


def execution_status(plane: Any, execution_arn: str) -> str:
    """The execution's status as the plane's Step Functions backend holds it, read in process."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from promote_cli.local.plane import ACCOUNT

    backend = stepfunctions_parser_backends[ACCOUNT][plane.options.region]
    return str(backend.describe_execution(execution_arn).status)


def run_once(plane: Any) -> Run:
    from tests.support.promotion import approval_pages, decide_via_link, history, publish_and_start

    sent_before = plane.outbox.sent()
    started, cpu_started = time.perf_counter(), time.process_time()
    promotion = publish_and_start(plane, variant="good")
    approved = False
    while True:
        status = execution_status(plane, promotion.execution_arn)
        if status != "RUNNING":
            break
        if not approved:
            sent = [message.to_json() for message in plane.outbox.messages(after=sent_before)]
            links = approval_pages(sent, promotion.sha)
            if links:
                answer = decide_via_link(links[0], "approve", "bench")
                if answer.status_code != 200:
                    raise RuntimeError(f"approval refused: {answer.status_code} {answer.text[:200]}")
                approved = True
                continue
        time.sleep(POLL_SECONDS)
    client, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    events = history(plane, promotion.execution_arn)
    handlers, approval = handler_and_approval_seconds(events)
    wall = _seconds(events[0]["timestamp"], events[-1]["timestamp"])
    return Run(status, wall, client, cpu, transitions(events), handlers, approval, per_state_seconds(events))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=4, help="promotions to run one after another")
    parser.add_argument("--bake", type=int, default=0, help="bake duration in seconds (0: no Wait)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="the plane's time scale")
    parser.add_argument("--states", action="store_true", help="also print the slowest states per run")
    args = parser.parse_args()

    sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "layers" / "shared")]
    from promote_cli.local.plane import LocalControlPlane, PlaneOptions

    report = sys.stdout
    log_path = Path(tempfile.mkdtemp(prefix="plane-speed-")) / "plane.log"
    with log_path.open("w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        boot = time.perf_counter()
        plane = LocalControlPlane(PlaneOptions(time_scale=args.time_scale))
        plane.start()
        boot = time.perf_counter() - boot
        plane.put_pipeline(zero_wait_pipeline(args.bake), source="bench: zero-wait pipeline")
        runs: list[Run] = []
        try:
            for _ in range(args.runs):
                runs.append(run_once(plane))
        finally:
            plane.stop()

    print(
        f"local plane started in {boot:.2f} s (time scale {args.time_scale}, bake {args.bake} s)", file=report
    )
    header = (
        f"{'run':>3} {'status':10} {'wall s':>7} {'client s':>8} {'cpu s':>6} {'transitions':>11}"
        f" {'handlers s':>10}"
        f" {'approval s':>10}"
    )
    print(header + f" {'overhead ms/transition':>22}", file=report)
    for index, run in enumerate(runs, 1):
        print(
            f"{index:3d} {run.status:10} {run.wall:7.2f} {run.client:8.2f} {run.cpu:6.2f}"
            f" {run.transitions:11d} {run.handlers:10.2f}"
            f" {run.approval:10.2f} {run.overhead_per_transition * 1000:22.1f}",
            file=report,
        )
        if args.states:
            slowest = sorted(run.states.items(), key=lambda item: -item[1])[:8]
            print("    " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in slowest), file=report)
    steady = runs[1:] or runs
    wall = statistics.median(r.wall for r in steady)
    cpu = statistics.median(r.cpu for r in steady)
    overhead = statistics.median(r.overhead_per_transition for r in steady)
    print(
        f"steady state (median of runs 2..{len(runs)}): wall {wall:.2f} s, cpu {cpu:.2f} s,"
        f" overhead {overhead * 1000:.1f} ms/transition (target: wall <= 3 s)",
        file=report,
    )
    print(f"load average (1, 5, 15 min): {' '.join(f'{v:.1f}' for v in os.getloadavg())}", file=report)
    print(f"plane log: {log_path}", file=report)
    return 0 if all(run.status == "SUCCEEDED" for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
