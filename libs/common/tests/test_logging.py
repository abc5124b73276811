from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from emk_common.logging import JsonFormatter, configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back for the other tests."""
    root = logging.getLogger()
    names = ["aiokafka", "httpx", "uvicorn", "uvicorn.access"]
    saved = (
        list(root.handlers),
        root.level,
        {n: logging.getLogger(n).level for n in names},
        list(logging.getLogger("uvicorn.access").filters),
    )
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger("uvicorn.access").filters[:] = saved[3]


def make_record(msg: str = "hello %s", *args: Any, **extra: Any) -> logging.LogRecord:
    return logging.getLogger("emk.test").makeRecord(
        "emk.test", logging.INFO, __file__, 1, msg, args or ("world",), None, extra=extra
    )


def test_fields_of_a_line() -> None:
    line = JsonFormatter("identity").format(make_record(user_id="u-1", attempt=2))
    entry = json.loads(line)

    assert entry["level"] == "INFO"
    assert entry["logger"] == "emk.test"
    assert entry["message"] == "hello world"
    assert entry["service"] == "identity"
    assert entry["user_id"] == "u-1"
    assert entry["attempt"] == 2
    moment = dt.datetime.fromisoformat(entry["time"])
    assert moment.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - moment) < dt.timedelta(seconds=5)
    # no trace outside a span, and none of LogRecord's own attributes leak in
    assert "trace_id" not in entry
    assert not {"args", "msg", "levelno", "pathname", "exc_text"} & entry.keys()
    assert "\n" not in line


def test_trace_ids_inside_an_active_span() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        entry = json.loads(JsonFormatter("records").format(make_record()))
        context = span.get_span_context()

    assert entry["trace_id"] == f"{context.trace_id:032x}"
    assert entry["span_id"] == f"{context.span_id:016x}"
    assert len(entry["trace_id"]) == 32
    assert len(entry["span_id"]) == 16


def test_exception_is_formatted() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.getLogger("emk.test").makeRecord(
            "emk.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    entry = json.loads(JsonFormatter("documents").format(record))

    assert entry["level"] == "ERROR"
    assert entry["exc_info"].startswith("Traceback")
    assert "ValueError: broken" in entry["exc_info"]


def test_non_json_extra_and_cyrillic() -> None:
    entry = json.loads(
        JsonFormatter("s").format(make_record("статус %s", "одобрено", at=dt.date(2025, 1, 31)))
    )
    assert entry["message"] == "статус одобрено"
    assert entry["at"] == "2025-01-31"


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_writes_json_to_stderr_once(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("applications", "debug")
    configure_logging("applications", "INFO")

    logging.getLogger("emk.applications").info("submitted", extra={"application_id": "a-1"})
    logging.getLogger("aiokafka").info("rebalancing")  # quieted
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    assert len(lines) == 1  # one handler after two calls; aiokafka's INFO dropped
    assert lines[0]["message"] == "submitted"
    assert lines[0]["application_id"] == "a-1"
    assert lines[0]["service"] == "applications"
    assert logging.getLogger().level == logging.INFO
    assert logging.getLogger("aiokafka").level == logging.WARNING


@pytest.mark.usefixtures("restore_logging")
def test_access_log_loses_its_query_string(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("records", "INFO")

    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "10.0.0.1:5000",
        "GET",
        "/api/v1/records/books?snils=11223344595",
        "1.1",
        200,
    )
    [line] = capsys.readouterr().err.splitlines()

    assert "11223344595" not in line
    assert json.loads(line)["message"] == '10.0.0.1:5000 - "GET /api/v1/records/books HTTP/1.1" 200'


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="verbose"):
        configure_logging("identity", "verbose")
