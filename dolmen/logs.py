"""JSON-lines logging with a request id carried in a context variable.

Every line is one JSON object: time, level, logger, event, the bound request id
(if any) and the extra fields given. `log_request` writes the one canonical line
per request. Never pass tokens, signatures, passwords or keys as fields: the
field names in REDACTED_FIELDS are replaced if they slip through.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid
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
_LEVEL_NAMES = {name: name.lower() for name in logging.getLevelNamesMapping()}
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)


def new_request_id() -> str:
    """A fresh request id: 'tx' and 32 hex digits (Swift's transaction-id shape)."""
    return "tx" + uuid.uuid4().hex


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": round(record.created, 6),
            "level": _LEVEL_NAMES.get(record.levelname) or record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "event": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id
        attributes = vars(record)
        names = list(attributes)
        # (The standard attributes first, unless something replaced the record's dict.)
        start = _EXTRA_FIELDS_START if names[:_EXTRA_FIELDS_START] == _STANDARD_NAMES else 0
        for name in names[start:]:
            if name in _RESERVED or name.startswith("_"):
                continue
            line[name] = "<redacted>" if name.lower() in REDACTED_FIELDS else attributes[name]
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return _ENCODER.encode(line)


def configure_logging(service: str, *, level: str = "info", stream: Any = None) -> None:
    """Send every logger's records to `stream` (default stderr) as JSON lines.

    The lines never show the caller's file and line, thread or process, so records skip
    collecting them (the logging documentation's optimisations): a line per request is cheap.
    """
    logging._srcfile = None  # no stack walk per record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


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
    """The canonical log line of one request, written once at its end."""
    logger.info(
        "request",
        extra={
            "method": method,
            "path": path,
            "status": status,
            "bytes_in": bytes_in,
            "bytes_out": bytes_out,
            "duration_ms": round((time.monotonic() - started_s) * 1000, 3),
            **fields,
        },
    )
