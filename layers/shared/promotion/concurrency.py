"""Running a step's independent AWS calls at once, with the outcome of running them one after another.

A step that waits on several functions (an environment's code updates, say) waits for the slowest one
instead of for their sum. ``map_all`` runs every call to its end, then answers as a loop would: the
results in the inputs' order, or the first input's error in that order. So what a failure leaves behind
and which error is raised never depend on which thread finished first.

Each call runs in a copy of the caller's context (``contextvars``): context-bound state (Powertools'
correlation, the identity a local plane signs with) follows it into its thread. In Lambda, X-Ray's SDK keeps
its entities per thread: a call made in a worker thread is traced under the invocation's segment, not
nested under a subsegment the caller had open.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Enough for every function of an environment at once (each call acts on a function of its own).
MAX_THREADS = 8


def map_all(call: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """``[call(item) for item in items]``, the calls running at once (at most ``MAX_THREADS``)."""
    if len(items) <= 1:
        return [call(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor, wait

    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(items))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, call, item) for item in items]
        wait(futures)
    # Every call has ended: raise the first failure in the inputs' order, as the loop would have.
    return [future.result() for future in futures]
