"""Signed HTTP requests to storage nodes over pooled, kept-alive connections.

The client speaks HTTP/1.1 to the nodes directly (`http1.py`) on plain connections: a small
request costs a fraction of what a general HTTP client spends on it, and small objects pay
several per operation. `stream` lends a connection from the pool of its node, at most
`connections_per_node_max` at once (the concurrency bound per node), idle ones kept
keepalive_timeout_s. A connection goes back to the pool only after an answer read to its
end that keeps it alive; one whose body was not read whole, or whose request was aborted, is
closed, never reused. `request` reads a small answer whole, `open` hands an answer over to
be read in pieces (`NodeResponse`: object bodies), `upload.py` streams a write's body.

Every request is signed (dolmen.signing) and carries the caller's request id in
X-Trans-Id. Failures are typed so callers can tell a node that could not be reached
(`NodeUnreachable`: try a handoff) from one that failed mid-way (`NodeFailed`), and both
are counted in the error limiter.

    NodeError (DolmenError)
     +-- NodeUnreachable   connect refused or timed out: nothing was sent
     +-- NodeFailed        timeout or broken connection after the request started
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from multidict import CIMultiDict, CIMultiDictProxy

from dolmen.cluster.errorlimit import ErrorLimiter
from dolmen.cluster.http1 import (
    AnswerMalformed,
    AnswerTooLarge,
    content_length,
    has_body,
    read_answer_body,
    read_answer_head,
    request_head,
)
from dolmen.errors import DolmenError
from dolmen.limits import HTTP_CHUNK_BYTES
from dolmen.logs import request_id_var
from dolmen.metrics import Metrics
from dolmen.signing import sign_request

SMALL_BODY_BYTES_MAX = 16 * 2**20  # answers read whole (registers, listings, errors) are at most this
ANSWER_HEAD_BYTES_MAX = 64 * 2**10  # status line and headers of an answer read by a streamed write


class NodeError(DolmenError):
    """A request to one node failed without an HTTP answer."""


class NodeUnreachable(NodeError):
    """The connection could not be opened: nothing was sent (a write may use a handoff)."""


class NodeFailed(NodeError):
    """The node timed out or the connection broke after the request started."""


@dataclass(frozen=True, slots=True)
class NodeAnswer:
    """A whole (small) answer of one node."""

    node: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass(slots=True)
class StreamConnection:
    """A plain connection to a node lent to one streamed write at a time."""

    node: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since_s: float = field(default=0.0)
    reused: bool = False  # it carried a request before: the node may have closed it since


def host_and_port(node: str) -> tuple[str, int]:
    host, _, port = node.rpartition(":")
    return host.strip("[]"), int(port)


class ClientMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.registry = metrics
        self.node_errors_total = metrics.counter(
            "node_errors_total", "Requests to nodes that failed", ("kind",)
        )
        self.error_limited_total = metrics.counter(
            "error_limited_total", "Times a node became error-limited (skipped for a while)"
        )


@dataclass(frozen=True, kw_only=True)
class TransportSettings:
    """What a Transport is configured by: the cluster client's from its config (whose comments
    say what each is: ClusterClientConfig.transport_settings), a storage node's updater's from
    the node's."""

    signing_key_id: int
    connect_timeout_s: float
    first_byte_timeout_s: float
    chunk_timeout_s: float
    connections_per_node_max: int
    keepalive_timeout_s: float
    signature_lifetime_s: float = 60.0
    error_limit_errors: int = 10
    error_limit_interval_s: float = 60.0


