"""The storage node's HTTP/1.1 server: llhttp (through httptools) under an asyncio protocol.

Why not aiohttp's server: a node answers thousands of small requests a second from one
process, and aiohttp's request and response machinery (request objects, its stream reader,
header preparation, response writers) was about a quarter of the CPU of a 4 KiB PUT. This
server does what the node's clients (the cluster client, the updater, tests) and HTTP/1.1
ask of it, and nothing else:

* Requests are answered in order on each connection; a pipelined request waits its turn.
  Connections are kept alive unless the request (HTTP/1.0 without keep-alive, or
  `Connection: close`) or the answer says otherwise; an idle connection is closed after
  `keepalive_timeout_s`, and a request must finish its headers within that time too.
* Bodies arrive by Content-Length or chunked and are handed to the handler as they come
  (`Body`), with backpressure: the connection stops reading while `body_buffer_bytes_max`
  wait. `Expect: 100-continue` is answered at once (another expectation: 417).
* Limits: request line, header bytes and header count (431, or 400 for a malformed
  request). A handler never sees a malformed request, and no traceback is ever sent.
* Answers are whole (`Response`) or streamed (`StreamResponse`, whose status line and
  headers leave with its first bytes); both carry their length. After an answer, a request
  body the handler did not read to its end closes the connection (it is never reused
  mid-body), once the rest of that body was read and dropped for a while (lingering close:
  closing on unread bytes resets the connection, and the client could lose the answer).
* A connection lost mid-request fails the handler's next body read (ConnectionResetError);
  a write to it fails the same way. The handler is not cancelled (its clean-up runs).
* `shutdown(timeout_s)`: idle connections close at once, busy ones after their answer, and
  whatever still runs after the timeout is cut.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.utils
import http
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import httptools
from multidict import CIMultiDict

log = logging.getLogger("dolmen.storage_node.http")

HTTP_11 = (1, 1)
_REASONS = {status.value: status.phrase for status in http.HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LINGER_S = 5.0  # how long an unread body is still read (and dropped) after the answer
LINGER_BYTES_MAX = 64 * 2**20  # and how much of it


@dataclass(frozen=True, kw_only=True)
class Limits:
    request_line_bytes_max: int
    header_bytes_max: int
    headers_count_max: int
    keepalive_timeout_s: float
    body_buffer_bytes_max: int = 4 * 2**20

    def __post_init__(self) -> None:
        assert self.request_line_bytes_max > 0 and self.header_bytes_max > 0 and self.headers_count_max > 0
        assert self.keepalive_timeout_s > 0 and self.body_buffer_bytes_max > 0


class MalformedBody(Exception):
    """A request body that breaks HTTP's framing (a bad chunk): what was read of it is all
    there is, and the connection closes after the answer."""


class RequestRefused(Exception):
    """A request the server answers itself (malformed, over a limit) and then closes."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


# --- requests --------------------------------------------------------------------------


