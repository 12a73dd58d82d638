"""``promote demo --keep``, as a newcomer runs it: both scenarios pass, then the plane stays up with its
console listing the demo's promotions until Ctrl-C stops it with one line."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import IO

import requests

DEMO_TIMEOUT = 600


def _lines_until(stream: IO[str], marker: str, *, timeout: float) -> list[str]:
    """The lines read up to and including the first that starts with ``marker``.

    A thread reads the lines: the demo writes its last lines at once and then only waits, so a select on
    the pipe would see nothing more while those lines sit in the reader's buffer."""
    arrived: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            arrived.put(line)
            if line.startswith(marker):
                return  # the rest is read by communicate() at the end
        arrived.put("")  # end of output

    threading.Thread(target=read, daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = arrived.get(timeout=left)
        except queue.Empty:
            break
        if not line:
            raise AssertionError("demo exited early:\n" + "\n".join(lines))
        lines.append(line.rstrip("\n"))
        if line.startswith(marker) or line.startswith("demo failed"):
            return lines
    raise AssertionError(f"no {marker!r} line after {timeout:.0f}s:\n" + "\n".join(lines))


def test_demo_keep_passes_both_scenarios_then_serves_the_console_until_interrupted() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    demo = subprocess.Popen(
        [sys.executable, "-m", "promote_cli", "demo", "--keep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        assert demo.stdout is not None
        lines = _lines_until(demo.stdout, "the plane stays up: open ", timeout=DEMO_TIMEOUT)
        assert lines[-3].startswith("PASS  approved promotion: SUCCEEDED"), lines
        assert lines[-2].startswith("PASS  canary failure rolls back: FAILED"), lines
        console_url = lines[-1].removeprefix("the plane stays up: open ").split(" ")[0]
        assert f"console: {console_url}" in lines

        # While it is kept up, its console lists the demo's two promotions and serves its page
        listed = requests.get(f"{console_url}/api/executions", timeout=10).json()
        assert sorted(execution["status"] for execution in listed["executions"]) == ["FAILED", "SUCCEEDED"]
        page = requests.get(console_url, timeout=10)
        assert page.status_code == 200
        assert "text/html" in page.headers["Content-Type"]

        # And Ctrl-C stops it with one line and exit 0
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode == 0, err
    assert out.splitlines() == ["stopping the local control plane"]
    assert "Traceback" not in err
    # and the plane went with it
    try:
        requests.get(console_url, timeout=5)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError(f"{console_url} still answers after the demo stopped")