class Transport:
    """Pooled connections per node, request signing, timeouts and error accounting."""

    def __init__(self, config: TransportSettings, *, signing_key: bytes, metrics: ClientMetrics) -> None:
        self.config = config
        self.signing_key = signing_key
        self.metrics = metrics
        self.limiter = ErrorLimiter(
            errors_max=config.error_limit_errors, interval_s=config.error_limit_interval_s
        )
        self._idle_streams: dict[str, list[StreamConnection]] = {}
        self._stream_slots: dict[str, asyncio.Semaphore] = {}
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        idle, self._idle_streams = self._idle_streams, {}
        for connection in (connection for connections in idle.values() for connection in connections):
            connection.writer.close()

    async def stream(self, node: str) -> StreamConnection:
        """A connection to `node` for one request (an idle pooled one if any), within
        connect_timeout_s (waiting for a free slot included); NodeUnreachable otherwise. Give it
        back with `release_stream`."""
        assert not self._closed, "the cluster client is closed"
        slots = self._stream_slots.setdefault(node, asyncio.Semaphore(self.config.connections_per_node_max))
        try:
            async with asyncio.timeout(self.config.connect_timeout_s):
                await slots.acquire()
                try:
                    return self._idle_stream(node) or await self._open_stream(node)
                except BaseException:
                    slots.release()
                    raise
        except (OSError, TimeoutError) as error:
            self.record_error(node, "connect")
            raise NodeUnreachable(f"{node}: {type(error).__name__}: {error}") from None

    def _idle_stream(self, node: str) -> StreamConnection | None:
        idle = self._idle_streams.get(node, [])
        fresh_since_s = time.monotonic() - self.config.keepalive_timeout_s
        while idle:
            connection = idle.pop()
            if (
                connection.idle_since_s > fresh_since_s
                and not connection.writer.transport.is_closing()
                and not connection.reader.at_eof()
            ):
                connection.reused = True
                return connection
            connection.writer.close()
        return None

    @staticmethod
    async def _open_stream(node: str) -> StreamConnection:
        host, port = host_and_port(node)
        reader, writer = await asyncio.open_connection(host, port, limit=ANSWER_HEAD_BYTES_MAX)
        return StreamConnection(node, reader, writer)

    def pooled_streams(self) -> list[StreamConnection]:
        """The idle stream connections, every node's (for tests and diagnostics)."""
        return [connection for connections in self._idle_streams.values() for connection in connections]

    def release_stream(self, connection: StreamConnection, *, reusable: bool) -> None:
        """Give a connection back: pooled if `reusable` (its answer read whole, kept alive), else closed."""
        self._stream_slots[connection.node].release()
        if reusable and not self._closed and not connection.writer.transport.is_closing():
            connection.idle_since_s = time.monotonic()
            self._idle_streams.setdefault(connection.node, []).append(connection)
        else:
            connection.writer.close()

    # --- health --------------------------------------------------------------

    def is_limited(self, node: str) -> bool:
        return self.limiter.is_limited(node, time.monotonic())

    def record_error(self, node: str, kind: str) -> None:
        self.metrics.node_errors_total.labels(kind).inc()
        if self.limiter.record_error(node, time.monotonic()):
            self.metrics.error_limited_total.inc()

    def record_status(self, node: str, status: int) -> None:
        if status >= 500:  # 500 (a quarantined copy), 503 (a slow disk), 507 (full or missing device)
            self.record_error(node, "status")

    # --- requests ------------------------------------------------------------

    def signed_headers(
        self, method: str, path: str, query: str, headers: Mapping[str, str]
    ) -> dict[str, str]:
        """`headers` plus the request id and the signature (add no X-Backend-* header afterwards)."""
        signed = dict(headers)
        request_id = request_id_var.get()
        if request_id is not None:
            signed["X-Trans-Id"] = request_id
        signed.update(
            sign_request(
                self.signing_key,
                key_id=self.config.signing_key_id,
                method=method,
                path=path,
                query=query,
                headers=signed,
                now_s=time.time(),
                lifetime_s=self.config.signature_lifetime_s,
            )
        )
        return signed

    async def open(
        self,
        node: str,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Mapping[str, str],
    ) -> NodeResponse:
        """Send a request (no body) and return the answer with its body unread: the caller reads
        it in pieces and releases it (an object's body). NodeUnreachable or NodeFailed; waits
        connect_timeout_s for the connection and first_byte_timeout_s for the answer's head."""
        connection, status, answer_headers, keep_alive = await self._exchange(
            node, method, path, query=query, headers=headers, body=None, signed=False
        )
        try:
            return NodeResponse(self, connection, method, status, answer_headers, keep_alive)
        except AnswerMalformed as error:
            self.release_stream(connection, reusable=False)
            self.record_error(node, "connection")
            raise NodeFailed(f"{node}: {error}") from None

    async def _exchange(
        self,
        node: str,
        method: str,
        path: str,
        *,
        query: str,
        headers: Mapping[str, str],
        body: bytes | None,
        signed: bool,
    ) -> tuple[StreamConnection, int, CIMultiDict[str], bool]:
        """Send one request on a pooled connection and read its answer's head: (the connection,
        now the caller's to release, status, headers, keep-alive). A pooled connection the node
        closed meanwhile is replaced (nothing was answered on it, and every node request is
        idempotent). NodeUnreachable or NodeFailed."""
        if not signed:
            headers = self.signed_headers(method, path, query, headers)
        target = path + (f"?{query}" if query else "")
        head = request_head(method, target, node, headers, content_length=len(body) if body else 0)
        while True:
            connection = await self.stream(node)
            try:
                connection.writer.writelines([head, body] if body else [head])
                async with asyncio.timeout(self.config.first_byte_timeout_s):
                    status, answer_headers, keep_alive = await read_answer_head(connection.reader)
                return connection, status, answer_headers, keep_alive
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                self.release_stream(connection, reusable=False)
                if connection.reused and not getattr(error, "partial", b""):
                    continue  # the node had closed this idle connection: a fresh one
                self.record_error(node, "connection")
                raise NodeFailed(f"{node}: {type(error).__name__}: {error}") from None
            except (OSError, TimeoutError, asyncio.LimitOverrunError, AnswerMalformed) as error:
                self.release_stream(connection, reusable=False)
                self.record_error(node, "timeout" if isinstance(error, TimeoutError) else "connection")
                raise NodeFailed(f"{node}: {type(error).__name__}: {error}") from None
            except BaseException:
                self.release_stream(connection, reusable=False)
                raise

    async def request(
        self,
        node: str,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Mapping[str, str],
        body: bytes | None = None,
        body_bytes_max: int = SMALL_BODY_BYTES_MAX,
        signed: bool = False,
    ) -> NodeAnswer:
        """A request whose answer is small: read whole (at most `body_bytes_max`, within
        chunk_timeout_s). NodeUnreachable (nothing sent) or NodeFailed."""
        connection, status, answer_headers, keep_alive = await self._exchange(
            node, method, path, query=query, headers=headers, body=body, signed=signed
        )
        reusable = False
        try:
            async with asyncio.timeout(self.config.chunk_timeout_s):
                data, whole = await read_answer_body(
                    connection.reader, method, status, answer_headers, body_bytes_max
                )
            reusable = keep_alive and whole
        except (
            OSError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            AnswerMalformed,
            AnswerTooLarge,
        ) as error:
            self.record_error(node, "timeout" if isinstance(error, TimeoutError) else "connection")
            raise NodeFailed(f"{node}: {type(error).__name__}: {error}") from None
        finally:
            self.release_stream(connection, reusable=reusable)
        self.record_status(node, status)
        return NodeAnswer(node, status, CIMultiDictProxy(answer_headers), data)


