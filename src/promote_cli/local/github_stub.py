"""A small stand-in for the GitHub REST endpoints the control plane calls, served on 127.0.0.1.

Only what "Decide approval path" (commit identity, the Dependabot proof) and the deployment statuses use:

- ``GET  /repos/{owner}/{repo}/commits/{sha}``            one commit: fixture data (``set_commit``); else the
  commit as a comparison fixture lists it; else, for a commit of the branch history, one GitHub links to no
  account and that nobody signed (what GitHub answers for a commit whose emails belong to no one); 422
  otherwise
- ``GET  /repos/{owner}/{repo}/commits/{sha}/pulls``      pull requests of a commit (fixture data)
- ``GET  /repos/{owner}/{repo}/pulls/{number}/commits``   a pull request's commits: fixture data
  (``set_pull_commits``); else its merge commit as ``GET .../commits/{sha}`` answers it (a pull request
  fast-forwarded onto the branch); [] when neither is known
- ``GET  /repos/{owner}/{repo}/compare/{base}...{head}``  a comparison: fixture data when a test set one;
  otherwise, when both commits are in the branch history the plane provides (the commits CI published
  builds for, in publishing order), ahead/behind/identical from their order, with each commit's author
  unknown (so nothing is proven by it); 404 for anything else
- ``GET  /repos/{owner}/{repo}``                          the repository, with the token's ``permissions``
  on it (pull, triage, push: what a pipeline token needs)
- ``GET  /rate_limit``                                      the rate limit left (5,000 an hour, less one per
  API request this stand-in answered); ``promote github check`` reads both
- ``GET|POST /repos/{owner}/{repo}/deployments``          recorded here, listed newest first
- ``GET|POST /repos/{owner}/{repo}/deployments/{id}/statuses``
- ``GET|POST /repos/{owner}/{repo}/hooks``, ``GET|PATCH .../hooks/{id}``, ``POST .../hooks/{id}/pings``,
  ``GET .../hooks/{id}/deliveries[/{delivery id}]``: repository webhooks (``promote github connect``). As
  GitHub does, a new hook and a ping request make it deliver the ``ping`` event to the hook's URL, signed
  with its secret; the delivery and the answer are recorded; the secret is never shown back

Answers are whatever tests (or ``POST /_local/fixtures``) put in, in GitHub's shapes; nothing is invented
about who authored what. Requests need ``Authorization: Bearer <token>`` with a token the plane accepted,
as GitHub would, and ``set_outage`` makes every API answer fail, for the outage paths.
``GET /_local/deployments`` shows the deployments and statuses received.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from promote_cli.local.serving import LocalServer

MAX_REQUEST_BYTES = 1024 * 1024
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_REPOSITORY = re.compile(_REPO + r"$")
_PULLS = re.compile(_REPO + r"/commits/(?P<sha>[^/]+)/pulls$")
_COMMIT = re.compile(_REPO + r"/commits/(?P<sha>[^/]+)$")
_PULL_COMMITS = re.compile(_REPO + r"/pulls/(?P<number>[0-9]+)/commits$")
_COMPARE = re.compile(_REPO + r"/compare/(?P<base>[^/.]+)\.\.\.(?P<head>[^/.]+)$")
_DEPLOYMENTS = re.compile(_REPO + r"/deployments$")
_STATUSES = re.compile(_REPO + r"/deployments/(?P<id>[0-9]+)/statuses$")
_HOOKS = re.compile(_REPO + r"/hooks$")
_HOOK = re.compile(_REPO + r"/hooks/(?P<id>[0-9]+)$")
_HOOK_PINGS = re.compile(_REPO + r"/hooks/(?P<id>[0-9]+)/pings$")
_HOOK_DELIVERIES = re.compile(_REPO + r"/hooks/(?P<id>[0-9]+)/deliveries(?:/(?P<delivery>[0-9]+))?$")
# What GitHub shows instead of a hook's secret.
MASKED_SECRET = "********"  # noqa: S105 - the mask, not a secret
RATE_LIMIT = 5000
_DEPLOYMENT_STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(repo: str) -> str:
    return repo.lower()  # GitHub's repository names are case-insensitive


class GitHubStub(LocalServer):
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._tokens: set[str] = set()
        self._pulls: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._comparisons: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._commits: dict[tuple[str, str], dict[str, Any]] = {}
        self._pull_commits: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._deployments: list[dict[str, Any]] = []
        self._statuses: dict[int, list[dict[str, Any]]] = {}
        self._hooks: dict[int, dict[str, Any]] = {}  # id -> hook, with its repo and secret
        self._deliveries: list[dict[str, Any]] = []  # hook deliveries, oldest first
        self._outage: int | None = None
        self._outage_paths: tuple[str, ...] = ()
        self._history: Callable[[str], list[str]] = lambda repo: []
        self.requests: list[tuple[str, str]] = []
        super().__init__(host, port, self._handler_class(), name="github-stub")

    # ---- fixture data (Python API; POST /_local/fixtures does the same over HTTP) --------------------
    def accept_token(self, token: str) -> None:
        with self._lock:
            self._tokens.add(token)

    def set_pull_requests(self, repo: str, sha: str, pulls: list[dict[str, Any]]) -> None:
        with self._lock:
            self._pulls[(_key(repo), sha)] = json.loads(json.dumps(pulls))

    def set_comparison(self, repo: str, base: str, head: str, comparison: dict[str, Any]) -> None:
        with self._lock:
            self._comparisons[(_key(repo), base, head)] = json.loads(json.dumps(comparison))

    def set_commit(self, repo: str, sha: str, commit: dict[str, Any]) -> None:
        """What ``GET /repos/{repo}/commits/{sha}`` answers (e.g. a commit spoofing Dependabot's email)."""
        with self._lock:
            self._commits[(_key(repo), sha)] = json.loads(json.dumps({**commit, "sha": sha}))

    def set_pull_commits(self, repo: str, number: int, commits: list[dict[str, Any]]) -> None:
        with self._lock:
            self._pull_commits[(_key(repo), number)] = json.loads(json.dumps(commits))

    def _commit(self, repo: str, sha: str) -> dict[str, Any] | None:
        with self._lock:
            if (repo, sha) in self._commits:
                found: dict[str, Any] = self._commits[(repo, sha)]
                return found
            listed = [
                commit
                for (owner, _, _), comparison in self._comparisons.items()
                if owner == repo
                for commit in comparison.get("commits", [])
                if commit.get("sha") == sha
            ]
        if listed:
            latest: dict[str, Any] = listed[-1]
            return latest
        if sha in self._history(repo):
            return {
                "sha": sha,
                "author": None,
                "committer": None,
                "commit": {
                    "author": {"name": "local build", "email": "ci@localhost"},
                    "committer": {"name": "local build", "email": "ci@localhost"},
                    "message": f"commit {sha[:12]}",
                    "verification": {"verified": False, "reason": "unsigned"},
                },
                "parents": [],
            }
        return None

    def _commits_of_pull(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            if (repo, number) in self._pull_commits:
                return list(self._pull_commits[(repo, number)])
            merged = [
                pull["merge_commit_sha"]
                for (owner, _), pulls in self._pulls.items()
                if owner == repo
                for pull in pulls
                if pull.get("number") == number and pull.get("merge_commit_sha")
            ]
        return [commit for sha in merged[-1:] if (commit := self._commit(repo, sha)) is not None]

    def set_history_source(self, history: Callable[[str], list[str]]) -> None:
        """Where the branch's commits (oldest first) come from, for comparisons no fixture covers."""
        self._history = history

    def _compare_from_history(self, repo: str, base: str, head: str) -> dict[str, Any] | None:
        commits = self._history(repo)
        if base not in commits or head not in commits:
            return None
        start, end = commits.index(base), commits.index(head)
        between = commits[start + 1 : end + 1] if end > start else []
        status = "identical" if start == end else ("ahead" if end > start else "behind")
        return {
            "status": status,
            "ahead_by": max(0, end - start),
            "behind_by": max(0, start - end),
            "total_commits": len(between),
            "commits": [{"sha": sha, "author": None, "commit": {}, "parents": []} for sha in between],
            "files": None,
        }

    def set_outage(self, status: int | None, *, paths: tuple[str, ...] = ()) -> None:
        """API calls answer ``status`` (e.g. 503) until set back to None: every call, or only those whose
        path contains one of ``paths`` (e.g. ``"/deployments"``)."""
        with self._lock:
            self._outage = status
            self._outage_paths = paths

    def load_fixtures(self, document: dict[str, Any]) -> None:
        for item in document.get("pull_requests", []):
            self.set_pull_requests(item["repo"], item["sha"], item["pulls"])
        for item in document.get("comparisons", []):
            self.set_comparison(item["repo"], item["base"], item["head"], item["comparison"])
        for item in document.get("commits", []):
            self.set_commit(item["repo"], item["sha"], item["commit"])
        for item in document.get("pull_commits", []):
            self.set_pull_commits(item["repo"], int(item["number"]), item["commits"])
        if "outage" in document:
            self.set_outage(document["outage"])

    def deployments(self, repo: str | None = None, sha: str | None = None) -> list[dict[str, Any]]:
        """Deployments received (oldest first), each with its statuses (oldest first)."""
        with self._lock:
            found = []
            for deployment in self._deployments:
                if repo is not None and deployment["repo"] != _key(repo):
                    continue
                if sha is not None and deployment["sha"] != sha:
                    continue
                found.append({**deployment, "statuses": list(self._statuses.get(deployment["id"], []))})
            copied: list[dict[str, Any]] = json.loads(json.dumps(found))
            return copied

    # ---- HTTP ---------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stub._dispatch(self)

            def do_POST(self) -> None:
                stub._dispatch(self)

            def do_PATCH(self) -> None:
                stub._dispatch(self)

        return Handler

    def _dispatch(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        path = unquote(split.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._send(request, 413, {"message": "too large"})
            return
        raw = request.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(request, 400, {"message": "Problems parsing JSON"})
            return
        method = request.command
        self.requests.append((method, path))

        if path == "/_local/fixtures" and method == "POST" and isinstance(body, dict):
            self.load_fixtures(body)
            self._send(request, 204, None)
            return
        if path == "/_local/deployments" and method == "GET":
            self._send(request, 200, self.deployments(query.get("repo"), query.get("sha")))
            return

        with self._lock:
            outage, outage_paths, tokens = self._outage, self._outage_paths, set(self._tokens)
        if outage is not None and (not outage_paths or any(part in path for part in outage_paths)):
            self._send(request, outage, {"message": "Service unavailable (local outage)"})
            return
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        if token not in tokens:
            self._send(request, 401, {"message": "Bad credentials"})
            return
        status, answer = self._api(method, path, query, body)
        self._send(request, status, answer)

    def rate_limit(self) -> dict[str, int]:
        """GitHub's ``core`` rate limit as the stand-in counts it: every API request it answered uses one."""
        used = min(RATE_LIMIT, sum(1 for _, path in self.requests if not path.startswith("/_local/")))
        hour = int(datetime.now(UTC).timestamp()) // 3600 * 3600
        return {"limit": RATE_LIMIT, "remaining": RATE_LIMIT - used, "reset": hour + 3600, "used": used}

    def _api(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if path == "/rate_limit" and method == "GET":
            core = self.rate_limit()
            return 200, {"resources": {"core": core}, "rate": core}
        if (found := _REPOSITORY.match(path)) and method == "GET":
            owner, name = found["owner"], found["name"]
            return 200, {
                "name": name,
                "full_name": f"{owner}/{name}",
                "owner": {"login": owner, "type": "Organization"},
                "private": True,
                "permissions": {
                    "admin": False,
                    "maintain": False,
                    "push": True,
                    "triage": True,
                    "pull": True,
                },
            }
        if (found := _PULLS.match(path)) and method == "GET":
            with self._lock:
                return 200, self._pulls.get((_key(f"{found['owner']}/{found['name']}"), found["sha"]), [])
        if (found := _COMMIT.match(path)) and method == "GET":
            commit = self._commit(_key(f"{found['owner']}/{found['name']}"), found["sha"])
            return (200, commit) if commit is not None else (422, {"message": "No commit found for SHA"})
        if (found := _PULL_COMMITS.match(path)) and method == "GET":
            repo = _key(f"{found['owner']}/{found['name']}")
            return 200, self._commits_of_pull(repo, int(found["number"]))
        if (found := _COMPARE.match(path)) and method == "GET":
            key = (_key(f"{found['owner']}/{found['name']}"), found["base"], found["head"])
            with self._lock:
                comparison = self._comparisons.get(key)
            if comparison is None:
                comparison = self._compare_from_history(*key)
            return (200, comparison) if comparison is not None else (404, {"message": "Not Found"})
        if found := _DEPLOYMENTS.match(path):
            repo = _key(f"{found['owner']}/{found['name']}")
            if method == "POST":
                return self._create_deployment(repo, body)
            with self._lock:
                listed = [
                    d
                    for d in reversed(self._deployments)
                    if d["repo"] == repo
                    and all(d.get(k) == query[k] for k in ("sha", "environment", "task") if k in query)
                ]
            return 200, listed
        if found := _STATUSES.match(path):
            deployment_id = int(found["id"])
            with self._lock:
                known = any(d["id"] == deployment_id for d in self._deployments)
            if not known:
                return 404, {"message": "Not Found"}
            if method == "POST":
                return self._create_status(deployment_id, body)
            with self._lock:
                return 200, list(reversed(self._statuses.get(deployment_id, [])))
        if found := _HOOKS.match(path):
            repo = _key(f"{found['owner']}/{found['name']}")
            if method == "POST":
                return self._create_hook(repo, f"{found['owner']}/{found['name']}", body)
            with self._lock:
                hooks = [self._shown(hook) for hook in self._hooks.values() if hook["repo"] == repo]
            return 200, hooks
        found = _HOOK.match(path) or _HOOK_PINGS.match(path) or _HOOK_DELIVERIES.match(path)
        if found is not None:
            repo = _key(f"{found['owner']}/{found['name']}")
            with self._lock:
                hook = self._hooks.get(int(found["id"]))
            if hook is None or hook["repo"] != repo:
                return 404, {"message": "Not Found"}
            if path.endswith("/pings") and method == "POST":
                self._ping(hook)
                return 204, None
            if "/deliveries" in path:
                return self._hook_deliveries(hook["id"], found["delivery"])
            if method == "PATCH":
                return self._update_hook(hook, body)
            with self._lock:
                return 200, self._shown(hook)
        return 404, {"message": "Not Found"}

    # ---- repository webhooks ------------------------------------------------------------------------
    @staticmethod
    def _hook_problem(body: Any, *, new: bool) -> str | None:
        if not isinstance(body, dict):
            return "Invalid request: a JSON object is required"
        config = body.get("config")
        if new and not isinstance(config, dict):
            return "Invalid request: config is required"
        if isinstance(config, dict) and not str(config.get("url", "")).startswith(("http://", "https://")):
            return "Invalid request: config.url must be an http(s) URL"
        events = body.get("events", ["push"])
        if not isinstance(events, list) or not all(isinstance(event, str) for event in events):
            return "Invalid request: events must be a list of event names"
        return None

    def _create_hook(self, repo: str, full_name: str, body: Any) -> tuple[int, Any]:
        problem = self._hook_problem(body, new=True)
        if problem is not None:
            return 422, {"message": problem}
        with self._lock:
            hook_id = len(self._hooks) + 1
            hook = {
                "id": hook_id,
                "repo": repo,
                "full_name": full_name,
                "type": "Repository",
                "name": "web",
                "active": bool(body.get("active", True)),
                "events": list(body.get("events", ["push"])),
                "config": dict(body["config"]),
                "created_at": _now(),
                "updated_at": _now(),
                "last_response": {"code": None, "status": "unused", "message": None},
            }
            self._hooks[hook_id] = hook
        self._ping(hook)
        with self._lock:
            return 201, self._shown(hook)

    def _update_hook(self, hook: dict[str, Any], body: Any) -> tuple[int, Any]:
        problem = self._hook_problem(body, new=False)
        if problem is not None:
            return 422, {"message": problem}
        with self._lock:
            hook["config"] = {**hook["config"], **body.get("config", {})}
            for field in ("events", "active"):
                if field in body:
                    hook[field] = body[field]
            hook["updated_at"] = _now()
            return 200, self._shown(hook)

    def _shown(self, hook: dict[str, Any]) -> dict[str, Any]:
        """A hook as the API shows it: its secret masked, its URLs filled in."""
        config = {**hook["config"]}
        if config.get("secret"):
            config["secret"] = MASKED_SECRET
        url = f"{self.url}/repos/{hook['repo']}/hooks/{hook['id']}"
        shown = {k: v for k, v in hook.items() if k not in ("repo", "full_name")}
        copied: dict[str, Any] = json.loads(
            json.dumps({**shown, "config": config, "url": url, "ping_url": f"{url}/pings"})
        )
        return copied

    def _ping(self, hook: dict[str, Any]) -> None:
        """Deliver ``ping`` to the hook's URL, signed with its secret, and record the answer."""
        import requests

        from promote_cli.local.github_payloads import hook_ping, signed_delivery

        with self._lock:
            shown, secret, url = (
                self._shown(hook),
                str(hook["config"].get("secret") or ""),
                hook["config"]["url"],
            )
        body, headers = signed_delivery(
            hook_ping(repo=hook["full_name"], hook=shown), event="ping", secret=secret
        )
        if not secret:
            del headers["X-Hub-Signature-256"]
        delivered_at = _now()
        try:
            answer = requests.post(url, data=body, headers=headers, timeout=10)
            response = {"code": answer.status_code, "status": "active", "message": answer.text[:200]}
            status = (
                "OK" if 200 <= answer.status_code < 300 else f"Invalid HTTP Response: {answer.status_code}"
            )
            payload: str | None = answer.text
        except requests.RequestException as error:
            response = {"code": None, "status": "failed", "message": type(error).__name__}
            status, payload = f"We couldn't deliver this payload: {type(error).__name__}", None
        with self._lock:
            hook["last_response"] = response
            self._deliveries.append(
                {
                    "id": len(self._deliveries) + 1,
                    "hook_id": hook["id"],
                    "guid": headers["X-GitHub-Delivery"],
                    "delivered_at": delivered_at,
                    "redelivery": False,
                    "status": status,
                    "status_code": response["code"] or 0,
                    "event": "ping",
                    "action": None,
                    "response": {"headers": {}, "payload": payload},
                }
            )

    def _hook_deliveries(self, hook_id: int, delivery_id: str | None) -> tuple[int, Any]:
        """A hook's deliveries, newest first, without their responses (as GitHub lists them); or one."""
        with self._lock:
            mine = [dict(d) for d in reversed(self._deliveries) if d["hook_id"] == hook_id]
        if delivery_id is None:
            return 200, [{k: v for k, v in d.items() if k not in ("hook_id", "response")} for d in mine]
        for delivery in mine:
            if delivery["id"] == int(delivery_id):
                return 200, {k: v for k, v in delivery.items() if k != "hook_id"}
        return 404, {"message": "Not Found"}

    def _create_deployment(self, repo: str, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
            return 422, {"message": "Invalid request: ref is required"}
        with self._lock:
            deployment = {
                "id": len(self._deployments) + 1,
                "repo": repo,
                "sha": body["ref"],
                "ref": body["ref"],
                "task": body.get("task", "deploy"),
                "environment": body.get("environment", "production"),
                "description": body.get("description"),
                "payload": body.get("payload") or {},
                "production_environment": bool(body.get("production_environment", False)),
                "created_at": _now(),
            }
            self._deployments.append(deployment)
        return 201, deployment

    def _create_status(self, deployment_id: int, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or body.get("state") not in _DEPLOYMENT_STATES:
            return 422, {"message": "Invalid request: state is not a deployment state"}
        with self._lock:
            statuses = self._statuses.setdefault(deployment_id, [])
            status = {
                "id": deployment_id * 1000 + len(statuses) + 1,
                "state": body["state"],
                "description": body.get("description", ""),
                "log_url": body.get("log_url"),
                "environment_url": body.get("environment_url"),
                "created_at": _now(),
            }
            statuses.append(status)
        return 201, status

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, document: Any) -> None:
        payload = b"" if document is None else json.dumps(document).encode()
        request.send_response(status)
        request.send_header("content-type", "application/json; charset=utf-8")
        request.send_header("content-length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
