"""Users, for the local plane: steady requests to an environment's endpoint while a promotion runs.

On AWS a prod alias serves real traffic, and that traffic is what the canary analysis judges (Lambda's
per-version metrics of invocations through the alias). Nothing sends requests to the local plane unless
something is told to: ``TrafficGenerator`` replays the pipeline's own checks (their method, path and
body) against the environment's ``base_url`` (the alias, through ``/_local/fn/{function}/{alias}``) from a
few threads until stopped. The canary checks do not count: they call the new versions directly, not
through the alias, so Lambda records them without an ``ExecutedVersion``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType

import requests

from promotion.models.config import HttpCheck
from promotion.pipeline.checks import CheckTransportError, HttpTransport


class TrafficGenerator:
    def __init__(
        self,
        base_url: str,
        requests_to_send: Sequence[HttpCheck],
        *,
        threads: int = 3,
        pause_seconds: float = 0.02,
    ) -> None:
        if not requests_to_send:
            raise ValueError("traffic needs at least one request to send")
        self._base_url = base_url
        self._requests = list(requests_to_send)
        self._threads = threads
        self._pause = pause_seconds
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    def start(self) -> TrafficGenerator:
        for index in range(self._threads):
            worker = threading.Thread(target=self._run, name=f"traffic-{index}", daemon=True)
            self._workers.append(worker)
            worker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=15)
        self._workers.clear()

    def _run(self) -> None:
        transport = HttpTransport(self._base_url, requests.Session())
        index = 0
        while not self._stop.is_set():
            check = self._requests[index % len(self._requests)]
            index += 1
            try:
                response = transport.send(check)
                failed = response.status >= 500
            except CheckTransportError:
                failed = True
            with self._lock:
                self.sent += 1
                self.failed += int(failed)
            self._stop.wait(self._pause)

    def __enter__(self) -> TrafficGenerator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
