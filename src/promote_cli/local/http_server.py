"""The local plane's HTTP front door on 127.0.0.1.

- The template's HTTP API routes, each turned into the API Gateway HTTP API (payload 2.0) event that AWS
  would send to its function. Routes behind the AWS_IAM authorizer need a valid SigV4 signature and
  ``execute-api:Invoke`` on the route (``iam_auth``), else 403 ``{"message": "Forbidden"}`` as API Gateway.
- ``/_local/fn/{function}/{qualifier}/{path}``: a service function's alias or version, like a function URL
  (the sample service's environments are reached this way); 404 with a JSON message when there is no such
  function, alias or version.

A function that fails answers 500 ``{"message": "Internal Server Error"}``, as API Gateway does; its error
goes to the plane's log (stderr), one line.

- ``/_local/outbox``: the outbox as JSON; ``/_local/info``: the ready line.
- ``/_local/console/...``: the console (``promote_cli.local.console``), where links to an execution lead.
- ``/_local/slack/api/{method}`` and ``/_local/slack/response/{id}``: Slack's Web API and response_urls,
  recorded in the outbox instead of sent.

Requests are served concurrently, but the routes' functions are invoked one at a time: on Lambda each
concurrent invocation has an execution environment of its own, while here the control-plane handlers share
this process, and powertools' HTTP API resolver keeps the request it is resolving in state every resolver
shares (``BaseRouter.current_event``, its route arguments in the resolver's ``context``): two deliveries
resolved at once could read each other's event. Each route function answers in milliseconds of its own
work (a webhook starts its execution asynchronously, as on AWS), so the queue is short.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from promote_cli.local.iam_auth import Forbidden, IamAuthorizer, SignedRequest
from promote_cli.local.runtime import LocalLambdaRuntime
from promote_cli.local.serving import LocalServer

if TYPE_CHECKING:
    from promote_cli.local.console.web import ConsoleResponse

MAX_BODY_BYTES = 1024 * 1024
# What the local runtime reports when the function, alias or version does not exist (moto's exceptions).
_NOT_FOUND_ERRORS = {"UnknownFunctionException", "UnknownAliasException"}
_BINARY_PREFIXES = ("image/", "application/octet-stream", "application/zip")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI style: /approvals/{approval_id}, /{proxy+}
    function_name: str
    authorization: str | None = None  # "AWS_IAM" or None (open)

    @property
    def route_key(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method.upper() not in (method, "ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD"):
            return None
        pattern = "^"
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{") and part.endswith("+}"):
                pattern += f"(?P<{_group(part[1:-2])}>.+)"
            elif part.startswith("{"):
                pattern += f"(?P<{_group(part[1:-1])}>[^/]+)"
            else:
                pattern += re.escape(part)
        found = re.match(pattern + "$", path)
        if found is None:
            return None
        return {_ungroup(k): v for k, v in found.groupdict().items()}


def _function_error(payload: bytes | None) -> dict[str, str]:
    try:
        document = json.loads(payload or b"{}")
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    return {
        "errorType": str(document.get("errorType") or "Unknown"),
        "errorMessage": str(document.get("errorMessage") or ""),
    }


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _ungroup(group: str) -> str:
    return group[2:]


def http_api_event(
    *,
    route_key: str,
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    path_parameters: dict[str, str],
    source_ip: str,
) -> dict[str, Any]:
    content_type = headers.get("content-type", "")
    is_binary = content_type.startswith(_BINARY_PREFIXES)
    query_parameters: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        # API Gateway joins repeated query parameters with commas.
        query_parameters[key] = f"{query_parameters[key]},{value}" if key in query_parameters else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": is_binary,
    }
    if query_parameters:
        event["queryStringParameters"] = query_parameters
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        event["body"] = base64.b64encode(body).decode() if is_binary else body.decode("utf-8", "replace")
    return event


class LocalHttpServer(LocalServer):
    def __init__(
        self,
        *,
        host: str,
        port: int,
        runtime: LocalLambdaRuntime,
        routes: list[Route],
        outbox: Callable[[], list[dict[str, Any]]],
        info: Callable[[], dict[str, Any]],
        slack: Callable[[str, str, bytes], dict[str, Any]] | None = None,
        iam_authorizer: IamAuthorizer | None = None,
        console: Callable[[str, str], ConsoleResponse | None] | None = None,
    ) -> None:
        self._runtime = runtime
        self._console = console
        self._iam_authorizer = iam_authorizer
        self._routes = routes
        self._outbox = outbox
        self._info = info
        self._slack = slack
        # One route invocation at a time (see the module's docstring).
        self._route_lock = threading.Lock()
        super().__init__(host, port, self._make_handler(), name="local-http")

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                server._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        return Handler

    # ---- dispatch ---------------------------------------------------------------------------
    def _dispatch(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        path, query, method = split.path, split.query, request.command
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._send_json(request, 413, {"message": "Request Entity Too Large"})
            return
        body = request.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in request.headers.items()}
        source_ip = request.client_address[0]

        if path == "/_local/outbox" and method == "GET":
            self._send_json(request, 200, self._outbox())
            return
        if path == "/_local/info" and method == "GET":
            self._send_json(request, 200, self._info())
            return
        console = self._console(method, path) if self._console is not None else None
        if console is not None:
            self._send(
                request,
                console.status,
                {"content-type": console.content_type, **console.headers},
                console.body,
            )
            return
        slack_call = re.match(r"^/_local/slack/(?P<kind>api|response)/(?P<name>[\w.-]+)$", path)
        if slack_call and method == "POST" and self._slack is not None:
            self._send_json(request, 200, self._slack(slack_call["kind"], slack_call["name"], body))
            return
        local_fn = re.match(r"^/_local/fn/(?P<fn>[^/]+)/(?P<qualifier>[^/]+)(?P<rest>/.*)?$", path)
        if local_fn:
            rest = local_fn["rest"] or "/"
            event = http_api_event(
                route_key="$default",
                method=method,
                raw_path=rest,
                query=query,
                headers=headers,
                body=body,
                path_parameters={},
                source_ip=source_ip,
            )
            self._invoke(request, local_fn["fn"], local_fn["qualifier"], event, function_url=True)
            return
        for route in self._routes:
            parameters = route.match(method, path)
            if parameters is not None:
                event = http_api_event(
                    route_key=route.route_key,
                    method=method,
                    raw_path=path,
                    query=query,
                    headers=headers,
                    body=body,
                    path_parameters=parameters,
                    source_ip=source_ip,
                )
                if route.authorization is not None:
                    try:
                        event["requestContext"]["authorizer"] = self._authorize(route, request, headers, body)
                    except Forbidden as refused:
                        # API Gateway says only "Forbidden"; the reason goes to the plane's log.
                        print(f"local-http: {route.route_key} refused: {refused}", file=sys.stderr)
                        self._send_json(request, 403, {"message": "Forbidden"})
                        return
                self._invoke(request, route.function_name, None, event, one_at_a_time=True)
                return
        self._send_json(request, 404, {"message": "Not Found"})

    def _authorize(
        self, route: Route, request: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        if route.authorization != "AWS_IAM" or self._iam_authorizer is None:
            raise Forbidden(f"no authorizer for {route.authorization}")  # fail closed, never serve it open
        signed = SignedRequest(
            method=request.command,
            url=f"http://{headers.get('host', '')}{request.path}",
            headers=headers,
            body=body,
        )
        return self._iam_authorizer.authorize(signed, path=urlsplit(request.path).path)

    def _invoke(
        self,
        request: BaseHTTPRequestHandler,
        function: str,
        qualifier: str | None,
        event: dict[str, Any],
        *,
        function_url: bool = False,
        one_at_a_time: bool = False,
    ) -> None:
        with self._route_lock if one_at_a_time else nullcontext():
            result = self._runtime.invoke(function, json.dumps(event).encode(), qualifier)
        if result.function_error:
            error = _function_error(result.payload)
            target = f"{function}:{qualifier}" if qualifier else function
            print(
                f"local-http: {request.command} {urlsplit(request.path).path} -> {target}: "
                f"{error['errorType']}: {' '.join(error['errorMessage'].split())[:500]}",
                file=sys.stderr,
            )
            if function_url and error["errorType"] in _NOT_FOUND_ERRORS:
                self._send_json(
                    request,
                    404,
                    {
                        "message": "Not Found",
                        "error": f"no function {function} with alias or version {qualifier} on the local "
                        "plane",
                    },
                )
                return
            # What API Gateway answers when the integration fails.
            self._send_json(request, 500, {"message": "Internal Server Error"})
            return
        answer = json.loads(result.payload or b"null")
        if not (isinstance(answer, dict) and "statusCode" in answer):
            self._send(request, 200, {"content-type": "application/json"}, json.dumps(answer).encode())
            return
        raw = answer.get("body") or ""
        payload = base64.b64decode(raw) if answer.get("isBase64Encoded") else str(raw).encode()
        headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers[str(name).lower()] = ", ".join(str(v) for v in values)
        self._send(request, int(answer["statusCode"]), headers, payload, cookies=answer.get("cookies") or [])

    def _send_json(self, request: BaseHTTPRequestHandler, status: int, document: Any) -> None:
        self._send(request, status, {"content-type": "application/json"}, json.dumps(document).encode())

    def _send(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str],
        body: bytes,
        cookies: list[str] | None = None,
    ) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name not in ("content-length", "connection", "transfer-encoding"):
                request.send_header(name, value)
        for cookie in cookies or []:
            request.send_header("set-cookie", cookie)
        request.send_header("content-length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)
