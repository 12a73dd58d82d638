"""``promote``: operate promotions on AWS or on the local control plane.

Errors a user can fix print one line on stderr and exit 2 (``main`` maps each known kind of error to its
line); an unexpected failure exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from promote_cli import approvals as approvals_cli
from promote_cli import execution_commands, github_connect, operator_reads, pipeline_commands
from promote_cli import operator_controls as operator_controls_cli
from promote_cli import publish as publishing
from promote_cli import rollback as rollback_cli
from promote_cli.control import ControlError, ControlPlane, stated_operator
from promote_cli.local.sample import VARIANTS as SAMPLE_VARIANTS
from promotion.errors import PromotionError
from promotion.pipeline.artifacts import build_prefix

STATE_DIR_ENV = "PROMOTE_STATE_DIR"
STATE_FILE_NAME = "local.json"
# Where `promote publish` puts builds when --bucket/--prefix are not given. CI's role may only put objects,
# so it cannot read the bucket's name from the stack: the name is configuration (the stack's
# ArtifactBucketName output).
ARTIFACT_BUCKET_ENV = "PROMOTE_ARTIFACT_BUCKET"
ARTIFACT_PREFIX_ENV = "PROMOTE_ARTIFACT_PREFIX"


def state_file_to_write() -> Path:
    """Where ``promote local up`` writes its state: ``$PROMOTE_STATE_DIR/local.json``, else
    ``./.promote/local.json``."""
    return Path(os.environ.get(STATE_DIR_ENV) or ".promote") / STATE_FILE_NAME


def find_state_file() -> Path | None:
    """The running local plane's state file: ``$PROMOTE_STATE_DIR/local.json`` when that is set, else the
    nearest ``.promote/local.json`` in this directory or one of its parents (as git finds ``.git``)."""
    if os.environ.get(STATE_DIR_ENV):
        explicit = state_file_to_write()
        return explicit if explicit.is_file() else None
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        candidate = directory / ".promote" / STATE_FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def _local_state() -> dict[str, Any]:
    found = find_state_file()
    if found is None:
        where = (
            f"{state_file_to_write()} missing"
            if os.environ.get(STATE_DIR_ENV)
            else f"no .promote/{STATE_FILE_NAME} in {Path.cwd()} or its parents"
        )
        raise ControlError(f"no local control plane found ({where}): run 'promote local up'")
    try:
        state = json.loads(found.read_text())
    except ValueError:
        raise ControlError(f"{found} is not the JSON 'promote local up' writes: remove it") from None
    # The local plane accepts any credentials; a shell without AWS credentials must still reach it.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    return dict(state)


def _session_args(args: argparse.Namespace) -> dict[str, Any]:
    if args.local:
        state = _local_state()
        return {"endpoint_url": state["aws_endpoint_url"], "region_name": state["region"]}
    options: dict[str, Any] = {}
    if args.endpoint_url:
        options["endpoint_url"] = args.endpoint_url
    if args.region:
        options["region_name"] = args.region
    return options


def _environment_clients(args: argparse.Namespace, service: str) -> dict[str, Any]:
    """A client per environment: on the local plane, in the environment's own account (as its
    administrator); on AWS, with your credentials (a profile that reaches the environment's account)."""
    if args.local:
        from promote_cli.local.accounts import account_client

        state = _local_state()
        return {
            environment: account_client(
                service,
                state["accounts"][environment],
                region=state["region"],
                endpoint_url=state["aws_endpoint_url"],
            )
            for environment in ("preprod", "prod")
        }
    shared = boto3.client(service, **_session_args(args))  # type: ignore[call-overload]
    return {"preprod": shared, "prod": shared}


def _stack_name(args: argparse.Namespace) -> str:
    return str(_local_state()["stack_name"]) if args.local else str(args.stack)


def _control(args: argparse.Namespace) -> ControlPlane:
    options = _session_args(args)
    return ControlPlane(
        stack_name=_stack_name(args),
        sfn=boto3.client("stepfunctions", **options),
        ssm=boto3.client("ssm", **options),
        dynamodb=boto3.resource("dynamodb", **options),
        s3=boto3.client("s3", **options),
        say=_note,
        console_base=_local_state().get("console_url") if args.local else None,
    )


def _note(message: str) -> None:
    """Something the user should know that is not the command's result (stdout stays machine-readable)."""
    print("promote: " + " ".join(message.split()), file=sys.stderr)


def _sha(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{40}", value):
        raise argparse.ArgumentTypeError("must be a full 40-character lowercase hex commit SHA")
    return value


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {number}")
        return number

    return parse


_port = _bounded_int(0, 65535)


def _refuse_a_busy_port(host: str, port: int, option: str) -> None:
    if port == 0:
        return
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ControlError(f"{option} {port}: {host}:{port} is not free ({error.strerror})") from None


def _running_plane(state_file: Path) -> dict[str, Any] | None:
    """The plane a state file names, when its process is alive and its API answers."""
    try:
        state = json.loads(state_file.read_text())
        pid = int(state["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    import requests

    try:
        requests.get(f"{state['api_url']}/_local/info", timeout=2).raise_for_status()
    except requests.RequestException:
        return None
    return dict(state)


# ---- commands ---------------------------------------------------------------------------------
def _quiet_local_plane() -> None:
    """What the emulation says about itself, not about the promotion: moto's engine logs every caught
    task failure with its stack, and Powertools warns about metrics nobody publishes locally. The
    handlers' routine INFO lines (CloudWatch Logs' job on AWS; the console shows each step) stay out too:
    their warnings and errors still show."""
    import logging
    import warnings

    from promotion.observability import logger as handler_logger

    handler_logger.setLevel(logging.WARNING)
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"aws_lambda_powertools(\..*)?")


def cmd_local_up(args: argparse.Namespace) -> int:
    from promote_cli.local.plane import LocalControlPlane, PlaneOptions
    from promote_cli.local.template import TemplateError

    options = PlaneOptions(
        host=args.host,
        api_port=args.api_port,
        aws_port=args.aws_port,
        time_scale=args.time_scale,
        iam_enforcement=args.iam_enforcement,
    )
    if args.template:
        if not Path(args.template).is_file():
            raise ControlError(f"--template {args.template}: no such file")
        options.template = Path(args.template)
    if args.pipeline_file:
        for pipeline_file in args.pipeline_file:
            if not Path(pipeline_file).is_file():
                raise ControlError(f"--pipeline-file {pipeline_file}: no such file")
            try:
                json.loads(Path(pipeline_file).read_text())
            except ValueError as error:
                raise ControlError(f"--pipeline-file {pipeline_file}: not JSON ({error})") from None
        options.pipeline_files = [Path(p) for p in args.pipeline_file]
    options.sample_copies = list(dict.fromkeys(args.sample_copy or []))
    _refuse_a_busy_port(args.host, args.api_port, "--api-port")
    _refuse_a_busy_port(args.host, args.aws_port, "--aws-port")
    state_file = state_file_to_write()
    running = _running_plane(state_file)
    if running is not None:
        raise ControlError(
            f"a local control plane is already running (pid {running['pid']}, {running['api_url']}, "
            f"{state_file}): stop it first (kill {running['pid']}), or start another from a directory of "
            f"its own or with {STATE_DIR_ENV} set"
        )
    if not args.verbose:
        _quiet_local_plane()
    stop = _stop_on_signals()
    plane = LocalControlPlane(options)
    try:
        ready = plane.start()
    except TemplateError as error:
        plane.stop()
        raise ControlError(f"the local plane cannot start: {error}") from None
    except BaseException:
        plane.stop()
        raise
    stop.serving = True
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({**ready, "pid": os.getpid()}, indent=2))
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    # After the ready line, stdout belongs to whoever reads it: handler logs and the outbox go to stderr
    # (the handlers' Logger may have been made before, holding the real stdout).
    sys.stdout = sys.stderr
    import logging

    from promotion.observability import logger as handler_logger

    if isinstance(handler_logger.registered_handler, logging.StreamHandler):
        handler_logger.registered_handler.setStream(sys.stderr)
    try:
        _print_outbox_until(stop, plane, args.quiet)
    finally:
        plane.stop()
        if _running_plane_pid(state_file) == os.getpid():
            state_file.unlink(missing_ok=True)
    print(f"promote: local control plane stopped ({stop.reason})", file=sys.stderr)
    return 0


class _StopRequest(threading.Event):
    reason = "stopped"
    serving = False


def _stop_on_signals() -> _StopRequest:
    """SIGINT and SIGTERM stop the plane cleanly. SIGINT explicitly: a shell starts a background job
    (``promote local up &``) with SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    stop = _StopRequest()

    def request_stop(number: int, _frame: Any) -> None:
        stop.reason = signal.Signals(number).name
        stop.set()
        if not stop.serving:
            raise KeyboardInterrupt  # abandon a start in progress; the caller stops what started

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, request_stop)
    return stop


def _running_plane_pid(state_file: Path) -> int | None:
    try:
        return int(json.loads(state_file.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _print_outbox_until(stop: threading.Event, plane: Any, quiet: bool) -> None:
    printed = 0
    while not stop.wait(0.5):
        messages = plane.outbox.messages()
        for message in messages[printed:]:
            if not quiet:
                print(
                    f"--- outbox: {message.channel} to {message.recipient}: {message.subject}",
                    file=sys.stderr,
                )
                print(message.text, file=sys.stderr)
        printed = len(messages)


def cmd_local_publish(args: argparse.Namespace) -> int:
    from promote_cli.local import sample

    args.local = True
    control = _control(args)
    config = control.pipeline(args.pipeline)
    s3 = control.s3
    build = sample.publish_build(
        s3,
        bucket=config.artifacts.bucket,
        prefix=config.artifacts.prefix,
        repo=config.repo,
        sha=args.sha,
        variant=args.variant,
    )
    print(json.dumps(build.__dict__))
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    if not args.bucket:
        raise publishing.PublishError(f"no artifact bucket: pass --bucket or set {ARTIFACT_BUCKET_ENV}")
    source = publishing.artifact_source(args.bucket, args.prefix)
    repo = publishing.check_repo(args.repo)
    sha = publishing.check_sha(args.sha)
    build = publishing.read_build_directory(Path(args.directory))
    package = publishing.package_zip(build.files, build.executable)
    s3 = boto3.client("s3", **_session_args(args))
    try:
        published = publishing.publish_package(
            s3, source=source, repo=repo, sha=sha, package=package, builder=args.builder
        )
    except ClientError as error:
        details = error.response.get("Error", {})
        raise publishing.PublishError(
            f"S3 refused the upload to s3://{source.bucket}/{build_prefix(source, repo, sha)}: "
            f"{details.get('Code', 'error')}: {details.get('Message', error)}"
        ) from None
    except BotoCoreError as error:
        raise publishing.PublishError(f"S3 upload failed: {error}") from None
    print(json.dumps(dataclasses.asdict(published)))
    return 0


def cmd_local_traffic(args: argparse.Namespace) -> int:
    """Users for a while: the pipeline's checks and a few users' requests against an environment's alias,
    so that Lambda's per-version metrics fill and a canary analysis has something to judge."""
    from promote_cli.local.traffic import TrafficGenerator

    args.local = True
    config = _control(args).pipeline(args.pipeline)
    base_url = config.environments.target(args.environment).base_url
    # Ctrl-C ends it early, with its summary.
    with contextlib.suppress(KeyboardInterrupt), TrafficGenerator(base_url, config.checks) as traffic:
        threading.Event().wait(args.seconds)
    summary = {"pipeline": args.pipeline, "environment": args.environment, "base_url": base_url}
    print(json.dumps(summary | {"sent": traffic.sent, "failed": dict(traffic.failures)}))
    return 0


def cmd_local_alarm(args: argparse.Namespace) -> int:
    args.local = True
    # The alarm is in whichever environment's account has it.
    cloudwatch = next(
        (
            client
            for client in _environment_clients(args, "cloudwatch").values()
            if client.describe_alarms(AlarmNames=[args.name])["MetricAlarms"]
        ),
        None,
    )
    if cloudwatch is None:
        raise ControlError(f"no alarm named {args.name!r} on the local plane")
    cloudwatch.set_alarm_state(
        AlarmName=args.name, StateValue=args.state, StateReason="set by promote local alarm"
    )
    print(json.dumps({"alarm": args.name, "state": args.state}))
    return 0


def cmd_check_isolation(args: argparse.Namespace) -> int:
    from promote_cli import isolation

    control = _control(args)
    config = control.pipeline(args.pipeline)
    if args.local:
        from promote_cli.local.accounts import account_client, role_policies

        state = _local_state()
        region, default_account = state["region"], state["accounts"]["control_plane"]

        def policies_of(role_arn: str) -> list[dict[str, Any]]:
            iam = account_client(
                "iam", role_arn.split(":")[4], region=region, endpoint_url=state["aws_endpoint_url"]
            )
            return role_policies(iam, role_arn)

    else:
        session = boto3.session.Session(
            **{k: v for k, v in _session_args(args).items() if k == "region_name"}
        )
        region = session.region_name or "us-east-1"
        default_account = str(boto3.client("sts", **_session_args(args)).get_caller_identity()["Account"])
    try:
        requests = isolation.cross_environment_requests(
            config, region=region, default_account=default_account
        )
    except ValueError as error:
        raise ControlError(str(error)) from error
    if args.environment:
        requests = [r for r in requests if r.role_environment == args.environment]
    if args.local:
        probes = isolation.evaluate_locally(requests, policies_of)
    else:
        iam = boto3.client("iam", **_session_args(args))
        probes = isolation.simulate_on_aws(requests, lambda _role: iam)
    print(isolation.render(probes))
    return 0 if isolation.isolated(probes) else 1


def cmd_status(args: argparse.Namespace) -> int:
    control = _control(args)
    report = control.status(_environment_clients(args, "lambda"), args.pipeline, history=args.history)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print("\n".join(status_lines(report)))
    return 0


def status_lines(report: dict[str, Any]) -> list[str]:
    """``promote status`` as text: what each alias serves (version and CodeSha256), the ledger's commits,
    and the recent deployments; a value nobody recorded yet reads "none"."""

    def short(value: Any, length: int = 12) -> str:
        return str(value)[:length] if value else "none"

    frozen = f"  FROZEN: {report['frozen']}" if report["frozen"] else ""
    lines = [f"{report['pipeline']} ({report['repo']}){frozen}"]
    for environment, state in report["environments"].items():
        flags = "".join(
            f"  [{label}: {value}]"
            for label, value in (("frozen", state["frozen"]), ("locked by", state["locked_by"]))
            if value
        )
        commits = f"commit {short(state['sha'])}, known-good {short(state['known_good_sha'])}"
        lines.append(f"  {environment}: {commits}{flags}")
        for key, serving in state["serving"].items():
            lines.append(
                f"    {key:10} {serving['function']} alias {serving['alias']} -> v{serving['version']}  "
                f"CodeSha256 {serving['code_sha256']}"
            )
        for entry in state["history"]:
            analysis = entry.get("canary_analysis")
            lines.append(
                f"    {entry['execution']:45} {entry['mode']:8} {entry['outcome']:16} "
                f"approver {entry['approver'] or 'none'}"
                + (f"  canary analysis {analysis['verdict']}" if analysis else "")
            )
    return lines


def _service_name(value: str) -> str:
    from promote_cli.local import sample

    try:
        sample.copy_pipeline_document(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return value


def _time_scale(value: str) -> float:
    scale = float(value)
    if not 0 < scale <= 1:
        raise argparse.ArgumentTypeError("must be greater than 0 and at most 1")
    return scale


def cmd_start(args: argparse.Namespace) -> int:
    started = _control(args).start(
        args.pipeline,
        args.sha,
        requested_by=stated_operator(),
        attempt=args.attempt,
        supersede=args.supersede,
        wait_for_build=args.wait_for_build,
    )
    print(json.dumps(started))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from promote_cli.local.demo import run_demo

    # Each line as it happens, also when stdout is a pipe (`promote demo | tee demo.log`).
    return run_demo(lambda line: print(line, flush=True), keep=args.keep)


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit 2), as every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="promote", description=__doc__)
    parser.add_argument(
        "--stack",
        default=os.environ.get("PROMOTE_STACK", "release-promotion"),
        help="control-plane stack name (default: release-promotion)",
    )
    parser.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
    parser.add_argument("--endpoint-url", default=None, help="AWS endpoint override")
    parser.add_argument("--local", action="store_true", help="act on the running local control plane")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="the local control plane").add_subparsers(
        dest="local_command", required=True
    )
    up = local.add_parser("up", help="start the local control plane and serve until interrupted")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--api-port", type=_port, default=0, help="HTTP API port (default: any free port)")
    up.add_argument("--aws-port", type=_port, default=0, help="AWS endpoint port (default: any free port)")
    up.add_argument("--pipeline-file", action="append", help="pipeline config JSON (repeatable)")
    up.add_argument(
        "--sample-copy",
        action="append",
        type=_service_name,
        metavar="NAME",
        help="another copy of the sample service with its own pipeline (NAME-service) and environments "
        "(repeatable)",
    )
    up.add_argument("--quiet", action="store_true", help="do not print outbox messages")
    up.add_argument(
        "--verbose",
        action="store_true",
        help="also print what the emulation logs (moto's engine, Powertools' warnings)",
    )
    up.add_argument(
        "--time-scale",
        type=_time_scale,
        default=1.0,
        help="shrink Wait states, Retry intervals and task timeouts by this factor (e.g. 0.1)",
    )
    up.add_argument(
        "--no-iam-enforcement",
        dest="iam_enforcement",
        action="store_false",
        help="let the template's roles do anything (default: their IAM policies are enforced)",
    )
    up.add_argument("--template", help="the control plane's SAM template (default: the repository's)")
    up.set_defaults(func=cmd_local_up)
    publish = local.add_parser("publish", help="upload a sample-service build for a commit, as CI would")
    publish.add_argument("--sha", type=_sha, required=True)
    publish.add_argument("--variant", default="good", choices=SAMPLE_VARIANTS)
    publish.add_argument("--pipeline", default="sentiment-service")
    publish.set_defaults(func=cmd_local_publish)

    traffic = local.add_parser(
        "traffic",
        help="send users' traffic to an environment's alias for a while (what a canary analysis judges)",
    )
    traffic.add_argument("--pipeline", default="sentiment-service")
    traffic.add_argument("--environment", choices=("preprod", "prod"), default="prod")
    traffic.add_argument(
        "--seconds", type=_bounded_int(1, 3600), default=60, help="how long (1-3600, default 60)"
    )
    traffic.set_defaults(func=cmd_local_traffic)

    alarm = local.add_parser("alarm", help="set an alarm's state (the local plane never evaluates alarms)")
    alarm.add_argument("name")
    alarm.add_argument("state", choices=("ALARM", "OK", "INSUFFICIENT_DATA"))
    alarm.set_defaults(func=cmd_local_alarm)

    ci_publish = commands.add_parser(
        "publish",
        help="zip a build directory and put it, then its manifest, where promotions fetch it (CI)",
    )
    ci_publish.add_argument("directory", help="the service's build: every file in it goes into the zip")
    ci_publish.add_argument("--repo", required=True, help="OWNER/REPO, as the pipeline config names it")
    ci_publish.add_argument("--sha", required=True, help="the full 40-character commit SHA")
    ci_publish.add_argument(
        "--bucket",
        default=os.environ.get(ARTIFACT_BUCKET_ENV),
        help=f"the artifact bucket (the stack's ArtifactBucketName output; default: ${ARTIFACT_BUCKET_ENV})",
    )
    ci_publish.add_argument(
        "--prefix",
        default=os.environ.get(ARTIFACT_PREFIX_ENV, "builds/"),
        help=f"the pipeline's artifacts.prefix (default: ${ARTIFACT_PREFIX_ENV} or builds/)",
    )
    ci_publish.add_argument(
        "--builder",
        default=publishing.default_builder(),
        help="recorded in the manifest (default: the GitHub Actions run URL, when there is one)",
    )
    ci_publish.set_defaults(func=cmd_publish)

    check = commands.add_parser(
        "check-isolation",
        help="prove each environment's deployer role is denied everything on the other environment",
    )
    check.add_argument("--pipeline", required=True)
    check.add_argument(
        "--environment",
        choices=["preprod", "prod"],
        help="check only this environment's role (on AWS: run with credentials of the role's account)",
    )
    check.set_defaults(func=cmd_check_isolation)

    operator_controls_cli.add_commands(commands, local_state=_local_state, stack_name=_stack_name)

    status = commands.add_parser("status", help="what each environment runs, and its recent deployments")
    status.add_argument("--pipeline", required=True)
    status.add_argument(
        "--history",
        type=_bounded_int(1, 100),
        default=5,
        help="how many recent deployments to show per environment (1-100, default 5)",
    )
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    rollback_cli.add_commands(
        commands,
        control=_control,
        local_state=_local_state,
        stack_name=_stack_name,
        sha=_sha,
    )

    start = commands.add_parser("start", help="start a promotion of one commit")
    start.add_argument("--pipeline", required=True)
    start.add_argument("--sha", type=_sha, required=True)
    start.add_argument(
        "--attempt",
        type=_bounded_int(1, 999),
        default=None,
        help="attempt number (default: the next one; an attempt that exists is refused)",
    )
    start.add_argument(
        "--supersede",
        action="store_true",
        help="start the next attempt even while an earlier attempt of the commit is still running "
        "(the new one takes over its deploy locks)",
    )
    start.add_argument(
        "--wait-for-build",
        action="store_true",
        help="start even if the commit's build is not published yet: the promotion waits for it "
        "(the pipeline's artifacts.wait_seconds)",
    )
    start.set_defaults(func=cmd_start)

    demo = commands.add_parser("demo", help="a full local promotion, end to end")
    demo.add_argument(
        "--keep", action="store_true", help="keep the local plane up afterwards, to look around its console"
    )
    demo.set_defaults(func=cmd_demo)

    approvals = approvals_cli.add_commands(
        commands,
        local_state=_local_state,
        stack_name=_stack_name,
    )
    operator_reads.add_audit_command(approvals, local_state=_local_state, stack_name=_stack_name)
    # pipeline validate|put|show|list|schema
    pipeline_commands.add_commands(
        commands,
        local_state=_local_state,
        session_args=_session_args,
        stack_name=_stack_name,
    )
    # github connect|check
    github = github_connect.add_commands(
        commands,
        control=_control,
        local_state=_local_state,
        session_args=_session_args,
        stack_name=_stack_name,
    )
    operator_reads.add_github_check_command(github, local_state=_local_state, stack_name=_stack_name)
    # executions, describe, watch, cancel, graph
    execution_commands.add_commands(
        commands, control=_control, local_state=_local_state, session_args=_session_args
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (
        ControlError,
        PromotionError,
        publishing.PublishError,
        NoRegionError,
        NoCredentialsError,
        EndpointConnectionError,
        ClientError,
        BotoCoreError,
        OSError,
    ) as error:
        # One line, whatever the message: botocore's, for one, span several.
        print("promote: " + " ".join(error_line(error).split()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("promote: interrupted", file=sys.stderr)
        return 130


def error_line(error: Exception) -> str:
    """What a user can do about ``error``, in one line."""
    if isinstance(error, NoRegionError):
        return (
            "no AWS region configured: pass --region, set AWS_REGION or a profile's region, "
            "or use --local for the local control plane"
        )
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials found: configure a profile (aws configure, AWS_PROFILE) or set "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use --local for the local control plane"
        )
    if isinstance(error, EndpointConnectionError):
        return f"{error}: is the control plane there (or the local plane still running)?"
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "the call")
        return f"AWS refused {operation}: {details.get('Code', 'error')}: {details.get('Message', error)}"
    if isinstance(error, OSError) and not isinstance(error, BotoCoreError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror}"
    return str(error)
