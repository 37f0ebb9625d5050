"""The storage node's HTTP/1.1 server over real loopback sockets, with a tiny handler: what
HTTP/1.1 asks of it beyond what the node's own tests exercise (pipelining, chunked bodies,
expectations, HEAD, unread bodies, idle connections, shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from dolmen.storage_node.http_server import Limits, MalformedBody, Request, Response, Server, StreamResponse

LIMITS = Limits(
    request_line_bytes_max=1024, header_bytes_max=512, headers_count_max=16, keepalive_timeout_s=0.5
)


async def handler(request: Request) -> Response | StreamResponse:
    """/echo: the body back; /stream: 3 pieces of 4 bytes; /slow: an answer after 0.3 s;
    /ignore: answers without reading the body."""
    if request.raw_path == "/stream":
        response = StreamResponse(headers={"X-Kind": "stream"})
        response.content_length = 12
        await response.prepare(request)
        for piece in (b"abcd", b"efgh", b"ijkl"):
            await response.write(piece)
        await response.write_eof()
        return response
    if request.raw_path == "/slow":
        await asyncio.sleep(0.3)
        return Response(status=200, body=b"slow")
    if request.raw_path == "/ignore":
        return Response(status=202)
    if request.raw_path == "/slow-reader":  # reads slowly; answers the most it ever had buffered
        received = buffered_max = 0
        while piece := await request.content.readany():
            received += len(piece)
            buffered_max = max(buffered_max, request.content._buffered_bytes + len(piece))
            await asyncio.sleep(0.001)
        return Response(status=200, body=b"%d %d" % (received, buffered_max))
    pieces = []
    try:
        while piece := await request.content.readany():
            pieces.append(piece)
    except MalformedBody:
        return Response(status=400)
    return Response(status=200, headers={"X-Method": request.method}, body=b"".join(pieces))


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[tuple[Server, int]]:
    server = Server(handler, LIMITS)
    listener = await asyncio.get_running_loop().create_server(server, "127.0.0.1", 0)
    try:
        yield server, listener.sockets[0].getsockname()[1]
    finally:
        listener.close()
        await server.shutdown(1.0)


async def exchange(port: int, data: bytes, *, answers: int = 1) -> tuple[list[bytes], bool]:
    """Send `data`; read `answers` whole answers (Content-Length framed); and whether the server
    closed the connection within a moment after them."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        got = []
        for _ in range(answers):
            async with asyncio.timeout(5):
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)  # (an interim 100 has no length: none)
            got.append(head + body)
        try:
            async with asyncio.timeout(0.2):
                closed = await reader.read(1) == b""
        except TimeoutError:
            closed = False
        return got, closed
    finally:
        writer.close()


async def test_pipelined_requests_are_answered_in_order_on_one_kept_connection():
    async with serving() as (_, port):
        requests = (
            b"POST /echo HTTP/1.1\r\nHost: n\r\nContent-Length: 3\r\n\r\none"
            b"GET /slow HTTP/1.1\r\nHost: n\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: n\r\nContent-Length: 5\r\n\r\nthree"
        )
        answers, closed = await exchange(port, requests, answers=3)
        assert [answer.rpartition(b"\r\n\r\n")[2] for answer in answers] == [b"one", b"slow", b"three"]
        assert all(answer.startswith(b"HTTP/1.1 200 OK\r\n") for answer in answers)
        assert not closed  # kept alive


async def test_the_server_counts_the_requests_it_is_answering():
    async with serving() as (server, port):
        assert server.answering == 0
        slow = [
            asyncio.create_task(exchange(port, b"GET /slow HTTP/1.1\r\nHost: n\r\n\r\n")) for _ in range(3)
        ]
        await asyncio.sleep(0.15)  # each handler is sleeping: 0.3 s
        assert server.answering == 3
        await asyncio.gather(*slow)
        assert server.answering == 0


async def test_a_chunked_body_arrives_whole_and_a_streamed_answer_is_framed_by_its_length():
    async with serving() as (_, port):
        chunked = b"PUT /echo HTTP/1.1\r\nHost: n\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        (answer,), _ = await exchange(port, chunked)
        assert answer.endswith(b"\r\n\r\nabcde") and b"X-Method: PUT" in answer
        (answer,), _ = await exchange(port, b"GET /stream HTTP/1.1\r\nHost: n\r\n\r\n")
        assert b"Content-Length: 12" in answer and answer.endswith(b"\r\n\r\nabcdefghijkl")


