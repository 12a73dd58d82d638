"""``promote github connect --pipeline P``: point the pipeline's repository at the control plane's webhook.

With a GitHub token (``GITHUB_TOKEN``, or the variable ``--token-env`` names; never an argument, which
shell history and ``ps`` would show), it creates the repository webhook through GitHub's REST API, or
updates the one that already posts to this control plane: the stack's webhook URL, JSON content, the
secret the stack holds for the pipeline (read from Secrets Manager here and sent only to GitHub), the
events the pipeline starts on. GitHub then delivers a ``ping``, which the control plane answers only when
the signature verifies; the command waits for that answer and says what it was. Without a token it prints
the exact steps for the repository's settings page instead, and the command that reads the secret.

A token needs the ``admin:repo_hook`` scope (classic) or "Webhooks: read and write" (fine-grained) on the
repository; the control plane's own API token (read-only, for the Dependabot proof and deployment
statuses) should not have it.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import requests

from promote_cli.approvals import StackName, stack_api_url
from promote_cli.control import ControlError, ControlPlane
from promotion.github.client import GitHubClient, GitHubUnavailable
from promotion.models.config import PipelineConfig

Control = Callable[[argparse.Namespace], ControlPlane]
LocalState = Callable[[], dict[str, Any]]
SessionArgs = Callable[[argparse.Namespace], dict[str, Any]]

# template.yaml: the GitHubWebhookSecret resource's name, the secret of every pipeline without its own.
DEFAULT_WEBHOOK_SECRET = "{stack}/github/webhook/default"  # noqa: S105 - a secret's name
# template.yaml: the webhook route.
WEBHOOK_PATH = "/webhooks/github/{pipeline}"
DEFAULT_TOKEN_ENV = "GITHUB_TOKEN"  # noqa: S105 - a variable's name
# GitHub delivers the ping within seconds; past this, the command says where to look instead.
PING_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class WebhookSpec:
    """What the repository's webhook must be for this control plane to start the pipeline's promotions."""

    repo: str
    url: str
    events: tuple[str, ...]
    secret_id: str

    def hook_body(self, secret: str) -> dict[str, Any]:
        return {
            "name": "web",
            "active": True,
            "events": list(self.events),
            "config": {"url": self.url, "content_type": "json", "insecure_ssl": "0", "secret": secret},
        }


def webhook_spec(config: PipelineConfig, *, stack: str, api_url: str) -> WebhookSpec:
    """The webhook the pipeline needs: ``workflow_run`` always (a finished build starts a promotion), and
    ``push`` when the pipeline also starts on pushes."""
    events = ("workflow_run", "push") if config.github.push_triggers else ("workflow_run",)
    return WebhookSpec(
        repo=config.repo,
        url=api_url.rstrip("/") + WEBHOOK_PATH.format(pipeline=quote(config.name, safe="")),
        events=events,
        secret_id=config.github.webhook_secret_id or DEFAULT_WEBHOOK_SECRET.format(stack=stack),
    )


def settings_page(config: PipelineConfig) -> str:
    """The repository's "Add webhook" page, on github.com or on the Enterprise host the API root names."""
    api = urlsplit(config.github.api_url)
    root = "https://github.com" if api.hostname == "api.github.com" else f"{api.scheme}://{api.netloc}"
    return f"{root}/{config.repo}/settings/hooks/new"


