"""JSON-lines logging to stderr, one shape for every service.

Each line carries the service name and, inside a traced request or message handler,
the OpenTelemetry ``trace_id``/``span_id``, so a log line leads to its trace.
Run uvicorn with ``log_config=None`` so its loggers flow into this configuration.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, TextIO

from opentelemetry import trace

from emk_common import request_id as request_ids

__all__ = ["JsonFormatter", "configure_logging"]

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
) | {"message", "asctime", "taskName"}

# Libraries that are chatty at INFO (aiokafka logs every rebalance and reconnect,
# httpx every request) and would drown the services' own lines.
_QUIET = {
    "aiokafka": logging.WARNING,
    "kafka": logging.WARNING,
    "pymongo": logging.WARNING,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "botocore": logging.WARNING,
    "urllib3": logging.WARNING,
}
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES
        }
        entry.update(
            time=dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            level=record.levelname,
            logger=record.name,
            message=record.getMessage(),
            service=self.service,
        )
        request_id = request_ids.current.get()
        if request_id is not None:
            entry["request_id"] = request_id
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the moment (test capture swaps it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


class _WithoutQueryString(logging.Filter):
    """Drops the query string from uvicorn's access lines: it may hold a СНИЛС."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every log record through one JSON handler on stderr; safe to call again."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level: {level!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter(service))
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, quiet_level in _QUIET.items():
        logging.getLogger(name).setLevel(max(quiet_level, numeric))
    for name in _UVICORN:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _WithoutQueryString) for f in access.filters):
        access.addFilter(_WithoutQueryString())
