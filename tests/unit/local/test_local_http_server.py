"""The local plane's HTTP front door: the routes' functions are invoked one at a time (they share one process,
and powertools' resolver keeps the request it resolves in shared state); service functions at once."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import requests

from promote_cli.local.http_server import LocalHttpServer, Route
from promote_cli.local.runtime import InvokeResult, LocalLambdaRuntime

AT_ONCE = 4


class OverlapRecorder:
    """A runtime that counts how many invocations of each function ran at the same time. A service
    function's invocation waits until AT_ONCE of them are running together (or fails after 5 s)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()
        self.most_at_once: Counter[str] = Counter()
        self._together = threading.Barrier(AT_ONCE, timeout=5)

    def invoke(self, function: str, payload: bytes, qualifier: str | None = None) -> InvokeResult:
        with self._lock:
            self._running[function] += 1
            self.most_at_once[function] = max(self.most_at_once[function], self._running[function])
        try:
            if qualifier is None:
                time.sleep(0.05)
            else:
                self._together.wait()
        finally:
            with self._lock:
                self._running[function] -= 1
        answer = {"statusCode": 200, "body": json.loads(payload)["rawPath"]}
        return InvokeResult(json.dumps(answer).encode(), None, qualifier or "$LATEST")


def _serve(runtime: OverlapRecorder) -> LocalHttpServer:
    return LocalHttpServer(
        host="127.0.0.1",
        port=0,
        runtime=cast(LocalLambdaRuntime, runtime),
        routes=[Route("POST", "/webhooks/github/{pipeline}", "webhook")],
        outbox=list,
        info=dict,
    )


def _all_at_once(call: Any) -> list[requests.Response]:
    with ThreadPoolExecutor(AT_ONCE) as pool:
        return list(pool.map(lambda _: call(), range(AT_ONCE)))


def test_a_routes_function_is_invoked_one_at_a_time_and_a_service_function_at_once() -> None:
    runtime = OverlapRecorder()
    server = _serve(runtime)
    server.start()
    try:
        posted = _all_at_once(
            lambda: requests.post(f"{server.url}/webhooks/github/p", data=b"{}", timeout=10)
        )
        served = _all_at_once(lambda: requests.get(f"{server.url}/_local/fn/svc/live/health", timeout=10))
    finally:
        server.stop()
    assert [(r.status_code, r.text) for r in posted] == [(200, "/webhooks/github/p")] * AT_ONCE
    assert [(r.status_code, r.text) for r in served] == [(200, "/health")] * AT_ONCE
    assert runtime.most_at_once == Counter({"webhook": 1, "svc": AT_ONCE})
