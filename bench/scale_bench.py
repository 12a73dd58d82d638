"""Benchmark: scale and cost of one control plane, measured on one local plane.

    .venv/bin/python bench/scale_bench.py [--pipelines 20] [--racing 5] [--deliveries 200] [--senders 16]
                                          [--phase many|race|cost|alarm|webhook ...]

One `promote local up` with a copy of the sample service per pipeline (`--sample-copy`), then, in order:

1. N pipelines promote at once, approved as soon as asked (every fifth build fails its prod canary): each
   execution ends in its right state: SUCCEEDED with prod serving its build, or FAILED with prod back on
   the versions it served before.
2. K promotions of one pipeline race, approved as soon as asked: each environment's lock is held by one
   execution at a time, every execution ends SUCCEEDED, Superseded or WouldGoBackwards, and prod only ever
   moves to a newer build.
3. Cost of one promotion alone on the plane, started by a signed webhook and approved from the email link,
   for the happy path and the canary rollback: state transitions, Lambda GB-seconds (measured durations,
   plus one INIT per function measured as a cold import), DynamoDB request units, API Gateway requests;
   priced at us-east-1 list prices beside a CI runner and CodePipeline V2 watching alarms for 5 minutes.
4. Alarm to rollback: an alarm goes to ALARM during the bake; the time until prod serves its previous
   versions, against one poll interval + 2 s.
5. A burst of D signed webhook deliveries, half of them duplicates (redeliveries and new deliveries of a
   commit already sent), S at a time to 127.0.0.1: exactly D/2 executions; the webhook's latency.

Prints the numbers and exits 1 if any check failed. One run on one machine: timings are noisy, and moto
answers the handlers' AWS calls in place of the services (no network round trips).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from _support import (
    PRICE_PER_CI_RUNNER_MINUTE,
    PRICE_PER_CODEPIPELINE_ACTION_MINUTE,
    PRICE_PER_HTTP_API_REQUEST,
    PRICE_PER_KMS_REQUEST,
    PRICE_PER_LAMBDA_GB_SECOND,
    PRICE_PER_LAMBDA_REQUEST,
    PRICE_PER_READ_REQUEST_UNIT,
    PRICE_PER_SECRETS_MANAGER_CALL,
    PRICE_PER_TRANSITION,
    PRICE_PER_WRITE_REQUEST_UNIT,
    ROOT,
    AwsRequest,
    AwsRequestLog,
    Invocation,
    RemotePlane,
    invocations,
    local_plane,
    percentile,
    transitions,
)

sys.path[:0] = [str(ROOT)]

import requests  # noqa: E402

from promote_cli.control import serving  # noqa: E402
from promote_cli.local import github_payloads  # noqa: E402
from promote_cli.local.demo import start_through_webhook  # noqa: E402
from promotion.naming import parse_execution_name  # noqa: E402
from promotion.pipeline.artifacts import lambda_code_sha256  # noqa: E402
from tests.support.promotion import (  # noqa: E402
    LOCK_RELEASED,
    LOCK_TAKEN,
    Promotion,
    approval_links,
    control,
    decide_via_link,
    errors_in,
    history,
    new_sha,
    publish_for,
    serving_now,
    succeeded_at,
    wait_for_approval_links,
    wait_for_end,
    wait_for_state,
)

ASL = ROOT / "statemachine" / "promotion.asl.json"
SAMPLE_PIPELINE = "sentiment-service"
RACE, ALARM, HOOKS = "race", "alarm", "hooks"
# The bench's parts, in the order they run (the numbered list above), and the copy each one promotes.
PHASES = ("many", "race", "cost", "alarm", "webhook")
PHASE_COPIES = {"race": RACE, "alarm": ALARM, "webhook": HOOKS}
# A watch as long as the alternatives are priced for: 5 minutes of alarms after the deploy.
WATCH_SECONDS = 300
# Error names a racing promotion may rightly end with (docs/approvals.md, docs/rollout.md).
RACE_LOSSES = {"Superseded", "WouldGoBackwards"}


class Checks:
    """Every property the run checks, printed as it is decided; the exit status is whether all held."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, holds: bool, what: str) -> None:
        print(f"  [{'ok' if holds else 'FAIL'}] {what}")
        if not holds:
            self.failed.append(what)


def pipeline_name(service: str) -> str:
    return f"{service}-service"


