"""Signed HTTP requests to storage nodes over pooled, kept-alive connections.

One aiohttp session per node (ip:port), each with at most `connections_per_node_max`
connections: that is the concurrency bound per node. A connection whose answer body
was not read to its end is closed, never reused (aiohttp closes a released connection
whose payload is not at EOF; `NodeStream.abort` does it explicitly).

Requests with small answers (`request`) and streamed object writes (`upload.py`) speak
HTTP/1.1 on plain sockets directly (`http1.py`): `stream` lends them connections from a
pool of their own, with the same bound per node and keep-alive time. aiohttp remains for
answers streamed to the caller (`open`: object bodies).

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
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from dolmen.cluster.config import ClusterClientConfig
from dolmen.cluster.errorlimit import ErrorLimiter
from dolmen.cluster.http1 import (
    AnswerMalformed,
    AnswerTooLarge,
    read_answer_body,
    read_answer_head,
    request_head,
)
from dolmen.errors import DolmenError
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


class Transport:
    """Pooled sessions per node, request signing, timeouts and error accounting."""

    def __init__(self, config: ClusterClientConfig, *, signing_key: bytes, metrics: ClientMetrics) -> None:
        self.config = config
        self.signing_key = signing_key
        self.metrics = metrics
        self.limiter = ErrorLimiter(
            errors_max=config.error_limit_errors, interval_s=config.error_limit_interval_s
        )
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._idle_streams: dict[str, list[StreamConnection]] = {}
        self._stream_slots: dict[str, asyncio.Semaphore] = {}
        self._closed = False
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=config.connect_timeout_s, sock_read=None
        )

    async def close(self) -> None:
        self._closed = True
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()
        idle, self._idle_streams = self._idle_streams, {}
        for connection in (connection for connections in idle.values() for connection in connections):
            connection.writer.close()

    def session(self, node: str) -> aiohttp.ClientSession:
        session = self._sessions.get(node)
        if session is None:
            assert not self._closed, "the cluster client is closed"
            session = aiohttp.ClientSession(
                base_url=f"http://{node}",
                connector=aiohttp.TCPConnector(
                    limit=self.config.connections_per_node_max,
                    keepalive_timeout=self.config.keepalive_timeout_s,
                    enable_cleanup_closed=False,
                ),
                timeout=self._timeout,
                auto_decompress=False,
                skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),
            )
            self._sessions[node] = session
        return session

    async def stream(self, node: str) -> StreamConnection:
        """A plain connection to `node` for one streamed write (an idle pooled one if any), within
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
        body: bytes | AsyncIterable[bytes | memoryview] | None = None,
        signed: bool = False,
    ) -> aiohttp.ClientResponse:
        """Send a request and return the answer with its body unread (the caller releases it).

        `signed`: `headers` already carry the signature (a PUT signs before framing its body).
        Raises NodeUnreachable (nothing sent) or NodeFailed; waits at most connect_timeout_s
        for the connection and first_byte_timeout_s more for the status line once the body is
        sent (a streamed body bounds its own chunks).
        """
        if not signed:
            headers = self.signed_headers(method, path, query, headers)
        target = URL(path + (f"?{query}" if query else ""), encoded=True)
        request: Any = self.session(node).request(method, target, headers=headers, data=body)
        try:
            if isinstance(body, bytes | None):
                async with asyncio.timeout(self.config.connect_timeout_s + self.config.first_byte_timeout_s):
                    return await request
            return await request  # the body's producer bounds each chunk; the caller bounds the answer
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            self.record_error(node, "connect")
            raise NodeUnreachable(f"{node}: {error}") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            self.record_error(node, "timeout" if isinstance(error, TimeoutError) else "connection")
            raise NodeFailed(f"{node}: {type(error).__name__}: {error}") from None

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
        """A request whose answer is small: read whole (at most `body_bytes_max`), on a pooled
        connection of this client's own (`stream`) with its HTTP/1.1 written and read directly:
        a fraction of a general client's cost per request, which small objects pay several times.

        Waits connect_timeout_s for the connection, first_byte_timeout_s for the answer's head
        and chunk_timeout_s for its body. A pooled connection the node closed meanwhile is
        replaced once (nothing was answered on it: every node request is idempotent). Raises
        NodeUnreachable (nothing sent) or NodeFailed.
        """
        if not signed:
            headers = self.signed_headers(method, path, query, headers)
        target = path + (f"?{query}" if query else "")
        head = request_head(method, target, node, headers, content_length=len(body) if body else 0)
        while True:
            connection = await self.stream(node)
            reusable = False
            try:
                connection.writer.writelines([head, body] if body else [head])
                try:
                    async with asyncio.timeout(self.config.first_byte_timeout_s):
                        status, answer_headers, keep_alive = await read_answer_head(connection.reader)
                except (ConnectionError, asyncio.IncompleteReadError) as error:
                    stale = connection.reused and not getattr(error, "partial", b"")
                    if stale:  # the node had closed this idle connection: try a fresh one
                        continue
                    raise
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