class Body:
    """A request body as it arrives: `readany` hands out the pieces received (b"" at its end)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._pieces: collections.deque[bytes] = collections.deque()
        self._buffered_bytes = 0
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # The connection's side.

    def feed(self, data: bytes) -> None:
        self._pieces.append(data)
        self._buffered_bytes += len(data)
        if self._buffered_bytes > self._connection.limits.body_buffer_bytes_max:
            self._connection.pause_reading()
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        if not self._eof:
            self._error = error
            self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # The handler's side.

    def is_eof(self) -> bool:
        """True once the whole body has arrived and been read."""
        return self._eof and not self._pieces

    def read_nowait(self) -> bytes | None:
        """The next piece of the body if it has arrived; b"" at its end; None if it has to be
        waited for (`readany`). ConnectionResetError if the connection was lost first."""
        if not self._pieces:
            if self._eof:
                return b""
            if self._error is not None:
                raise self._error
            return None
        piece = self._pieces.popleft()
        self._buffered_bytes -= len(piece)
        if self._buffered_bytes <= self._connection.limits.body_buffer_bytes_max // 2:
            self._connection.resume_reading()
        return piece

    async def readany(self) -> bytes:
        """The next piece of the body as it arrived; b"" at its end. ConnectionResetError if the
        connection was lost first."""
        while (piece := self.read_nowait()) is None:
            self._waiter = self._connection.loop.create_future()
            self._connection.resume_reading()
            await self._waiter
        return piece

    async def readexactly(self, size: int) -> bytes:
        """Exactly `size` bytes; asyncio.IncompleteReadError if the body ends first."""
        pieces: list[bytes] = []
        received = 0
        while received < size:
            piece = await self.readany()
            if not piece:
                raise asyncio.IncompleteReadError(b"".join(pieces), size)
            if received + len(piece) > size:  # keep the rest for the next read
                keep = size - received
                self._pieces.appendleft(piece[keep:])
                self._buffered_bytes += len(piece) - keep
                piece = piece[:keep]
            pieces.append(piece)
            received += len(piece)
        return b"".join(pieces)


class Request(dict[str, Any]):
    """One request as the handler sees it; also, as a dict, the values handlers keep for it
    (a dict's own item access: a handler reads and writes several per request)."""

    __slots__ = ("method", "raw_path", "version", "headers", "content", "keep_alive", "_connection")

    def __init__(
        self,
        connection: Connection,
        *,
        method: str,
        raw_path: str,
        version: tuple[int, int],
        headers: CIMultiDict[str],
        keep_alive: bool,
    ) -> None:
        super().__init__()
        self.method = method
        self.raw_path = raw_path
        self.version = version
        self.headers = headers
        self.content = Body(connection)
        self.keep_alive = keep_alive
        self._connection = connection

    @property
    def content_length(self) -> int | None:
        text = self.headers.get("Content-Length")
        return int(text) if text is not None else None  # llhttp checked it is a decimal

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._connection.transport


# --- answers ---------------------------------------------------------------------------


class Response:
    """A whole answer: status, headers and body (bytes)."""

    prepared = False

    def __init__(
        self,
        *,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
        text: str | None = None,
        content_type: str | None = None,
    ) -> None:
        self.status = status
        self.headers: CIMultiDict[str] = CIMultiDict(headers or ())
        if text is not None:
            body = text.encode("utf-8")
            self.headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        if content_type is not None:
            self.headers["Content-Type"] = content_type
        self.body = body


class StreamResponse:
    """An answer whose body is written in pieces (`content_length` must be set before
    `prepare`). Its status line and headers leave with its first bytes, or at `write_eof`."""

    def __init__(self, *, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.headers: CIMultiDict[str] = CIMultiDict(headers or {})
        self.content_length: int | None = None
        self.prepared = False
        self._connection: Connection | None = None
        self._head: bytes | None = None
        self._head_request: bool = False

    def set_status(self, status: int) -> None:
        assert not self.prepared
        self.status = status

    async def prepare(self, request: Request) -> None:
        assert not self.prepared and self.content_length is not None
        self.prepared = True
        self._connection = request._connection
        self._head_request = request.method == "HEAD"
        self._head = self._connection.response_head(self.status, self.headers, self.content_length, request)

    async def write(self, data: bytes) -> None:
        assert self._connection is not None, "prepare first"
        if self._head_request:
            return
        head, self._head = self._head, None
        await self._connection.send(head + data if head else data)

    async def write_eof(self) -> None:
        assert self._connection is not None, "prepare first"
        head, self._head = self._head, None
        if head:
            await self._connection.send(head)


Answer = Response | StreamResponse
Handler = Callable[[Request], Awaitable[Answer]]


# --- connections -----------------------------------------------------------------------


class Connection(asyncio.Protocol):
    """One client connection: parses requests, queues them and answers them in order."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.limits = server.limits
        self.transport: asyncio.Transport | None = None
        # The loop, kept: asyncio.get_running_loop() costs a getpid system call in Python 3.11.
        self.loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._requests: collections.deque[Request] = collections.deque()
        self._request_waiter: asyncio.Future[None] | None = None  # _serve waiting for a request
        self._current: Request | None = None  # the request being parsed
        self._url: list[bytes] = []
        self._url_bytes = 0
        self._headers: list[tuple[str, str]] = []
        self._in_head = True  # between requests, or in a request line or headers
        self._head_bytes = 0
        self._head_bytes_max = self.limits.request_line_bytes_max + self.limits.headers_count_max * (
            self.limits.header_bytes_max + 4
        )
        # (on_header's limits, read for every header of every request)
        self._header_bytes_max = self.limits.header_bytes_max
        self._headers_count_max = self.limits.headers_count_max
        self._reading_paused = False
        self._writable: asyncio.Future[None] | None = None
        # Idle since (loop time), or None while a request is in progress. One timer per
        # connection checks it (re-armed for what is left), not a timer per request.
        self._idle_since: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._closing = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.server.connections.add(self)
        self._idle_since = self.loop.time()
        self._idle_timer = self.loop.call_later(self.limits.keepalive_timeout_s, self._idle)
        self._task = self.loop.create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        lost = ConnectionResetError("connection lost")
        if self._current is not None:
            self._current.content.fail(lost)
        for request in self._requests:
            request.content.fail(lost)
        self._closing = True
        self._wake_serve()
        self.transport = None
        self.resume_writing()  # a writer waiting to drain wakes, and finds the connection gone

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The request is whole: it is answered, its Upgrade ignored (RFC 9110 lets a server),
            # and then the connection closes, as llhttp parses nothing after an upgrade request.
            self._closing = True
            self.pause_reading()
            if self._current is not None:  # a body that will not be parsed
                self._current.content.fail(ConnectionResetError("upgrade requests carry no body here"))
            return
        except httptools.HttpParserError as error:
            refused = error.__context__  # a callback's RequestRefused comes wrapped
            if isinstance(refused, RequestRefused):
                self._refuse(refused.status, str(refused))
            else:
                self._refuse(400, f"malformed request: {error}")
            return
        # llhttp keeps an unfinished header until it ends: bound what a head may take. (Still in
        # a head after this feed: these bytes were all head, but for one socket read at most.)
        if self._in_head and self._head_bytes > self._head_bytes_max:
            self._refuse(431, "request head too large")

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # httptools callbacks (during feed_data)

    def on_message_begin(self) -> None:
        self._url, self._url_bytes = [], 0
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.request_line_bytes_max:
            raise RequestRefused(414, "request line too long")
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        if len(name) + len(value) > self._header_bytes_max:
            raise RequestRefused(431, "a request header is too large")
        if len(headers) >= self._headers_count_max:
            raise RequestRefused(431, "too many request headers")
        # Names are tokens (llhttp checked: ASCII). Values as aiohttp gave them: UTF-8 with
        # surrogateescape, so that the bytes sent can be restored (signatures cover them).
        headers.append((name.decode("ascii"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        self._idle_since = None
        self._in_head, self._head_bytes = False, 0
        parser = self._parser
        version = parser.get_http_version()
        headers = CIMultiDict(self._headers)
        request = Request(
            self,
            method=parser.get_method().decode("ascii", "replace"),
            raw_path=b"".join(self._url).decode("utf-8", "surrogateescape"),
            version=HTTP_11 if version == "1.1" else (1, 0),
            headers=headers,
            keep_alive=parser.should_keep_alive(),
        )
        expect = headers.get("Expect")
        if expect is not None and request.version == HTTP_11:  # HTTP/1.0 has no expectations
            if expect.lower() != "100-continue":
                raise RequestRefused(417, "only 100-continue is expected")
            if self.transport is not None:
                self.transport.write(_CONTINUE)
        self._current = request
        self._requests.append(request)
        self._wake_serve()

    def on_body(self, body: bytes) -> None:
        assert self._current is not None
        self._current.content.feed(body)

    def on_message_complete(self) -> None:
        assert self._current is not None
        self._current.content.feed_eof()
        self._current = None
        self._in_head = True

    # flow control

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    async def send(self, data: bytes) -> None:
        """Write `data`, waiting while the client lags; ConnectionResetError once it is gone."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("cannot write to a closed connection")
        transport.write(data)
        if self._writable is not None:
            await self._writable
            if self.transport is None:
                raise ConnectionResetError("the connection was lost while the answer was sent")

    # answering

    async def _serve(self) -> None:
        """Answer the queued requests in order until the connection closes."""
        try:
            while True:
                while not self._requests:
                    if self._closing:
                        return
                    self._request_waiter = self.loop.create_future()
                    await self._request_waiter
                request = self._requests.popleft()
                self._busy = True
                self.server.answering += 1
                try:
                    keep_open = await self._answer(request)
                    if not keep_open and not request.content.is_eof():
                        await self._discard_rest(request)
                finally:
                    self._busy = False
                    self.server.answering -= 1
                if not keep_open or self.server.stopping or self._closing:
                    self._close()
                    return
                if not self._requests and self._current is None:
                    self._idle_since = self.loop.time()
        except Exception:
            log.exception("http.connection_failed")
            self._close()

    async def _answer(self, request: Request) -> bool:
        """Run the handler for `request` and send its answer; whether the connection may stay open."""
        try:
            response = await self.server.handler(request)
        except Exception:
            log.exception("http.handler_failed")  # the handler maps its errors; this is a bug
            response = Response(status=500, headers={"Content-Length": "0"})
        if self.transport is None or self.transport.is_closing():
            return False
        keep_alive = request.keep_alive and request.content.is_eof() and not self.server.stopping
        if isinstance(response, StreamResponse):
            try:
                if not response.prepared:
                    await response.prepare(request)
                await response.write_eof()
            except ConnectionError:
                return False
            return keep_alive
        body = b"" if request.method == "HEAD" else response.body
        head = self.response_head(
            response.status, response.headers, len(response.body), request, close=not keep_alive
        )
        with contextlib.suppress(ConnectionError):
            await self.send(head + body if body else head)
        return keep_alive

    async def _discard_rest(self, request: Request) -> None:
        """Read and drop what is left of a body the handler did not read, for up to
        LINGER_BYTES_MAX and LINGER_S, before the connection closes. Closing a socket with
        unread bytes makes the kernel reset the connection, and a client still sending its body
        would then lose the answer it was already sent (a 412 before the body, for one)."""
        discarded = 0
        with contextlib.suppress(TimeoutError, ConnectionError, MalformedBody):
            async with asyncio.timeout(LINGER_S):
                while discarded <= LINGER_BYTES_MAX and (piece := await request.content.readany()):
                    discarded += len(piece)

    def response_head(
        self,
        status: int,
        headers: CIMultiDict[str],
        content_length: int,
        request: Request,
        *,
        close: bool = False,
    ) -> bytes:
        """Status line and headers of an answer of `content_length` body bytes."""
        close = close or not request.keep_alive or self.server.stopping or self._closing
        values = "".join(headers.values())
        if "\r" in values or "\n" in values:
            raise ValueError("a header value holds a line break")  # handlers never make one
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
        if "Content-Length" not in headers and status >= 200 and status not in (204, 304):
            lines.append(f"Content-Length: {content_length}\r\n")
        lines.append(f"Date: {_http_date()}\r\n")
        if close:
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("utf-8", "surrogateescape")

    def _refuse(self, status: int, reason: str) -> None:
        """Stop reading at a malformed or oversized request. One whose head was whole is the
        handler's to answer (its body fails with MalformedBody); otherwise the refusal is
        answered here. Either way the connection closes after the answer."""
        log.info("http.refused", extra={"status": status, "reason": reason})
        self._closing = True
        self.pause_reading()
        if self._current is not None:
            self._current.content.fail(MalformedBody(reason))
            return
        if self.transport is not None and not self._busy and not self._requests:
            self.transport.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode("ascii")
            )
            self._close()

    def _close(self) -> None:
        self._closing = True
        self._wake_serve()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _wake_serve(self) -> None:
        waiter, self._request_waiter = self._request_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _idle(self) -> None:
        """The connection's timer: close it once idle for keepalive_timeout_s, else look again
        when that could first be the case."""
        self._idle_timer = None
        if self.transport is None:
            return
        loop = self.loop
        since = self._idle_since
        if since is not None and not self._busy and not self._requests:
            left_s = since + self.limits.keepalive_timeout_s - loop.time()
            if left_s <= 0:
                self._close()
                return
        else:
            left_s = self.limits.keepalive_timeout_s
        self._idle_timer = loop.call_later(left_s, self._idle)

    def close_when_idle(self) -> None:
        if not self._busy and not self._requests:
            self._close()


class Server:
    """The protocol factory for `loop.create_server`, and the registry of its connections."""

    def __init__(self, handler: Handler, limits: Limits) -> None:
        self.handler = handler
        self.limits = limits
        self.connections: set[Connection] = set()
        self.stopping = False
        self.answering = 0  # requests whose handler runs or whose answer is being sent

    def __call__(self) -> Connection:
        return Connection(self)

    async def shutdown(self, timeout_s: float) -> None:
        """After the listener closed: close idle connections, let busy ones finish their
        answer for up to `timeout_s`, then close what remains."""
        self.stopping = True
        for connection in list(self.connections):
            connection.close_when_idle()
        tasks = [connection._task for connection in self.connections if connection._task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        for connection in list(self.connections):
            connection._close()
            if connection._task is not None:
                connection._task.cancel()


_date_second = 0
_date_text = ""


def _http_date() -> str:
    """The Date header's value, formatted once a second."""
    global _date_second, _date_text
    now = int(time.time())
    if now != _date_second:
        _date_second, _date_text = now, email.utils.formatdate(now, usegmt=True)
    return _date_text
