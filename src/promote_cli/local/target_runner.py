"""One warm execution environment of a deployed service function, as Lambda keeps one per version.

Usage: ``python -I -m promote_cli.local.target_runner``, spoken to through stdin and stdout, one JSON
document a line (see ``promote_cli.local.warm_workers``, which starts and reuses these processes):

1. the first line assigns the environment: ``{"code_dir", "handler", "environment"}``. The code directory
   (the extracted zip) becomes the first import path, like /var/task, and ``environment`` the function's
   variables. Nothing of the code is imported before this line, so an idle interpreter can be started
   ahead of need and assigned later;
2. every further line is one invocation, ``{"event", "timeout_ms", "request_id"}``, answered with one
   line: ``{"result", "logs", "duration_ms"}`` or ``{"errorType", "errorMessage", "stackTrace", "logs",
   "reset", "duration_ms"}`` (``duration_ms``: the handler's own time, without the import). The
   handler module is imported on the first invocation (Lambda's init phase) and kept for the next ones; a
   module that fails to import answers the error with ``"reset": true`` and ends the process, so the next
   invocation starts afresh.

Whatever the handler prints goes to ``logs`` (file descriptor 1 is pointed at 2 as well, so no stray
write can corrupt the answers). End of input ends the process.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import time
import traceback
import types
from collections.abc import Callable
from typing import Any, TextIO


class _Context:
    def __init__(self, request_id: str, timeout_ms: int) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("LOCAL_INVOKED_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(error: BaseException, logs: str) -> dict[str, Any]:
    return {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(error),
        "logs": logs,
    }


def serve(requests: TextIO, answers: TextIO) -> int:
    assignment = requests.readline()
    if not assignment:
        return 0
    spec = json.loads(assignment)
    os.environ.update({str(k): str(v) for k, v in spec["environment"].items()})
    sys.path.insert(0, str(spec["code_dir"]))
    module_name, _, function_name = str(spec["handler"]).rpartition(".")
    handler: Callable[[Any, Any], Any] | None = None
    for line in requests:
        request = json.loads(line)
        logs = io.StringIO()
        init_failed = False
        # The handler's own time, as Lambda's Duration metric counts it (the init phase is apart).
        started: float | None = None
        with contextlib.redirect_stdout(logs), contextlib.redirect_stderr(logs):
            try:
                if handler is None:
                    init_failed = True
                    module: types.ModuleType = importlib.import_module(module_name)
                    handler = getattr(module, function_name)
                    init_failed = False
                context = _Context(str(request["request_id"]), int(request["timeout_ms"]))
                started = time.monotonic()
                answer: dict[str, Any] = {"result": handler(request["event"], context)}
                answer["duration_ms"] = (time.monotonic() - started) * 1000
                answer["logs"] = logs.getvalue()
                line_out = json.dumps(answer)
            except Exception as error:
                duration = (time.monotonic() - started) * 1000 if started is not None else 0.0
                line_out = json.dumps(
                    {**_error(error, logs.getvalue()), "reset": init_failed, "duration_ms": duration}
                )
        answers.write(line_out + "\n")
        answers.flush()
        if init_failed:
            return 1
    return 0


def main() -> int:
    # Answers travel on a private copy of stdout; the handler's own writes to fd 1 land on stderr.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return serve(sys.stdin, answers)


if __name__ == "__main__":
    sys.exit(main())