class NodeResponse:
    """An answer whose body the caller reads in pieces (`readany`), then gives back: `release`
    (the connection is pooled again if the body was read to its end) or `close` (never reused).

    Only answers of a known length (Content-Length) or none are streamed: a node never sends
    an object's body chunked, so a chunked one is refused (AnswerMalformed) rather than misread.
    """

    def __init__(
        self,
        transport: Transport,
        connection: StreamConnection,
        method: str,
        status: int,
        headers: CIMultiDict[str],
        keep_alive: bool,
    ) -> None:
        if has_body(method, status) and "chunked" in headers.get("Transfer-Encoding", "").lower():
            raise AnswerMalformed("a chunked body where a length was expected")
        self.status = status
        self.headers = CIMultiDictProxy(headers)
        self._transport = transport
        self._connection: StreamConnection | None = connection
        self._remaining = content_length(headers) if has_body(method, status) else 0  # None: to the end
        self._keep_alive = keep_alive and self._remaining is not None

    async def readany(self) -> bytes:
        """The next piece of the body, b"" at its end; ConnectionResetError if it is cut short."""
        if self._remaining == 0 or self._connection is None:
            return b""
        wanted = HTTP_CHUNK_BYTES if self._remaining is None else min(self._remaining, HTTP_CHUNK_BYTES)
        data = await self._connection.reader.read(wanted)
        if not data:
            if self._remaining is not None:
                raise ConnectionResetError("the answer's body ended short of its Content-Length")
            self._remaining = 0
        elif self._remaining is not None:
            self._remaining -= len(data)
        return data

    def release(self) -> None:
        """Give the connection back: pooled if the body was read whole, closed otherwise."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._transport.release_stream(connection, reusable=self._keep_alive and self._remaining == 0)

    def close(self) -> None:
        """Give the connection back closed, whatever was read."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._transport.release_stream(connection, reusable=False)