def manual_steps(
    config: PipelineConfig, spec: WebhookSpec, *, region: str | None, token_env: str | None
) -> list[str]:
    """The steps on GitHub's settings page; ``token_env``: the variable that held no token (None: the steps
    were asked for)."""
    region_flag = f" --region {region}" if region else ""
    event_names = {"workflow_run": "Workflow runs", "push": "Pushes"}
    why = (
        f"No GitHub token in ${token_env}: add the webhook of {spec.repo} by hand (or set a token with "
        "admin:repo_hook, or fine-grained 'Webhooks: read and write', and run this again):"
        if token_env
        else f"Add the webhook of {spec.repo} by hand:"
    )
    return [
        why,
        f"  1. Open {settings_page(config)}",
        f"  2. Payload URL: {spec.url}",
        "  3. Content type: application/json",
        "  4. Secret: the output of",
        f"       aws secretsmanager get-secret-value --secret-id {spec.secret_id}{region_flag} "
        "--query SecretString --output text",
        '     (when it is JSON, {"current": ..., "previous": ...} during a rotation, the \'current\' value)',
        "  5. SSL verification: enabled",
        "  6. Which events: 'Let me select individual events': "
        + ", ".join(event_names[event] for event in spec.events)
        + " (nothing else)",
        "  7. Active: checked; Add webhook",
        "  GitHub then sends a ping: its delivery (Recent Deliveries) shows 200 and 'pong' when the URL and "
        "the secret are right; 401 means the secret differs.",
    ]


