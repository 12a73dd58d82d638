"""The cyclic garbage collector held off while a function's code is imported, resumed at its first request.

Lambda bills the INIT phase, and a handler's import makes about a hundred thousand objects that live as long
as the process: modules, classes, pydantic's validators. With the collector on, every few hundred of them set
off a collection, and the full ones walk everything imported so far, again and again (about 15 % of a
handler's import CPU, measured by bench/promotion_bench.py). The import leaves almost no cyclic garbage (under
a thousand unreachable objects), so the collector is paused for it: the package pauses it when it is first
imported inside Lambda, and each handler's entry point resumes it at the first request. Resuming freezes
what INIT made (``gc.freeze``) so that no later full collection walks it either (one such walk costs about
100 ms here); the few unreachable objects INIT left are kept with it, a few hundred kilobytes at most.

Outside Lambda (tests, the local plane, the CLI) nothing changes: ``AWS_EXECUTION_ENV`` is unset there.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping

_paused_for_init = False


def running_in_lambda(environ: Mapping[str, str]) -> bool:
    """The Lambda runtime names itself in ``AWS_EXECUTION_ENV`` (``AWS_Lambda_python3.13``)."""
    return environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_")


def pause_collector_for_init(environ: Mapping[str, str] = os.environ) -> None:
    """Called as the layer's package is first imported. A collector someone else disabled stays theirs."""
    global _paused_for_init
    if running_in_lambda(environ) and gc.isenabled():
        gc.disable()
        _paused_for_init = True


def resume_collector() -> None:
    """The first request's first step: INIT is over. Later calls do nothing."""
    global _paused_for_init
    if _paused_for_init:
        _paused_for_init = False
        gc.freeze()
        gc.enable()


def collector_paused_for_init() -> bool:
    return _paused_for_init