# Every check on the local plane starts a fresh interpreter for the service's function; twenty promotions
# checking at once on two cores can take longer than a check's 5 s default to answer (a warm function on AWS
# answers in milliseconds), so the bench's copies give their checks this long.
CHECK_TIMEOUT_SECONDS = 30.0
# The sample's test Lambda fails a build whose api answers one of its requests slower than a bound (its case
# latency-under-bound, 3 s by default). With twenty promotions on two cores a good build's answers take
# longer than that (the same queueing as the checks'), so the bench's copies are deployed with this bound,
# as `sam deploy --parameter-overrides TestLatencyBoundSeconds=15` would. The test Lambda itself (a fresh
# interpreter, then seven calls of the api) can take longer than its template's 20 s there too, so it gets
# this long, as the checks get CHECK_TIMEOUT_SECONDS.
SERVICE_LATENCY_BOUND_SECONDS = 15.0
TEST_FUNCTION_TIMEOUT_SECONDS = 60


def tune_pipeline(plane: RemotePlane, pipeline: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a pipeline's config in Parameter Store, as an operator would (``aws ssm put-parameter``),
    before anything has read it: every check's timeout, and ``sections`` merged in; and give its test
    Lambda in each environment the bench's latency bound (``tune_test_function``)."""
    ssm = plane.client("ssm")
    parameter = f"/{plane.options.stack_name}/pipelines/{pipeline}"
    document = json.loads(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    for check in [*document.get("checks", []), *document.get("canary_checks", [])]:
        check["timeout_seconds"] = CHECK_TIMEOUT_SECONDS
    for section, values in sections.items():
        document[section] = {**document.get(section, {}), **values}
    ssm.put_parameter(Name=parameter, Value=json.dumps(document), Type="String", Overwrite=True)
    for environment, settings in document["environments"].items():
        key = (settings.get("service_tests") or {}).get("test_function")
        if isinstance(key, str):
            tune_test_function(plane, environment, settings["functions"][key])
    return dict(document)


def tune_test_function(plane: RemotePlane, environment: str, function: str) -> None:
    """Set the sample's test Lambda's LATENCY_BOUND_SECONDS (the template's TestLatencyBoundSeconds) and its
    timeout in the environment's account, before any promotion publishes a version of it: each version it
    publishes keeps the function's configuration, as on Lambda."""
    lam = plane.environment_client(environment, "lambda")
    variables = (
        lam.get_function_configuration(FunctionName=function).get("Environment", {}).get("Variables", {})
    )
    lam.update_function_configuration(
        FunctionName=function,
        Timeout=TEST_FUNCTION_TIMEOUT_SECONDS,
        Environment={
            "Variables": {**variables, "LATENCY_BOUND_SECONDS": f"{SERVICE_LATENCY_BOUND_SECONDS:g}"}
        },
    )


def describe_failure(final: dict[str, Any]) -> str:
    cause = str(final.get("cause") or "")
    with contextlib.suppress(ValueError, AttributeError):
        cause = str(json.loads(cause).get("errorMessage", cause))
    return f"{final.get('error')}: {cause[:300]}"


def bake_loop_states() -> list[str]:
    """The states one more alarm poll runs: the cycle through the Wait on ``$.bake.wait_seconds``."""
    states = json.loads(ASL.read_text())["States"]
    start = next(
        name
        for name, s in states.items()
        if s["Type"] == "Wait" and s.get("SecondsPath") == "$.bake.wait_seconds"
    )
    loop, name = [start], states[start]["Next"]
    while name != start:
        loop.append(name)
        state = states[name]
        name = state.get("Next") or state["Default"]
    return loop


# ---- driving promotions --------------------------------------------------------------------------------
@dataclass
class Run:
    promotion: Promotion
    variant: str
    asked: bool = False
    final: dict[str, Any] = field(default_factory=dict)


def start_promotions(plane: RemotePlane, pipelines: Sequence[str], variants: Sequence[str]) -> list[Run]:
    """Publish every build first (CI order: the i-th is the i-th newest-but-one), then start them all."""
    ctl = control(plane)
    staged = []
    for pipeline, variant in zip(pipelines, variants, strict=True):
        config = ctl.pipeline(pipeline)
        before = serving_now(plane, config)
        sha = new_sha()
        staged.append((config, sha, before, publish_for(plane, config, sha, variant), variant))
    runs = []
    for config, sha, before, build, variant in staged:
        arn = ctl.start(config.name, sha, requested_by="scale-bench")["execution_arn"]
        runs.append(Run(Promotion(plane, config, sha, arn, build, before), variant))
    return runs


def drive(plane: RemotePlane, runs: list[Run], *, timeout: float) -> float:
    """Approve each promotion as soon as its approval email is out, until every one has ended; seconds."""
    sfn = plane.client("stepfunctions")
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        pending = [run for run in runs if not run.final]
        if not pending:
            return time.monotonic() - began
        for run in pending:
            if not run.asked:
                links = approval_links(plane, run.promotion.sha)
                if links:
                    # A superseded request's page answers 410: that promotion is ending anyway.
                    # 30 s: one local plane running twenty promotions at once answers pages slowly.
                    if requests.get(links[0], timeout=30).status_code == 200:
                        decide_via_link(links[0], "approve", "scale bench", timeout=60)
                    run.asked = True
            described = sfn.describe_execution(executionArn=run.promotion.execution_arn)
            if described["status"] != "RUNNING":
                run.final = dict(described)
        time.sleep(0.5)
    raise TimeoutError(f"{sum(not run.final for run in runs)} promotions still running after {timeout:.0f}s")


def prod_serves(run: Run) -> dict[str, dict[str, str]]:
    return run.promotion.after()["prod"]


def serves_build(run: Run) -> bool:
    expected = lambda_code_sha256(run.promotion.build.sha256)
    return all(function["code_sha256"] == expected for function in prod_serves(run).values())


def serves_before(run: Run) -> bool:
    before = run.promotion.before["prod"]
    return {k: v["version"] for k, v in prod_serves(run).items()} == {
        k: v["version"] for k, v in before.items()
    }


# ---- 1. many pipelines at once ---------------------------------------------------------------------------
def many_pipelines(plane: RemotePlane, services: list[str], checks: Checks) -> None:
    variants = ["fails-in-prod" if i % 5 == 4 else "good" for i in range(len(services))]
    print(
        f"\n1. {len(services)} pipelines promote at once "
        f"({variants.count('fails-in-prod')} builds fail the canary; checks time out after "
        f"{CHECK_TIMEOUT_SECONDS:g} s; the test Lambda's latency bound is "
        f"{SERVICE_LATENCY_BOUND_SECONDS:g} s, its timeout {TEST_FUNCTION_TIMEOUT_SECONDS} s)"
    )
    for service in services:
        tune_pipeline(plane, pipeline_name(service))
    runs = start_promotions(plane, [pipeline_name(s) for s in services], variants)
    wall = drive(plane, runs, timeout=600)
    durations = [(run.final["stopDate"] - run.final["startDate"]).total_seconds() for run in runs]
    counted = [transitions(history(plane, run.promotion.execution_arn)) for run in runs]
    print(
        f"  all ended in {wall:.1f} s; per execution median {statistics.median(durations):.1f} s, "
        f"max {max(durations):.1f} s; {sum(counted)} state transitions in all"
    )
    right = [
        (run.final["status"] == "SUCCEEDED" and serves_build(run))
        if run.variant == "good"
        else (run.final["status"] == "FAILED" and serves_before(run))
        for run in runs
    ]
    statuses = Counter(f"{run.variant} -> {run.final['status']}" for run in runs)
    print(f"  outcomes: {dict(statuses)}")
    for run, ok in zip(runs, right, strict=True):
        if not ok:
            print(f"    {run.promotion.config.name}: {describe_failure(run.final)}")
    checks.check(
        all(right),
        "every good build SUCCEEDED and prod serves it; every canary failure FAILED with prod on its "
        f"previous versions ({sum(right)}/{len(runs)})",
    )


# ---- 2. promotions racing on one pipeline ----------------------------------------------------------------
def lock_window(events: list[dict[str, Any]], environment: str) -> tuple[datetime, datetime] | None:
    """When an execution held an environment's lock: from taking it to the first state that gives it back."""
    taken = succeeded_at(events, LOCK_TAKEN[environment])
    if not taken:
        return None
    released = [
        at
        for state in {LOCK_RELEASED[environment], "Record success", "Record failure"}
        for at in succeeded_at(events, state)
        if at >= taken[0]
    ]
    return taken[0], min(released)


def racing(plane: RemotePlane, count: int, checks: Checks) -> None:
    print(f"\n2. {count} promotions of one pipeline race (published in order, started at once)")
    tune_pipeline(plane, pipeline_name(RACE))
    runs = start_promotions(plane, [pipeline_name(RACE)] * count, ["good"] * count)
    wall = drive(plane, runs, timeout=600)
    events = {run.promotion.sha: history(plane, run.promotion.execution_arn) for run in runs}
    outcomes = Counter(run.final.get("error") or run.final["status"] for run in runs)
    retries = sum(
        errors_in(events[run.promotion.sha], state).count("EnvironmentLocked")
        for run in runs
        for state in LOCK_TAKEN.values()
    )
    print(f"  all ended in {wall:.1f} s: {dict(outcomes)}; {retries} EnvironmentLocked retries")
    for run in runs:
        if run.final["status"] != "SUCCEEDED":
            print(f"    build {runs.index(run) + 1}: {describe_failure(run.final)}")
    checks.check(
        all(run.final["status"] == "SUCCEEDED" or run.final.get("error") in RACE_LOSSES for run in runs),
        f"every execution ended SUCCEEDED or lost the race by name ({', '.join(sorted(RACE_LOSSES))})",
    )
    for environment in ("preprod", "prod"):
        windows = sorted(w for run in runs if (w := lock_window(events[run.promotion.sha], environment)))
        apart = all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(windows))
        checks.check(apart, f"{environment}'s lock held by one execution at a time ({len(windows)} holders)")
    order = {run.promotion.sha: index for index, run in enumerate(runs)}
    deployed = sorted(
        (succeeded_at(events[run.promotion.sha], "Deploy to prod")[0], order[run.promotion.sha], run)
        for run in runs
        if succeeded_at(events[run.promotion.sha], "Deploy to prod")
    )
    forward = all(a[1] < b[1] for a, b in itertools.pairwise(deployed))
    checks.check(
        bool(deployed) and forward and serves_build(deployed[-1][2]),
        f"prod moved forward only (builds {[d[1] + 1 for d in deployed]} by publish order), serves the last",
    )


# ---- 3. cost of one promotion ----------------------------------------------------------------------------
@dataclass
class Measured:
    label: str
    final: dict[str, Any]
    transitions: int
    invocations: list[Invocation]
    requests: list[AwsRequest]
    http_api_requests: int
    polls: int


def measure_promotion(plane: RemotePlane, log: AwsRequestLog, variant: str, label: str) -> Measured:
    """One promotion alone on the plane, as in production: CI publishes, GitHub's signed webhook starts it,
    an approver opens the emailed link and approves; every AWS request the handlers make is recorded."""
    ctl = control(plane)
    config = ctl.pipeline(SAMPLE_PIPELINE)
    before = serving_now(plane, config)
    sha = new_sha()
    build = publish_for(plane, config, sha, variant)
    log.start()
    webhook_began = time.perf_counter()
    started = start_through_webhook(
        plane.ready, config.repo, sha, branch=config.branch, workflow=config.github.build_workflow
    )
    webhook_seconds = time.perf_counter() - webhook_began
    promotion = Promotion(plane, config, sha, started["execution_arn"], build, before)
    link = wait_for_approval_links(plane, promotion)[0]
    page_began = time.perf_counter()
    page = requests.get(link, timeout=10)
    page_seconds = time.perf_counter() - page_began
    if page.status_code != 200:
        raise RuntimeError(f"the approval page answered {page.status_code}")
    decide_began = time.perf_counter()
    decide_via_link(link, "approve", "scale bench")  # GET again (not counted) and the POST that decides
    decide_seconds = time.perf_counter() - decide_began - page_seconds
    final = wait_for_end(plane, promotion.execution_arn, timeout=180)
    # A failed promotion's EventBridge rule runs the cleanup function after the end: let it finish.
    time.sleep(3 if final["status"] != "SUCCEEDED" else 0.5)
    recorded = log.stop()
    events = history(plane, promotion.execution_arn)
    tasks = invocations(events)
    stack = plane.options.stack_name
    extra = [
        Invocation(f"{stack}-GitHubWebhookFunction", "(HTTP API) webhook", webhook_seconds),
        Invocation(f"{stack}-ApprovalApiFunction", "(HTTP API) approval page", page_seconds),
        Invocation(f"{stack}-ApprovalApiFunction", "(HTTP API) approval decision", max(decide_seconds, 0.0)),
    ]
    if final["status"] != "SUCCEEDED":
        # Not timed from here: taken as the median task's duration.
        median = statistics.median(t.seconds for t in tasks)
        extra.append(Invocation(f"{stack}-CleanupExecutionFunction", "(EventBridge) cleanup", median))
    polls = sum(
        1
        for event in events
        if event["type"].endswith("StateEntered") and _entered(event) == "Check prod alarms"
    )
    http_api = sum(1 for invocation in extra if invocation.state.startswith("(HTTP API)"))
    return Measured(label, final, transitions(events), tasks + extra, recorded, http_api, polls)


def _entered(event: dict[str, Any]) -> str:
    return str(event["stateEnteredEventDetails"]["name"])


@dataclass(frozen=True)
class FunctionFacts:
    memory_mb: int
    init_seconds: float


def function_facts(names: set[str], stack: str, runs: int) -> dict[str, FunctionFacts]:
    """Memory from template.yaml (Globals applied); INIT as the handler module's cold import in a fresh
    interpreter with Lambda's environment, in CPU seconds (median of ``runs``), as promotion_bench
    measures it: CPU time is what the import costs; this shared machine's wall time is not."""
    from promotion_bench import cold_import_cpu_seconds, template_functions

    by_name = {f"{stack}-{function.logical_id}": function for function in template_functions()}
    return {
        name: FunctionFacts(by_name[name].memory_mb, cold_import_cpu_seconds(by_name[name], runs))
        for name in sorted(names)
    }


def boto3_import_seconds(runs: int) -> float:
    """The yardstick for the cold imports: ``import boto3`` alone in a fresh interpreter (CPU seconds)."""
    from promotion_bench import cold_import_cpu_seconds

    return cold_import_cpu_seconds(None, runs)


@dataclass
class Cost:
    transitions: int
    lambda_requests: int
    gb_seconds: float
    init_gb_seconds: float
    read_units: float
    write_units: float
    http_api_requests: int
    secrets_calls: int
    kms_calls: int
    ssm_calls: int

    def lines(self) -> list[tuple[str, str, float]]:
        return [
            ("state transitions", f"{self.transitions}", self.transitions * PRICE_PER_TRANSITION),
            ("Lambda requests", f"{self.lambda_requests}", self.lambda_requests * PRICE_PER_LAMBDA_REQUEST),
            (
                "Lambda GB-s, INIT",
                f"{self.init_gb_seconds:.3f}",
                self.init_gb_seconds * PRICE_PER_LAMBDA_GB_SECOND,
            ),
            (
                "Lambda GB-s, handlers",
                f"{self.gb_seconds - self.init_gb_seconds:.3f}",
                (self.gb_seconds - self.init_gb_seconds) * PRICE_PER_LAMBDA_GB_SECOND,
            ),
            ("DynamoDB read units", f"{self.read_units:g}", self.read_units * PRICE_PER_READ_REQUEST_UNIT),
            (
                "DynamoDB write units",
                f"{self.write_units:g}",
                self.write_units * PRICE_PER_WRITE_REQUEST_UNIT,
            ),
            (
                "HTTP API requests",
                f"{self.http_api_requests}",
                self.http_api_requests * PRICE_PER_HTTP_API_REQUEST,
            ),
            (
                "Secrets Manager calls",
                f"{self.secrets_calls}",
                self.secrets_calls * PRICE_PER_SECRETS_MANAGER_CALL,
            ),
            ("KMS requests", f"{self.kms_calls}", self.kms_calls * PRICE_PER_KMS_REQUEST),
            ("SSM GetParameter (free tier)", f"{self.ssm_calls}", 0.0),
        ]

    def total(self) -> float:
        return sum(cost for _, _, cost in self.lines())


def cost_of(measured: Measured, facts: dict[str, FunctionFacts]) -> Cost:
    by_function: dict[str, list[float]] = {}
    for invocation in measured.invocations:
        by_function.setdefault(invocation.function, []).append(invocation.seconds)
    init_gb_seconds = sum(facts[name].memory_mb / 1024 * facts[name].init_seconds for name in by_function)
    gb_seconds = init_gb_seconds + sum(
        facts[name].memory_mb / 1024 * sum(seconds) for name, seconds in by_function.items()
    )
    dynamodb = [r.dynamodb_units() for r in measured.requests if r.service == "dynamodb"]
    actions = Counter((r.service, r.action) for r in measured.requests)
    return Cost(
        transitions=measured.transitions,
        lambda_requests=len(measured.invocations),
        gb_seconds=gb_seconds,
        init_gb_seconds=init_gb_seconds,
        read_units=sum(read for read, _ in dynamodb),
        write_units=sum(write for _, write in dynamodb),
        http_api_requests=measured.http_api_requests,
        secrets_calls=sum(n for (service, _), n in actions.items() if service == "secretsmanager"),
        kms_calls=sum(n for (service, _), n in actions.items() if service == "kms"),
        ssm_calls=actions[("ssm", "GetParameter")],
    )


def cost_per_promotion(plane: RemotePlane, init_runs: int, checks: Checks) -> None:
    print("\n3. cost of one promotion (alone on the plane; webhook start, approval by email link)")
    log = AwsRequestLog(plane)
    # The rollback first: it leaves prod on its bootstrap build, so neither path waits on the GitHub
    # stand-in's compare (a bootstrap build has no commit to compare); on AWS that is one API call.
    rollback = measure_promotion(plane, log, "fails-in-prod", "rollback path (canary fails)")
    paths = [measure_promotion(plane, log, "good", "happy path"), rollback]
    for path, expected in zip(paths, (None, "CanaryFailed"), strict=True):
        if expected is None:
            ended, how = path.final["status"] == "SUCCEEDED", path.final["status"]
        else:
            ended, how = path.final.get("error") == expected, describe_failure(path.final)
        checks.check(ended, f"the {path.label} ended as it should ({how})")
    names = {invocation.function for path in paths for invocation in path.invocations}
    facts = function_facts(names, plane.options.stack_name, init_runs)
    costs = [cost_of(path, facts) for path in paths]
    print(f"  {'':30}" + "".join(f"{path.label:>40}" for path in paths))
    for index, (what, _, _) in enumerate(costs[0].lines()):
        cells = "".join(
            f"{c.lines()[index][1]:>22} {'$' + format(c.lines()[index][2], '.7f'):>17}" for c in costs
        )
        print(f"  {what:30}{cells}")
    print(f"  {'total':30}" + "".join(f"{'$' + format(c.total(), '.6f'):>40}" for c in costs))

    answered = [
        i.seconds for path in paths for i in path.invocations if i.state.startswith("(HTTP API) webhook")
    ]
    print(
        f"  the webhook answered a lone delivery in {statistics.median(answered) * 1000:.0f} ms (median of 2)"
    )
    loop = bake_loop_states()
    alarm_checks = [i for i in paths[0].invocations if i.state == "Check prod alarms"]
    check_function = alarm_checks[0].function
    poll_gb_seconds = (
        facts[check_function].memory_mb / 1024 * statistics.median(i.seconds for i in alarm_checks)
    )
    per_poll = (
        len(loop) * PRICE_PER_TRANSITION
        + PRICE_PER_LAMBDA_REQUEST
        + poll_gb_seconds * PRICE_PER_LAMBDA_GB_SECOND
    )
    print(
        f"  each extra alarm poll: {len(loop)} transitions ({' -> '.join(loop)}), 1 Lambda request, "
        f"{poll_gb_seconds:.4f} GB-s: ${per_poll:.7f}"
    )
    happy = costs[0].total()
    for poll_seconds in (60, 30):
        polls = WATCH_SECONDS // poll_seconds + 1
        watched = happy + (polls - paths[0].polls) * per_poll
        print(
            f"  happy path with a 5-minute bake polled every {poll_seconds} s ({polls} polls): ${watched:.5f}"
        )
    print(
        f"  alternatives for the same 5-minute alarm watch alone: CI runner held "
        f"${WATCH_SECONDS / 60 * PRICE_PER_CI_RUNNER_MINUTE:.3f}; CodePipeline V2 action "
        f"${WATCH_SECONDS / 60 * PRICE_PER_CODEPIPELINE_ACTION_MINUTE:.3f}"
    )
    print("  assumptions:")
    memory = Counter(f"{f.memory_mb} MB" for f in facts.values())
    print(f"    memory per function from template.yaml: {dict(memory)}; arm64 prices, us-east-1")
    print(
        f"    one cold INIT per function per promotion (a few promotions a day find no warm environment): "
        f"{len(facts)} functions, cold imports median of {init_runs}, "
        f"{min(f.init_seconds for f in facts.values()) * 1000:.0f}-"
        f"{max(f.init_seconds for f in facts.values()) * 1000:.0f} ms "
        f"(import boto3 alone: {boto3_import_seconds(init_runs) * 1000:.0f} ms on this machine now)"
    )
    print(
        "    durations: task durations from the execution history (moto answers AWS calls locally: no "
        "network round trips), the HTTP API functions timed from the client, the cleanup function taken "
        "as the median task"
    )
    print(
        "    DynamoDB: a write unit per started KB of request, a read unit per consistent read (half if "
        "eventual); SSM and Secrets Manager reads are cached in one process locally, once per cold "
        "function on AWS"
    )


# ---- 4. alarm to rollback --------------------------------------------------------------------------------
def alarm_to_rollback(plane: RemotePlane, trials: int, checks: Checks) -> None:
    # A bake long enough for the alarm to fire in it.
    document = tune_pipeline(plane, pipeline_name(ALARM), bake={"duration_seconds": 120})
    poll = int(document["bake"]["poll_interval_seconds"])
    bound = poll + 2.0
    print(f"\n4. alarm to rollback ({trials} trials, poll interval {poll} s, bound {bound:.0f} s)")
    # The service's alarms and functions live in prod's own account.
    cloudwatch, lam = (
        plane.environment_client("prod", "cloudwatch"),
        plane.environment_client("prod", "lambda"),
    )
    alarm = document["environments"]["prod"]["alarms"][0]
    latencies = []
    for _ in range(trials):
        (run,) = start_promotions(plane, [pipeline_name(ALARM)], ["good"])
        promotion = run.promotion
        decide_via_link(wait_for_approval_links(plane, promotion)[0], "approve", "scale bench")
        # Entering the Wait means a poll has just found the alarms OK: the alarm fires at the worst moment.
        wait_for_state(plane, promotion.execution_arn, "Bake", timeout=120)
        before = {k: v["version"] for k, v in promotion.before["prod"].items()}
        fired = time.perf_counter()
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="scale bench")
        while time.perf_counter() - fired < 30:
            if {k: v["version"] for k, v in serving(lam, promotion.config, "prod").items()} == before:
                break
            time.sleep(0.05)
        latencies.append(time.perf_counter() - fired)
        status = wait_for_end(plane, promotion.execution_arn, timeout=60)["status"]
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="scale bench")
        print(f"  ALARM -> prod on its previous versions in {latencies[-1]:.2f} s (execution {status})")
        checks.check(
            status == "FAILED" and serves_before(run), "the promotion failed and prod was rolled back"
        )
    checks.check(max(latencies) <= bound, f"worst {max(latencies):.2f} s within one poll interval + 2 s")


