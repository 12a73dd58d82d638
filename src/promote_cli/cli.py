"""``promote``: operate promotions on AWS or on the local control plane.

Errors a user can fix print one line on stderr and exit 2; an unexpected failure exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from promote_cli import approvals as approvals_cli
from promote_cli import publish as publishing
from promote_cli.control import ControlError, ControlPlane, follow
from promotion.errors import PromotionError
from promotion.pipeline.artifacts import build_prefix

LOCAL_STATE_FILE = Path(os.environ.get("PROMOTE_STATE_DIR", ".promote")) / "local.json"
# Where `promote publish` puts builds when --bucket/--prefix are not given. CI's role may only put objects,
# so it cannot read the bucket's name from the stack: the name is configuration (the stack's
# ArtifactBucketName output).
ARTIFACT_BUCKET_ENV = "PROMOTE_ARTIFACT_BUCKET"
ARTIFACT_PREFIX_ENV = "PROMOTE_ARTIFACT_PREFIX"


def _local_state() -> dict[str, Any]:
    try:
        return dict(json.loads(LOCAL_STATE_FILE.read_text()))
    except FileNotFoundError:
        raise ControlError(
            f"no local control plane found ({LOCAL_STATE_FILE} missing): run 'promote local up'"
        ) from None


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


def _control(args: argparse.Namespace) -> ControlPlane:
    options = _session_args(args)
    if args.local:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    stack = _local_state()["stack_name"] if args.local else args.stack
    return ControlPlane(
        stack_name=stack,
        sfn=boto3.client("stepfunctions", **options),
        ssm=boto3.client("ssm", **options),
        dynamodb=boto3.resource("dynamodb", **options),
        console_base=_local_state().get("console_url") if args.local else None,
    )


def _sha(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{40}", value):
        raise argparse.ArgumentTypeError("must be a full 40-character lowercase hex commit SHA")
    return value


# ---- commands ---------------------------------------------------------------------------------
def cmd_local_up(args: argparse.Namespace) -> int:
    from promote_cli.local.plane import LocalControlPlane, PlaneOptions

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
        options.pipeline_files = [Path(p) for p in args.pipeline_file]
    options.sample_copies = list(dict.fromkeys(args.sample_copy or []))
    plane = LocalControlPlane(options)
    ready = plane.start()
    LOCAL_STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    LOCAL_STATE_FILE.write_text(json.dumps(ready, indent=2))
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    # After the ready line, stdout belongs to whoever reads it: handler logs and the outbox go to stderr.
    sys.stdout = sys.stderr
    _print_outbox_forever(plane, args.quiet)
    return 0


def _print_outbox_forever(plane: Any, quiet: bool) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    printed = 0
    try:
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
    except KeyboardInterrupt:
        pass
    finally:
        plane.stop()
        LOCAL_STATE_FILE.unlink(missing_ok=True)


def cmd_local_publish(args: argparse.Namespace) -> int:
    from promote_cli.local import sample

    args.local = True
    control = _control(args)
    config = control.pipeline(args.pipeline)
    s3 = boto3.client("s3", **_session_args(args))
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


def cmd_cancel(args: argparse.Namespace) -> int:
    control = _control(args)
    print(json.dumps(control.cancel(args.execution_arn, reason=args.reason, requested_by=getpass.getuser())))
    return 0


def cmd_unfreeze(args: argparse.Namespace) -> int:
    control = _control(args)
    print(
        json.dumps(control.unfreeze(control.dynamodb, args.pipeline, args.environment, by=getpass.getuser()))
    )
    return 0


def cmd_freeze(args: argparse.Namespace) -> int:
    control = _control(args)
    print(
        json.dumps(control.freeze(args.pipeline, args.environment, reason=args.reason, by=getpass.getuser()))
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    control = _control(args)
    report = control.status(_environment_clients(args, "lambda"), args.pipeline, history=args.history)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    frozen = f"  FROZEN: {report['frozen']}" if report["frozen"] else ""
    print(f"{report['pipeline']} ({report['repo']}){frozen}")
    for environment, state in report["environments"].items():
        flags = "".join(
            f"  [{label}: {value}]"
            for label, value in (("frozen", state["frozen"]), ("locked by", state["locked_by"]))
            if value
        )
        versions = ", ".join(f"{key} v{s['version']}" for key, s in state["serving"].items())
        print(
            f"  {environment}: {versions}; commit {str(state['sha'])[:12]}, "
            f"known-good {str(state['known_good_sha'])[:12]}{flags}"
        )
        for entry in state["history"]:
            print(
                f"    {entry['execution']:45} {entry['mode']:8} {entry['outcome']:16} "
                f"approver {entry['approver']}"
            )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    control = _control(args)
    print(json.dumps(control.rollback(args.pipeline, args.environment, requested_by=getpass.getuser())))
    return 0


def cmd_redeploy(args: argparse.Namespace) -> int:
    control = _control(args)
    print(
        json.dumps(
            control.redeploy(args.pipeline, args.environment, args.sha, requested_by=getpass.getuser())
        )
    )
    return 0


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
        args.pipeline, args.sha, requested_by=getpass.getuser(), attempt=args.attempt
    )
    print(json.dumps(started))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    control = _control(args)
    final = "UNKNOWN"
    for event in follow(control.sfn, args.execution_arn, timeout_seconds=args.timeout):
        if event.kind == "entered":
            print(f"-> {event.state}")
        elif event.kind == "task-failed":
            print(f"   ! {event.detail[:300]}")
        else:
            final = event.detail
    print(final)
    return 0 if final == "SUCCEEDED" else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from promote_cli.local.demo import run_demo

    return run_demo()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promote", description=__doc__)
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
    up.add_argument("--api-port", type=int, default=0, help="HTTP API port (default: any free port)")
    up.add_argument("--aws-port", type=int, default=0, help="AWS endpoint port (default: any free port)")
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
    publish.add_argument("--variant", default="good", choices=("good", "fails-preprod", "fails-in-prod"))
    publish.add_argument("--pipeline", default="sentiment-service")
    publish.set_defaults(func=cmd_local_publish)

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

    cancel = commands.add_parser("cancel", help="stop a running promotion; its cleanup still runs")
    cancel.add_argument("execution_arn")
    cancel.add_argument("--reason", default="cancelled by an operator")
    cancel.set_defaults(func=cmd_cancel)

    unfreeze = commands.add_parser("unfreeze", help="clear a freeze (a failed rollback's, or an operator's)")
    unfreeze.add_argument("--pipeline", required=True)
    unfreeze.add_argument(
        "--environment",
        default="*",
        choices=("preprod", "prod", "*"),
        help="default: the pipeline-wide freeze",
    )
    unfreeze.set_defaults(func=cmd_unfreeze)

    freeze = commands.add_parser("freeze", help="stop new promotions of a pipeline or one environment")
    freeze.add_argument("--pipeline", required=True)
    freeze.add_argument("--environment", default="*", choices=("preprod", "prod", "*"), help="default: all")
    freeze.add_argument("--reason", required=True)
    freeze.set_defaults(func=cmd_freeze)

    status = commands.add_parser("status", help="what each environment runs, and its recent deployments")
    status.add_argument("--pipeline", required=True)
    status.add_argument("--history", type=int, default=5)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    rollback = commands.add_parser("rollback", help="run the environment's last known-good build again")
    rollback.add_argument("environment", choices=("preprod", "prod"))
    rollback.add_argument("--pipeline", required=True)
    rollback.set_defaults(func=cmd_rollback)

    redeploy = commands.add_parser("redeploy", help="deploy a given (possibly older) build on purpose")
    redeploy.add_argument("environment", choices=("preprod", "prod"))
    redeploy.add_argument("sha", type=_sha)
    redeploy.add_argument("--pipeline", required=True)
    redeploy.set_defaults(func=cmd_redeploy)

    start = commands.add_parser("start", help="start a promotion of one commit")
    start.add_argument("--pipeline", required=True)
    start.add_argument("--sha", type=_sha, required=True)
    start.add_argument("--attempt", type=int, default=None, help="attempt number (default: the next one)")
    start.set_defaults(func=cmd_start)

    watch = commands.add_parser("watch", help="follow an execution state by state until it ends")
    watch.add_argument("execution_arn")
    watch.add_argument("--timeout", type=float, default=3600)
    watch.set_defaults(func=cmd_watch)

    demo = commands.add_parser("demo", help="a full local promotion, end to end")
    demo.set_defaults(func=cmd_demo)

    approvals_cli.add_commands(
        commands,
        local_state=_local_state,
        stack_name=lambda args: str(_local_state()["stack_name"]) if args.local else str(args.stack),
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ControlError, PromotionError, publishing.PublishError) as error:
        # One line, whatever the message: botocore's, for one, span several.
        print("promote: " + " ".join(str(error).split()), file=sys.stderr)
        return 2
