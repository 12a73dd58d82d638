"""Benchmark: how much the local plane writes to its stderr while it promotes, quiet (the default) and with
``--verbose``.

    .venv/bin/python bench/local_stderr_bench.py [--promotions 12]

For each mode, ``promote local up`` runs in its own process with its stderr in a file; the script promotes
``--promotions`` builds one after another through the signed webhook, cycling through the sample's variants
(a good build approved from the emailed link, one that fails preprod's checks, one that fails in prod and is
rolled back: the paths that make the emulation talk), then stops the plane and prints the stderr's size and
its lines by kind. Quiet, what remains is the outbox (one line per notice) and the stop line.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("good", "fails-preprod", "fails-in-prod")


def _kind(line: str) -> str:
    if line.startswith("--- outbox:"):
        return "outbox notice"
    if line.startswith("promote: "):
        return "promote's own line"
    if line.startswith("{"):
        return "handler JSON log"
    if line.startswith(("Traceback", "  File ", "    ")):
        return "stack trace"
    return "other"


def run(mode: str, promotions: int) -> tuple[int, collections.Counter[str], float]:
    from promote_cli.local.demo import promote_sample_build

    state = Path(tempfile.mkdtemp(prefix=f"promote-stderr-{mode}-"))
    stderr_path = state / "stderr.log"
    options = ["--verbose"] if mode == "verbose" else []
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "promote_cli", "local", "up", "--time-scale", "0.05", *options],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "PROMOTE_STATE_DIR": str(state)},
            text=True,
        )
        try:
            import json

            assert process.stdout is not None
            ready = json.loads(process.stdout.readline())
            began = time.monotonic()
            for index in range(promotions):
                variant = VARIANTS[index % len(VARIANTS)]
                final, *_ = promote_sample_build(ready, variant, say=lambda _line: None)
                print(f"  {mode}: promotion {index + 1} ({variant}) ended {final}", file=sys.stderr)
            seconds = time.monotonic() - began
        finally:
            process.terminate()
            process.wait(30)
    text = stderr_path.read_text()
    kinds = collections.Counter(_kind(line) for line in text.splitlines())
    return len(text.encode()), kinds, seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--promotions", type=int, default=12)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT)]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    print(f"local plane stderr after {args.promotions} promotions (variants cycling {', '.join(VARIANTS)})")
    for mode in ("quiet", "verbose"):
        size, kinds, seconds = run(mode, args.promotions)
        lines = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
        print(f"  {mode:8} {size / 1024:8.1f} KiB  in {seconds:5.1f} s  lines: {lines}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