class HooksClient(GitHubClient):
    """The repository-webhook calls of GitHub's REST API (on top of the control plane's client)."""

    def hooks(self, repo: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self._call("GET", f"/repos/{repo}/hooks", params={"per_page": 100, "page": page})
            if not isinstance(answer, list):
                raise GitHubUnavailable(f"GET /repos/{repo}/hooks: not a list")
            found += [hook for hook in answer if isinstance(hook, dict)]
            if len(answer) < 100:
                return found
            page += 1

    def hook(self, repo: str, hook_id: int) -> dict[str, Any]:
        return dict(self._call("GET", f"/repos/{repo}/hooks/{hook_id}"))

    def create_hook(self, repo: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", f"/repos/{repo}/hooks", body=body))

    def update_hook(self, repo: str, hook_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/repos/{repo}/hooks/{hook_id}", body=body))

    def ping(self, repo: str, hook_id: int) -> None:
        self._call("POST", f"/repos/{repo}/hooks/{hook_id}/pings")

    def deliveries(self, repo: str, hook_id: int) -> list[dict[str, Any]]:
        """The hook's recent deliveries, newest first (without their responses)."""
        answer = self._call("GET", f"/repos/{repo}/hooks/{hook_id}/deliveries", params={"per_page": 30})
        return (
            [delivery for delivery in answer if isinstance(delivery, dict)]
            if isinstance(answer, list)
            else []
        )

    def delivery(self, repo: str, hook_id: int, delivery_id: int) -> dict[str, Any]:
        return dict(self._call("GET", f"/repos/{repo}/hooks/{hook_id}/deliveries/{delivery_id}"))


@dataclass(frozen=True)
class Connected:
    hook_id: int
    created: bool
    # The control plane's answer to GitHub's ping: (HTTP status, its body); None when it did not arrive.
    ping: tuple[int, str] | None


def connect(
    client: HooksClient,
    spec: WebhookSpec,
    secret: str,
    *,
    wait_seconds: float = PING_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Connected:
    """Create the webhook, or update the one posting to ``spec.url`` (so running it twice changes nothing but
    the secret and events), then have GitHub ping it and wait for the ping's delivery and the control
    plane's answer."""
    existing = [hook for hook in client.hooks(spec.repo) if hook.get("config", {}).get("url") == spec.url]
    body = spec.hook_body(secret)
    if existing:
        hook_id = int(existing[0]["id"])
        seen = {delivery.get("id") for delivery in client.deliveries(spec.repo, hook_id)}
        client.update_hook(spec.repo, hook_id, body)
        client.ping(spec.repo, hook_id)
    else:
        seen = set()
        hook_id = int(client.create_hook(spec.repo, body)["id"])  # GitHub pings a new hook by itself
    deadline = clock() + wait_seconds
    while True:
        pings = [
            delivery
            for delivery in client.deliveries(spec.repo, hook_id)
            if delivery.get("event") == "ping" and delivery.get("id") not in seen
        ]
        if pings or clock() >= deadline:
            break
        sleep(1.0)
    if not pings:
        return Connected(hook_id=hook_id, created=not existing, ping=None)
    detail = client.delivery(spec.repo, hook_id, int(pings[0]["id"]))
    answer = (detail.get("response") or {}).get("payload") or pings[0].get("status") or ""
    return Connected(hook_id=hook_id, created=not existing, ping=(int(pings[0]["status_code"]), str(answer)))


def _webhook_secret(secretsmanager: Any, secret_id: str) -> str:
    # Imported here: the webhook module brings the handlers' Logger, which every other command can do without.
    from promotion.github.webhook import WebhookSecretUnusable, parse_webhook_secret

    value = str(secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"])
    try:
        return parse_webhook_secret(value)[0].decode()
    except WebhookSecretUnusable as error:
        raise ControlError(f"webhook secret {secret_id}: {error}") from None


def cmd_connect(
    args: argparse.Namespace,
    control: Control,
    local_state: LocalState,
    session_args: SessionArgs,
    stack_name: StackName,
) -> int:
    plane = control(args)
    config = plane.pipeline(args.pipeline)
    stack = stack_name(args)
    api_url = args.api_url or (str(local_state()["api_url"]) if args.local else stack_api_url(args, stack))
    spec = webhook_spec(config, stack=stack, api_url=api_url)
    secretsmanager = boto3.client("secretsmanager", **session_args(args))
    token = os.environ.get(args.token_env, "").strip()
    if not token and args.local and config.github.token_secret_id:
        # The local plane's GitHub stand-in accepts the pipeline's own API token.
        token = str(secretsmanager.get_secret_value(SecretId=config.github.token_secret_id)["SecretString"])
    if args.print_steps or not token:
        region = None if args.local else args.region
        token_env = None if args.print_steps else args.token_env
        print("\n".join(manual_steps(config, spec, region=region, token_env=token_env)))
        return 0
    client = HooksClient(config.github.api_url, token, requests.Session())
    try:
        connected = connect(client, spec, _webhook_secret(secretsmanager, spec.secret_id))
    except GitHubUnavailable as error:
        raise ControlError(
            f"GitHub refused or did not answer ({error}); the token needs admin:repo_hook (or 'Webhooks: "
            f"read and write') on {spec.repo}"
        ) from None
    verb = "created" if connected.created else "updated"
    print(f"{verb} webhook {connected.hook_id} of {spec.repo}: {spec.url} (events: {', '.join(spec.events)})")
    if connected.ping is None:
        print(
            f"no ping delivered within {PING_WAIT_SECONDS:.0f}s: see the webhook's Recent Deliveries "
            f"({settings_page(config).removesuffix('/new')})"
        )
        return 0
    status, message = connected.ping
    print(f"ping answered {status}: {message.strip()[:200]}")
    if status != 200:
        raise ControlError(
            f"the control plane refused GitHub's ping ({status}): check the secret {spec.secret_id} and "
            "the URL"
        )
    return 0


def add_commands(
    commands: Any,
    *,
    control: Control,
    local_state: LocalState,
    session_args: SessionArgs,
    stack_name: StackName,
) -> Any:
    """Register ``github connect`` on ``promote``'s subparsers; returns ``github``'s own subparsers."""
    github = commands.add_parser(
        "github", help="connect a pipeline's GitHub repository, check the control plane reaches it"
    )
    github_commands = github.add_subparsers(dest="github_command", required=True, metavar="COMMAND")
    connect_parser = github_commands.add_parser(
        "connect",
        help="create or update the repository webhook that starts the pipeline's promotions (or print the "
        "steps when no GitHub token is set)",
    )
    connect_parser.add_argument("--pipeline", required=True)
    connect_parser.add_argument(
        "--token-env",
        default=DEFAULT_TOKEN_ENV,
        help="the environment variable holding a GitHub token with admin:repo_hook "
        f"(default {DEFAULT_TOKEN_ENV})",
    )
    connect_parser.add_argument(
        "--print-steps",
        action="store_true",
        help="print the steps for GitHub's settings page; change nothing",
    )
    connect_parser.add_argument(
        "--api-url", default=None, help="the control plane's HTTP API (default: the stack's ApiUrl output)"
    )
    connect_parser.set_defaults(
        func=lambda args: cmd_connect(args, control, local_state, session_args, stack_name)
    )
    return github_commands
