"""One replica of a streamed object PUT: the framed body written straight to a node's socket.

A streamed write sends the same frames to every replica. Through a general HTTP client each
frame would pass a queue, a body generator and the client's chunk writer (which joins
header and payload into a fresh copy on Python < 3.12.9) once per replica. Here each frame is
one vectored write (the HTTP/1.1 chunk line, the frame's buffers, CRLF) on a connection of the
upload's own, the frames are shared by every replica and never copied, and the writer waits
only when a replica's socket buffer holds more than `buffer_bytes_max`.

The connection comes from the transport's pool of stream connections (`Transport.stream`),
which bounds the connections open to each node; it goes back to the pool only when the
node's answer was read whole and keeps the connection alive, never after an aborted body.

    open -> write / drain (per frame) -> finish (footer, answer) | abort
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from multidict import CIMultiDict, CIMultiDictProxy

from dolmen.cluster.placement import node_of
from dolmen.cluster.transport import (
    SMALL_BODY_BYTES_MAX,
    NodeAnswer,
    StreamConnection,
    Transport,
)
from dolmen.ring.devices import Device

Buffer = bytes | bytearray | memoryview
CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"


class AnswerMalformed(ValueError):
    """The node's answer is not an HTTP/1.1 response this client reads."""


def request_head(method: str, path: str, host: str, headers: Mapping[str, str]) -> bytes:
    """The request line and headers of a chunked request (`path` already percent-encoded)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Transfer-Encoding: chunked"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk_line(size: int) -> bytes:
    return b"%x\r\n" % size


def parse_answer_head(head: bytes) -> tuple[int, CIMultiDict[str], bool]:
    """(status, headers, keeps the connection alive) of a response head ending in CRLF CRLF."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status_text = rest[:3]
    if version not in ("HTTP/1.1", "HTTP/1.0") or not status_text.isdigit():
        raise AnswerMalformed(f"bad status line {lines[0][:80]!r}")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise AnswerMalformed(f"bad header line {line[:80]!r}")
        headers.add(name, value.strip())
    connection = headers.get("Connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return int(status_text), headers, keep_alive


def answer_length(headers: CIMultiDict[str]) -> int:
    """The body length of a node's answer (Content-Length; a chunked answer is not expected)."""
    if "Transfer-Encoding" in headers:
        raise AnswerMalformed("a chunked answer to a PUT")
    text = headers.get("Content-Length", "0")
    if not text.isdigit() or int(text) > SMALL_BODY_BYTES_MAX:
        raise AnswerMalformed(f"bad Content-Length {text[:40]!r}")
    return int(text)


class ReplicaUpload:
    """The streamed PUT of one replica. Failures after the open only mark it dead (`alive`):
    the writer goes on with the other replicas and the quorum decides."""

    def __init__(
        self,
        transport: Transport,
        device: Device,
        signature: str,
        connection: StreamConnection,
        buffer_bytes_max: int,
    ) -> None:
        self.transport = transport
        self._buffer_bytes_max = buffer_bytes_max
        self.device = device
        self.node = node_of(device)
        self.signature = signature
        self._connection: StreamConnection | None = connection

    @classmethod
    async def open(
        cls,
        transport: Transport,
        device: Device,
        path: str,
        headers: dict[str, str],
        *,
        buffer_bytes_max: int,
    ) -> ReplicaUpload:
        """Connect (pooled) and send the request head; NodeUnreachable if no connection opens.
        `drain` waits while more than `buffer_bytes_max` bytes are not yet taken by the socket."""
        node = node_of(device)
        connection = await transport.stream(node)
        connection.writer.transport.set_write_buffer_limits(high=buffer_bytes_max)
        connection.writer.write(request_head("PUT", path, node, headers))
        return cls(transport, device, headers["X-Backend-Signature"], connection, buffer_bytes_max)

    @property
    def alive(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.writer.transport.is_closing()

    def write(self, frame: Sequence[Buffer]) -> None:
        """Queue one frame (its buffers) on the socket: one HTTP chunk, one vectored write."""
        if self.alive:
            assert self._connection is not None
            size = sum(len(part) for part in frame)
            self._connection.writer.writelines([chunk_line(size), *frame, CRLF])

    async def drain(self, timeout_s: float) -> None:
        """Wait while more than the open's `buffer_bytes_max` bytes wait for the socket (until a
        quarter of that is left); a replica that stays that full for `timeout_s` is dropped."""
        connection = self._connection
        if (
            connection is None
            or connection.writer.transport.get_write_buffer_size() <= self._buffer_bytes_max
        ):
            return
        try:
            async with asyncio.timeout(timeout_s):
                await connection.writer.drain()
        except (TimeoutError, OSError) as error:
            self.transport.record_error(
                self.node, "timeout" if isinstance(error, TimeoutError) else "connection"
            )
            self.abort()

    async def finish(self, footer: bytes, timeout_s: float) -> NodeAnswer | None:
        """Send the footer frame and the end of the body; the node's answer within `timeout_s`,
        or None if this replica failed (counted in the error limiter)."""
        if not self.alive:
            self.abort()
            return None
        assert self._connection is not None
        connection = self._connection
        connection.writer.writelines([chunk_line(len(footer)), footer, CRLF, LAST_CHUNK])
        try:
            async with asyncio.timeout(timeout_s):
                await connection.writer.drain()
                status, headers, keep_alive = await self._read_head(connection.reader)
                body = await connection.reader.readexactly(answer_length(headers))
        except (
            TimeoutError,
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            AnswerMalformed,
        ) as error:
            self.transport.record_error(
                self.node, "timeout" if isinstance(error, TimeoutError) else "connection"
            )
            self.abort()
            return None
        self._connection = None
        self.transport.release_stream(connection, reusable=keep_alive)
        self.transport.record_status(self.node, status)
        return NodeAnswer(self.node, status, CIMultiDictProxy(headers), body)

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> tuple[int, CIMultiDict[str], bool]:
        while True:  # interim 1xx answers come before the final one
            status, headers, keep_alive = parse_answer_head(await reader.readuntil(CRLF + CRLF))
            if status >= 200:
                return status, headers, keep_alive

    def abort(self) -> None:
        """Close the connection (never reused): the node stores nothing without the footer."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self.transport.release_stream(connection, reusable=False)
