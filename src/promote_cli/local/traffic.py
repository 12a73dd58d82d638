"""Users, for the local plane: steady requests to an environment's endpoint while a promotion runs.

On AWS a prod alias serves real traffic, and that traffic is what the canary analysis judges (Lambda's
per-version metrics of invocations through the alias). Nothing sends requests to the local plane unless
something is told to: ``TrafficGenerator`` sends the pipeline's own checks (their method, path and body)
and a few requests of users the checks never make (``USER_REQUESTS``) against the environment's
``base_url`` (the alias, through ``/_local/fn/{function}/{alias}``) from a few threads until stopped.
Each thread sends the same fixed mix in turn, so every request keeps its share of the traffic (with the
sample's three checks, each of the five requests is a fifth). The canary checks do not count: they call
the new versions directly, not through the alias, so Lambda records them without an ``ExecutedVersion``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from types import TracebackType

import requests

from promotion.models.config import HttpCheck
from promotion.pipeline.checks import CheckTransportError, HttpTransport

# What the sample service's users send that its checks never do: other reviews, one of them with accented
# characters (the ``errors-in-prod`` build fails on those in prod only).
USER_REQUESTS: tuple[HttpCheck, ...] = tuple(
    HttpCheck.model_validate({"name": name, "method": "POST", "path": "/score", "json": {"text": text}})
    for name, text in [
        ("user-review", "Not bad at all, I would recommend it to a friend"),
        ("user-review-accented", "Très bien: great service, I recommend it"),
    ]
)


class TrafficGenerator:
    def __init__(
        self,
        base_url: str,
        checks: Sequence[HttpCheck],
        *,
        users: Sequence[HttpCheck] = USER_REQUESTS,
        threads: int = 3,
        pause_seconds: float = 0.02,
    ) -> None:
        if not checks and not users:
            raise ValueError("traffic needs at least one request to send")
        self._base_url = base_url
        self._requests = [*checks, *users]
        self._threads = threads
        self._pause = pause_seconds
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.sent = 0
        # Requests answered 5xx or not at all, by name.
        self.failures: Counter[str] = Counter()

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

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
                if failed:
                    self.failures[check.name] += 1
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
