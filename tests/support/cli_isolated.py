"""Run ``promote`` command lines the way a shell would, many of them cheaply: this script imports the CLI
once, then forks once per command line, each child with its own stdout and stderr files and its own
(not yet created) boto3 session. Reads a JSON list of argument lists on stdin; writes a JSON list of
``{"argv", "code", "stdout", "stderr"}`` on stdout.

Run it as a script (``python -P``, so that tests/support/promotion.py does not shadow the layer) in the
environment under test (tests/unit/local/test_cli_one_line_errors.py sets one
with no AWS region, credentials or local plane).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from typing import Any


def run_one(argv: list[str]) -> dict[str, Any]:
    from promote_cli import cli

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # the child: exactly what `promote ARGV` does, with fd 1 and 2 captured
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            try:
                code = cli.main(argv)
            except SystemExit as exited:
                code = exited.code if isinstance(exited.code, int) else 1
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return {
            "argv": argv,
            "code": os.waitstatus_to_exitcode(status),
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }


def main() -> None:
    from promote_cli import cli  # noqa: F401 - imported once, before the forks

    command_lines = json.load(sys.stdin)
    json.dump([run_one(argv) for argv in command_lines], sys.stdout)


if __name__ == "__main__":
    main()
