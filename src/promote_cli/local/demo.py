"""``promote demo``: a full promotion on a fresh local control plane, shown state by state.

It starts ``promote local up`` in its own process, publishes a build as CI would, starts the promotion
through the GitHub webhook (the build's ``workflow_run``, signed with the plane's webhook secret), and
when the approval email lands in the outbox it opens the link and posts Approve from the page, as a
person would. It exits 0 only if prod ends up serving exactly the published bytes.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import boto3
import requests

from promote_cli.control import ControlError, ControlPlane, follow, serving
from promote_cli.local import github_payloads, sample
from promote_cli.local.accounts import account_client
from promotion.console import execution_console_url
from promotion.pipeline.artifacts import lambda_code_sha256

Say = Callable[[str], None]


class LocalPlaneProcess:
    """``promote local up`` in a child process, stopped on exit."""

    def __init__(self, state_dir: Path, options: Sequence[str] = ()) -> None:
        """``options``: more ``promote local up`` options (``--time-scale``, ``--sample-copy``, ...)."""
        self.log_path = state_dir / "local-plane.log"
        self._log = self.log_path.open("w")
        env = {**os.environ, "PROMOTE_STATE_DIR": str(state_dir)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "promote_cli", "local", "up", "--quiet", *options],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
        )

    def wait_ready(self, timeout: float = 90) -> dict[str, Any]:
        assert self._process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self._process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise ControlError(f"local plane not ready after {timeout:.0f}s; see {self.log_path}")
        line = self._process.stdout.readline()
        if not line:
            raise ControlError(f"local plane exited with {self._process.wait()}; see {self.log_path}")
        return dict(json.loads(line))

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._log.close()


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = attributes.get("action", "")
        elif tag == "input" and attributes.get("type") == "hidden":
            self.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "button" and attributes.get("name") == "decision":
            self.buttons[attributes.get("id", "")] = attributes.get("value", "")


def approve_from_email(outbox_url: str, sha: str, *, say: Say, timeout: float = 30) -> str:
    """Find the approval email for ``sha``, open its link, and press Approve on the page."""
    deadline = time.monotonic() + timeout
    link = None
    while link is None:
        for message in requests.get(outbox_url, timeout=5).json():
            approval_links = [url for url in message["links"] if "/approvals/" in url]
            if sha[:12] in message["subject"] and approval_links:
                link, recipient = approval_links[0], message["recipient"]
                break
        else:
            if time.monotonic() > deadline:
                raise ControlError("no approval email reached the outbox")
            time.sleep(0.2)
    say(f"   email to {recipient}: {link[:90]}...")
    page = requests.get(link, timeout=5)
    say(f"   GET link -> {page.status_code} confirmation page (nothing decided yet)")
    form = _FormParser()
    form.feed(page.text)
    if page.status_code != 200 or "approve" not in form.buttons:
        raise ControlError(f"approval page did not offer Approve (status {page.status_code})")
    answer = requests.post(
        urljoin(link, form.action),
        data={**form.fields, "decision": form.buttons["approve"], "reason": "demo: looks good"},
        timeout=10,
    )
    say(f"   POST Approve -> {answer.status_code}")
    if answer.status_code != 200:
        raise ControlError(f"approval POST answered {answer.status_code}")
    return str(recipient)


@dataclass
class ScenarioResult:
    name: str
    ok: bool
    detail: str


def promote_sample_build(
    ready: dict[str, Any], variant: str, *, say: Say
) -> tuple[str, Any, dict[str, Any], str]:
    """Publish a build of ``variant`` as CI would, start its promotion, approve it from the email, follow
    it to the end. Returns (final status, the build, prod before, pipeline name)."""
    endpoint = {"endpoint_url": ready["aws_endpoint_url"], "region_name": ready["region"]}
    control = ControlPlane(
        ready["stack_name"], boto3.client("stepfunctions", **endpoint), boto3.client("ssm", **endpoint)
    )
    config = control.pipeline(ready["pipeline"])
    before = serving(_prod_lambda(ready), config, "prod")
    sha = secrets.token_hex(20)
    build = sample.publish_build(
        boto3.client("s3", **endpoint),
        bucket=config.artifacts.bucket,
        prefix=config.artifacts.prefix,
        repo=config.repo,
        sha=sha,
        variant=variant,
    )
    say(
        f"CI published {config.repo}@{sha[:12]} ({variant}): sha256 {build.sha256[:16]}..., "
        f"S3 version {build.package_version_id}"
    )
    started = start_through_webhook(
        ready, config.repo, sha, branch=config.branch, workflow=config.github.build_workflow
    )
    say(f"GitHub webhook (signed workflow_run, build succeeded) -> started {started['execution_name']}")
    say(f"   watch it: {execution_console_url(started['execution_arn'], ready.get('console_url'))}")
    began = time.monotonic()
    final = "UNKNOWN"
    for event in follow(control.sfn, started["execution_arn"], timeout_seconds=120):
        if event.kind == "entered":
            say(f"  {time.monotonic() - began:5.1f}s  {event.state}")
            if event.state == "Wait for approval":
                approve_from_email(ready["outbox_url"], sha, say=say)
        elif event.kind == "task-failed":
            say(f"          ! {event.detail[:200]}")
        else:
            final = event.detail
    return final, build, before, config.name


def start_through_webhook(
    ready: dict[str, Any], repo: str, sha: str, *, branch: str, workflow: str
) -> dict[str, Any]:
    """Deliver the build's successful ``workflow_run`` to the webhook, signed as GitHub signs it."""
    payload = github_payloads.build_run_completed(repo=repo, sha=sha, branch=branch, workflow=workflow)
    body, headers = github_payloads.signed_delivery(
        payload, event="workflow_run", secret=ready["webhook_secret"]
    )
    answer = requests.post(ready["webhook_url"], data=body, headers=headers, timeout=15)
    if answer.status_code != 201:
        raise ControlError(f"webhook answered {answer.status_code}: {answer.text[:300]}")
    return dict(answer.json())


