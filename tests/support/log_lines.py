"""The control plane's log lines as JSON documents, as CloudWatch Logs would receive them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from promotion.observability import logger


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        # Formatted here, in the emitting thread: a request's keys live in its thread's context.
        self.lines.append(json.loads(logger.registered_formatter.format(record)))


@contextmanager
def captured_log_lines() -> Iterator[list[dict[str, Any]]]:
    """Every line the control plane's Logger writes inside the block (handlers run in process)."""
    handler = _Lines()
    stdlib_logger = logging.getLogger(logger.name)
    stdlib_logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        stdlib_logger.removeHandler(handler)
