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
from collections.abc import Sequence

from multidict import CIMultiDictProxy

from dolmen.cluster.http1 import (
    CRLF,
    LAST_CHUNK,
    AnswerMalformed,
    AnswerTooLarge,
    chunk_line,
    read_answer_body,
    read_answer_head,
    request_head,
)
from dolmen.cluster.placement import node_of
from dolmen.cluster.transport import SMALL_BODY_BYTES_MAX, NodeAnswer, StreamConnection, Transport
from dolmen.ring.devices import Device

Buffer = bytes | bytearray | memoryview


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
        connection.writer.write(request_head("PUT", path, node, headers, content_length=None))
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
                status, headers, keep_alive = await read_answer_head(connection.reader)
                body, whole = await read_answer_body(
                    connection.reader, "PUT", status, headers, SMALL_BODY_BYTES_MAX
                )
        except (
            TimeoutError,
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            AnswerMalformed,
            AnswerTooLarge,
        ) as error:
            self.transport.record_error(
                self.node, "timeout" if isinstance(error, TimeoutError) else "connection"
            )
            self.abort()
            return None
        self._connection = None
        self.transport.release_stream(connection, reusable=keep_alive and whole)
        self.transport.record_status(self.node, status)
        return NodeAnswer(self.node, status, CIMultiDictProxy(headers), body)

    def abort(self) -> None:
        """Close the connection (never reused): the node stores nothing without the footer."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self.transport.release_stream(connection, reusable=False)
