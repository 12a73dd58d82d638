"""Warm execution environments for the service functions the local plane invokes.

Lambda runs a function version's code in an execution environment it keeps warm between invocations:
the module is imported once (the init phase) and each invocation calls the handler. The local plane does
the same: one interpreter (``promote_cli.local.target_runner``) per environment, a separate process per
function version and code, reused by later invocations of that version. Concurrent invocations of one
version get environments of their own, as on Lambda; an invocation that runs past the function's timeout
ends its environment (Lambda resets a timed-out sandbox), and so does one whose module fails to import.

Starting an interpreter is the slow part, so one idle interpreter is kept started ahead of need: it has
imported nothing of any function and is assigned its code and environment variables when a version first
needs an environment. Environments idle longer than ``idle_seconds``, or beyond ``max_idle`` of them, are
ended (Lambda reclaims idle environments too).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNNER = [sys.executable, "-I", "-m", "promote_cli.local.target_runner"]


@dataclass(frozen=True)
class EnvironmentSpec:
    """What one execution environment runs: a version's code, handler and environment variables."""

    code_dir: Path
    handler: str
    environment: tuple[tuple[str, str], ...]

    def assignment(self) -> bytes:
        document = {
            "code_dir": str(self.code_dir),
            "handler": self.handler,
            "environment": dict(self.environment),
        }
        return (json.dumps(document) + "\n").encode()


class EnvironmentTimedOut(Exception):
    """The invocation ran past its timeout; the environment was ended."""


class EnvironmentExited(Exception):
    """The environment's process ended without answering."""

    def __init__(self, returncode: int | None) -> None:
        super().__init__(f"exit status {returncode}")
        self.returncode = returncode


@dataclass(eq=False)
class _Environment:
    process: subprocess.Popen[bytes]
    spec: EnvironmentSpec | None = None
    last_used: float = field(default_factory=time.monotonic)
    _buffer: bytes = b""

    def assign(self, spec: EnvironmentSpec) -> None:
        self.spec = spec
        self._send(spec.assignment())

    def call(self, event: Any, timeout: float) -> dict[str, Any]:
        request = {"event": event, "timeout_ms": int(timeout * 1000), "request_id": str(uuid.uuid4())}
        self._send((json.dumps(request) + "\n").encode())
        return dict(json.loads(self._read_line(time.monotonic() + timeout)))

    def _send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise EnvironmentExited(self.process.poll()) from error

    def _read_line(self, deadline: float) -> bytes:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise EnvironmentTimedOut()
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EnvironmentExited(self.process.wait())
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def alive(self) -> bool:
        return self.process.poll() is None

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class WarmEnvironments:
    def __init__(self, *, idle_seconds: float = 120.0, max_idle: int = 12, prestart: bool = True) -> None:
        self._idle_seconds = idle_seconds
        self._max_idle = max_idle
        self._prestart = prestart
        self._lock = threading.Lock()
        self._idle: dict[EnvironmentSpec, list[_Environment]] = {}
        self._spare: _Environment | None = None
        self._closed = False
        self.started = 0  # interpreters started, for benchmarks and tests

    def invoke(self, spec: EnvironmentSpec, event: Any, timeout: float) -> dict[str, Any]:
        """Run one invocation in a warm environment of ``spec``; the runner's answer document.

        Raises ``EnvironmentTimedOut`` past ``timeout`` seconds, ``EnvironmentExited`` when the process
        ended without answering; in both cases the environment is gone.
        """
        environment = self._checkout(spec)
        try:
            answer = environment.call(event, timeout)
        except BaseException:
            environment.end()
            raise
        if answer.pop("reset", False):
            environment.end()  # the init failed: the next invocation initialises a new environment
        else:
            self._checkin(environment)
        return answer

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ending = [env for envs in self._idle.values() for env in envs]
            if self._spare is not None:
                ending.append(self._spare)
            self._idle.clear()
            self._spare = None
        for environment in ending:
            environment.end()

    # ---- the pool ------------------------------------------------------------------------------
    def _checkout(self, spec: EnvironmentSpec) -> _Environment:
        with self._lock:
            if self._closed:
                raise RuntimeError("the local plane's function environments are closed")
            idle = self._idle.get(spec, [])
            while idle:
                environment = idle.pop()
                if environment.alive():
                    return environment
                environment.end()
            spare, self._spare = self._spare, None
        if spare is None or not spare.alive():
            if spare is not None:
                spare.end()
            spare = self._start()
        spare.assign(spec)
        if self._prestart:
            self._replace_spare()
        return spare

    def _checkin(self, environment: _Environment) -> None:
        assert environment.spec is not None
        environment.last_used = time.monotonic()
        ending: list[_Environment] = []
        with self._lock:
            if self._closed:
                ending.append(environment)
            else:
                self._idle.setdefault(environment.spec, []).append(environment)
                ending = self._evict()
        for stale in ending:
            stale.end()

    def _evict(self) -> list[_Environment]:
        """Idle environments past their idle time, then the least recently used beyond ``max_idle``."""
        now = time.monotonic()
        everyone = sorted(
            (env for envs in self._idle.values() for env in envs), key=lambda env: env.last_used, reverse=True
        )
        ending = [
            env
            for index, env in enumerate(everyone)
            if index >= self._max_idle or now - env.last_used > self._idle_seconds
        ]
        for env in ending:
            assert env.spec is not None
            self._idle[env.spec].remove(env)
            if not self._idle[env.spec]:
                del self._idle[env.spec]
        return ending

    def _replace_spare(self) -> None:
        spare = self._start()
        with self._lock:
            keep = self._spare is None and not self._closed
            if keep:
                self._spare = spare
        if not keep:
            spare.end()

    def _start(self) -> _Environment:
        process = subprocess.Popen(
            RUNNER,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={"PATH": os.environ.get("PATH", "")},
        )
        self.started += 1
        return _Environment(process)