async def test_expect_100_continue_is_answered_and_other_expectations_are_417():
    async with serving() as (_, port):
        request = b"PUT /echo HTTP/1.1\r\nHost: n\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"
        (interim, final), _ = await exchange(port, request, answers=2)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n" and final.endswith(b"hi")
        (refused,), closed = await exchange(port, b"PUT /echo HTTP/1.1\r\nHost: n\r\nExpect: magic\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 417 ") and closed


async def test_head_answers_carry_the_length_without_the_body():
    async with serving() as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"HEAD /stream HTTP/1.1\r\nHost: n\r\n\r\nGET /stream HTTP/1.1\r\nHost: n\r\n\r\n")
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
            second = await reader.readuntil(b"\r\n\r\n")  # the next answer follows at once: no body
            body = await reader.readexactly(12)
        writer.close()
        assert (
            b"Content-Length: 12" in head and second.startswith(b"HTTP/1.1 200") and body == b"abcdefghijkl"
        )


async def test_an_unread_body_is_drained_after_the_answer_and_then_the_connection_closes():
    """The handler answers before the body comes (as a node does for a failed condition); the
    client sends its body anyway and must still read the answer: the server reads and drops the
    rest before closing, since closing on unread bytes would reset the connection."""
    async with serving() as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /ignore HTTP/1.1\r\nHost: n\r\nContent-Length: 3000000\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")  # answered before the body
        for _ in range(30):
            writer.write(b"x" * 100_000)
            await writer.drain()
        async with asyncio.timeout(5):
            rest = await reader.read()  # then the server closes: no reset, nothing lost
        writer.close()
        assert head.startswith(b"HTTP/1.1 202 ") and b"Connection: close" in head and rest == b""


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"v" * 600 + b"\r\n\r\n", b"431"),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % index for index in range(20)) + b"\r\n", b"431"),
        (b"GET / HTTP/1.1\r\nX-Endless: " + b"v" * 100_000, b"431"),
        (b"NOT HTTP AT ALL\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", b"400"),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),
    ],
)
async def test_malformed_and_oversized_requests_are_refused_and_closed(request_bytes, status):
    async with serving() as (_, port):
        (answer,), closed = await exchange(port, request_bytes)
        assert answer.startswith(b"HTTP/1.1 " + status + b" ") and closed


async def test_a_slow_reader_holds_a_bounded_buffer_while_a_large_body_streams_in():
    async with serving() as (_, port):
        size = 24 * 2**20
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /slow-reader HTTP/1.1\r\nHost: n\r\nContent-Length: %d\r\n\r\n" % size)
        chunk = b"x" * 2**20
        for _ in range(size // len(chunk)):
            writer.write(chunk)
            await writer.drain()  # waits while the server has stopped reading
        async with asyncio.timeout(30):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            received, buffered_max = map(int, (await reader.readexactly(length)).split())
        writer.close()
        assert received == size
        # Reading stops past body_buffer_bytes_max; what is in flight then still lands (one
        # socket read, at most 256 KiB in uvloop), so the bound is the limit plus a little.
        assert buffered_max <= LIMITS.body_buffer_bytes_max + 2**20


async def test_an_upgrade_request_is_answered_as_http_and_the_connection_closed():
    async with serving() as (_, port):
        request = b"GET /stream HTTP/1.1\r\nHost: n\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        (answer,), closed = await exchange(port, request)
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"abcdefghijkl") and closed


async def test_idle_connections_close_and_shutdown_lets_a_busy_one_finish():
    async with serving() as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            assert await reader.read(1) == b""  # idle past keepalive_timeout_s: closed by the server
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\nHost: n\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        await server.shutdown(2.0)
        async with asyncio.timeout(5):
            answer = await reader.read()
        writer.close()
        assert (
            answer.startswith(b"HTTP/1.1 200 ")
            and answer.endswith(b"slow")
            and b"Connection: close" in answer
        )
