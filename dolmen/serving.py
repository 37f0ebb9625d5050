"""What every Dolmen HTTP service does the same way: its server limits, its stop signal, and
its answer to `Expect`.

`runner_options` gives aiohttp's server the limits of `dolmen.limits` and a logger that
turns a request aiohttp cannot parse (already answered 400) into one warning line rather
than an error with a traceback. `wait_stop_signal` returns on SIGTERM or SIGINT, so that a
service stops gracefully: stop accepting, give in-flight requests `shutdown_timeout_s`,
close what it holds.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import HttpVersion11, StreamReader, web
from aiohttp.http_exceptions import HttpProcessingError

from dolmen.limits import HEADER_BYTES_MAX, REQUEST_HEADERS_COUNT_MAX, REQUEST_LINE_BYTES_MAX

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class MalformedRequestFilter(logging.Filter):
    """aiohttp logs a request it cannot parse as an error with a traceback; for us it is a
    client's mistake (400 already sent): keep one warning line without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "request.malformed", ()
            record.reason = str(error).replace("\n", " ")[:200]
            record.exc_info, record.exc_text = None, None
        return True


def server_logger() -> logging.Logger:
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(existing, MalformedRequestFilter) for existing in logger.filters):
        logger.addFilter(MalformedRequestFilter())
    return logger


def runner_options(*, keepalive_timeout_s: float, shutdown_timeout_s: float) -> dict[str, Any]:
    """Keyword arguments for `web.AppRunner`: limits and timeouts of the HTTP server itself."""
    return {
        "access_log": None,  # each service writes its own one line per request
        "handle_signals": False,  # wait_stop_signal does, so that stopping is graceful
        "keepalive_timeout": keepalive_timeout_s,
        "shutdown_timeout": shutdown_timeout_s,
        "max_line_size": REQUEST_LINE_BYTES_MAX,
        "max_field_size": HEADER_BYTES_MAX,
        "max_headers": REQUEST_HEADERS_COUNT_MAX,
        "logger": server_logger(),
    }


async def wait_stop_signal() -> None:
    """Return once the process receives SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def expects_continue(request: web.BaseRequest) -> bool:
    return request.version == HttpVersion11 and request.headers.get("Expect", "").lower() == "100-continue"


async def send_continue(request: web.BaseRequest) -> None:
    """`Expect: 100-continue` gets its interim answer: the client may send the body now."""
    if expects_continue(request):
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the interim answer is not part of the response's bytes


async def answer_expect(request: web.BaseRequest) -> None:
    """Every route's `expect_handler`: `Expect: 100-continue` gets its interim answer, another
    expectation 417 without echoing it (aiohttp's own handler echoes it, and a value that is
    not UTF-8 then turned the 417 into a 500)."""
    if request.version == HttpVersion11 and not expects_continue(request):
        raise web.HTTPExpectationFailed(text="Unknown Expect header")
    await send_continue(request)


async def not_found(request: web.Request) -> web.StreamResponse:
    """The catch-all route's handler (the last route), there so that every path gets
    `answer_expect`: 405 naming the allowed methods where another route has the path, else
    404, as aiohttp answers where no route matches."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is request.match_info.route.resource:
            continue
        _, methods = await resource.resolve(request)
        allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


class BodyStreamResponse(web.StreamResponse):
    """A streamed response whose status line and headers leave with its first body bytes (or
    its end), as aiohttp's Response does, rather than alone at `prepare`. A small object is
    then one socket write, not two: under a 4 KiB GET load the proxy had spent 18% of its time
    sending headers by themselves. (aiohttp's switch for this is `_send_headers_immediately`;
    should it go away, headers are simply sent at `prepare` again.)"""

    _send_headers_immediately = False


async def body_pieces(content: StreamReader) -> AsyncIterator[bytes]:
    """A request body as aiohttp received it, piece by piece, until its end.

    aiohttp's `read(n)` and `readany()` join every piece buffered at the time into a new bytes
    object (and `read(n)` slices them, a copy too), so a body read that way is copied once more
    in user space whenever its reader fell behind, which for a large body is most of it.
    `readchunk` hands out the buffered pieces themselves (for a chunked body, up to the end of
    each HTTP chunk).
    """
    while True:
        data, _ = await content.readchunk()
        if data:
            yield data
        elif content.at_eof():  # not just the end of an HTTP chunk
            return
