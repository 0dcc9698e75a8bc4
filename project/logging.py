"""JSON log lines carrying the correlation ids of the current request, event or execution.

Correlation ids live in a context variable so they follow a request through sync and async
code alike; :func:`bind` adds ids (``request_id``, ``event_id``, ``execution_arn``,
``user_id``) for the duration of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "nimbus_log_context", default=None
)


def current_context() -> dict[str, Any]:
    return dict(_context.get() or {})


@contextlib.contextmanager
def bind(**ids: Any) -> Iterator[None]:
    """Attach correlation ids to every log line written inside the block."""
    token = _context.set(
        {**(_context.get() or {}), **{k: v for k, v in ids.items() if v is not None}}
    )
    try:
        yield
    finally:
        _context.reset(token)


class RequestIdFilter(logging.Filter):
    """Copies the bound correlation ids onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.nimbus_context = _context.get()
        return True


_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "nimbus_context"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "nimbus_context", None) or _context.get() or {})
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).strip()
        return json.dumps(line, default=str)