# ---- 5. webhook burst ------------------------------------------------------------------------------------
# How long a sender waits for one answer. GitHub itself gives a delivery 10 s; the local plane answers the
# burst from one process on a shared machine, so the bench waits longer, and counts what still fails.
DELIVERY_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Delivery:
    """One delivery's answer: its status (None when none came), how long it took, and why none came."""

    status: int | None
    seconds: float
    error: str = ""


def webhook_burst(plane: RemotePlane, deliveries: int, senders: int, checks: Checks) -> None:
    unique = deliveries // 2
    pipeline = pipeline_name(HOOKS)
    config = control(plane).pipeline(pipeline)
    secret = plane.ready["webhook_secret"]  # the stack's webhook secret: copies name none of their own
    print(f"\n5. {deliveries} signed webhook deliveries, {unique} unique commits, {senders} senders at once")
    batch: list[tuple[bytes, dict[str, str]]] = []
    for index in range(unique):
        payload = github_payloads.build_run_completed(
            repo=config.repo, sha=new_sha(), branch=config.branch, workflow=config.github.build_workflow
        )
        original = github_payloads.signed_delivery(payload, event="workflow_run", secret=secret)
        # Half the duplicates are redeliveries (same delivery id), half new deliveries of the same run.
        again = (
            original
            if index % 2
            else github_payloads.signed_delivery(payload, event="workflow_run", secret=secret)
        )
        batch += [original, again]
    random.Random(7).shuffle(batch)
    url = plane.webhook_url(pipeline)

    def send(delivery: tuple[bytes, dict[str, str]]) -> Delivery:
        began = time.perf_counter()
        try:
            answer = requests.post(
                url, data=delivery[0], headers=delivery[1], timeout=DELIVERY_TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            return Delivery(None, time.perf_counter() - began, f"{type(error).__name__}: {error}")
        return Delivery(answer.status_code, time.perf_counter() - began)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=senders) as pool:
        answers = list(pool.map(send, batch))
    wall = time.perf_counter() - began
    statuses = Counter(answer.status for answer in answers)
    errors = [answer.error for answer in answers if answer.error]
    sfn = plane.client("stepfunctions")
    state_machine = plane.ready["state_machine_arn"]
    names = [
        execution["name"]
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine)
        for execution in page["executions"]
    ]
    started = sum(
        1 for name in names if (parsed := parse_execution_name(name)) and parsed.pipeline == pipeline
    )
    for label, status in (("started (201)", 201), ("duplicate (200)", 200)):
        seconds = [answer.seconds for answer in answers if answer.status == status]
        if seconds:
            print(
                f"  {label:16} {len(seconds):4d}   p50 {percentile(seconds, 0.5) * 1000:6.0f} ms   "
                f"p99 {percentile(seconds, 0.99) * 1000:6.0f} ms"
            )
    print(f"  {deliveries} deliveries in {wall:.1f} s ({deliveries / wall:.0f}/s); answers {dict(statuses)}")
    checks.check(
        not errors,
        f"every delivery answered within {DELIVERY_TIMEOUT_SECONDS:.0f} s ({len(errors)} failed"
        + (f"; the first: {' '.join(errors[0].split())[:200]})" if errors else ")"),
    )
    checks.check(started == unique, f"exactly {unique} executions started ({started})")
    checks.check(
        statuses == Counter({201: unique, 200: unique}), "every duplicate answered 200, none started"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pipelines", type=_positive, default=20, help="pipelines promoting at once")
    parser.add_argument("--racing", type=_positive, default=5, help="promotions racing on one pipeline")
    parser.add_argument("--deliveries", type=_even, default=200, help="webhook deliveries (half duplicates)")
    parser.add_argument("--senders", type=_positive, default=16, help="deliveries in flight at once")
    parser.add_argument("--alarm-trials", type=_positive, default=2)
    parser.add_argument("--init-runs", type=_positive, default=1, help="cold imports per function (median)")
    parser.add_argument(
        "--phase",
        action="append",
        choices=PHASES,
        help="run only this part (repeatable; default: all, in order). `--phase cost` alone is the cost "
        "per promotion, on a plane with only the pipelines it needs",
    )
    args = parser.parse_args(argv)
    wanted = [phase for phase in PHASES if phase in (args.phase or PHASES)]

    services = [f"scale{i:02d}" for i in range(1, args.pipelines + 1)] if "many" in wanted else []
    # The sample copies each phase promotes (the cost phase uses the sample service itself).
    copies = [*services, *(name for phase, name in PHASE_COPIES.items() if phase in wanted)]
    options = [option for service in copies for option in ("--sample-copy", service)]
    checks = Checks()
    began = time.monotonic()
    with local_plane(options) as plane:
        print(f"local plane up in {time.monotonic() - began:.0f} s with {len(options) // 2 + 1} pipelines")
        phases: dict[str, Callable[[], None]] = {
            "many": lambda: many_pipelines(plane, services, checks),
            "race": lambda: racing(plane, args.racing, checks),
            "cost": lambda: cost_per_promotion(plane, args.init_runs, checks),
            "alarm": lambda: alarm_to_rollback(plane, args.alarm_trials, checks),
            "webhook": lambda: webhook_burst(plane, args.deliveries, args.senders, checks),
        }
        for phase in wanted:
            phases[phase]()
    print(
        f"\nscale bench took {time.monotonic() - began:.0f} s on {os.cpu_count()} CPUs "
        f"(load average {os.getloadavg()[1]:.1f} over the last 5 minutes)"
    )
    if checks.failed:
        print(f"{len(checks.failed)} check(s) failed: " + "; ".join(checks.failed))
        return 1
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _even(value: str) -> int:
    number = _positive(value)
    if number % 2:
        raise argparse.ArgumentTypeError("must be even (half of them are duplicates)")
    return number


if __name__ == "__main__":
    raise SystemExit(main())