def _prod_lambda(ready: dict[str, Any]) -> Any:
    """Lambda in prod's account, which the ready line names (the local plane keeps it apart, as AWS may)."""
    return account_client(
        "lambda", ready["accounts"]["prod"], region=ready["region"], endpoint_url=ready["aws_endpoint_url"]
    )


def _show_prod(ready: dict[str, Any], before: dict[str, Any], *, say: Say) -> dict[str, Any]:
    endpoint = {"endpoint_url": ready["aws_endpoint_url"], "region_name": ready["region"]}
    control = ControlPlane(
        ready["stack_name"], boto3.client("stepfunctions", **endpoint), boto3.client("ssm", **endpoint)
    )
    config = control.pipeline(ready["pipeline"])
    after = serving(_prod_lambda(ready), config, "prod")
    for key, now in after.items():
        say(
            f"  prod {now['function']}: {now['alias']} -> v{now['version']} (was v{before[key]['version']}), "
            f"CodeSha256 {now['code_sha256']}"
        )
    return after


def scenario_approved(ready: dict[str, Any], *, say: Say) -> ScenarioResult:
    say("== scenario 1: a good build, approved by email, reaches prod")
    final, build, before, _ = promote_sample_build(ready, "good", say=say)
    after = _show_prod(ready, before, say=say)
    expected = lambda_code_sha256(build.sha256)
    health = requests.get(
        f"{ready['api_url']}/_local/fn/{after['api']['function']}/live/health", timeout=10
    ).json()
    say(f"  prod /health: {health}")
    ok = (
        final == "SUCCEEDED"
        and all(f["code_sha256"] == expected for f in after.values())
        and health.get("version") == build.sha
    )
    return ScenarioResult("approved promotion", ok, f"{final}; prod serves the published build: {ok}")


def scenario_canary_rollback(ready: dict[str, Any], *, say: Say) -> ScenarioResult:
    say("== scenario 2: a build that passes preprod but fails the prod canary is rolled back")
    final, _build, before, _ = promote_sample_build(ready, "fails-in-prod", say=say)
    after = _show_prod(ready, before, say=say)
    restored = all(after[key]["version"] == before[key]["version"] for key in before)
    restored = restored and all(after[key]["code_sha256"] == before[key]["code_sha256"] for key in before)
    ok = final == "FAILED" and restored
    return ScenarioResult(
        "canary failure rolls back", ok, f"{final}; prod back on the previous versions: {restored}"
    )


def until_interrupted() -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM."""
    import signal
    import threading

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(say: Say = print, *, keep: bool = False, hold: Callable[[], None] = until_interrupted) -> int:
    # The local plane accepts any credentials; set some so boto3 does not go looking for real ones.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    with tempfile.TemporaryDirectory(prefix="promote-demo-") as state:
        started = time.monotonic()
        plane = LocalPlaneProcess(Path(state))
        try:
            ready = plane.wait_ready()
            say(
                f"local control plane up in {time.monotonic() - started:.1f}s: API {ready['api_url']}, "
                f"AWS {ready['aws_endpoint_url']}"
            )
            say(f"console: {ready['console_url']}")
            results = [scenario_approved(ready, say=say), scenario_canary_rollback(ready, say=say)]
            if keep:
                for result in results:
                    say(f"{'PASS' if result.ok else 'FAIL'}  {result.name}: {result.detail}")
                say(f"the plane stays up: open {ready['console_url']} (Ctrl-C stops it)")
                hold()
                say("stopping the local control plane")
                return 0 if all(result.ok for result in results) else 1
        except Exception as error:
            say(f"demo failed: {type(error).__name__}: {error}")
            say(plane.log_path.read_text()[-3000:])
            return 1
        finally:
            plane.stop()
        for result in results:
            say(f"{'PASS' if result.ok else 'FAIL'}  {result.name}: {result.detail}")
        say(f"demo took {time.monotonic() - started:.1f}s")
        return 0 if all(result.ok for result in results) else 1
