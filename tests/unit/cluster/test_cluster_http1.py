"""The HTTP/1.1 the cluster client speaks to nodes: request heads, chunk lines, answers read."""

from __future__ import annotations

import asyncio

import pytest

from dolmen.cluster.http1 import (
    AnswerMalformed,
    AnswerTooLarge,
    chunk_line,
    content_length,
    parse_answer_head,
    read_answer_body,
    request_head,
)


def test_the_request_head_is_chunked_with_the_signed_headers_in_order():
    head = request_head(
        "PUT",
        "/d1/7/AUTH_a/c/o%20x",
        "127.0.0.1:6200",
        {"X-Timestamp": "1.00000", "A": "b"},
        content_length=None,
    )
    assert head == (
        b"PUT /d1/7/AUTH_a/c/o%20x HTTP/1.1\r\nHost: 127.0.0.1:6200\r\nTransfer-Encoding: chunked\r\n"
        b"X-Timestamp: 1.00000\r\nA: b\r\n\r\n"
    )


@pytest.mark.parametrize("value", ["Müller 日本", "Hello\udce9", "plain"])
def test_header_values_travel_as_the_nodes_read_and_write_them(value):
    """UTF-8 both ways, as aiohttp on the node reads and writes headers; bytes that are not
    UTF-8 (lone surrogates, as aiohttp decodes them) go out as the bytes they stood for."""
    head = request_head("PUT", "/d1/1/a/c/o", "n:1", {"X-Object-Meta-M": value}, content_length=0)
    assert f"X-Object-Meta-M: {value}".encode("utf-8", "surrogateescape") in head
    assert head.decode("utf-8", "surrogateescape").count(value) == 1
    _, headers, _ = parse_answer_head(
        b"HTTP/1.1 200 OK\r\nX-Object-Meta-M: " + value.encode("utf-8", "surrogateescape") + b"\r\n\r\n"
    )
    assert headers["X-Object-Meta-M"] == value


def test_chunk_lines_are_hex_sizes():
    assert chunk_line(5 + 2**20) == b"100005\r\n"


def test_an_answer_head_gives_status_headers_and_keep_alive():
    status, headers, keep_alive = parse_answer_head(
        b'HTTP/1.1 201 Created\r\nContent-Length: 0\r\nETag: "abc"\r\nX-Backend-Timestamp: 1.0\r\n\r\n'
    )
    assert (status, headers["etag"], content_length(headers), keep_alive) == (201, '"abc"', 0, True)
    assert parse_answer_head(b"HTTP/1.1 409 Conflict\r\nConnection: close\r\n\r\n")[2] is False
    assert parse_answer_head(b"HTTP/1.0 201 Created\r\n\r\n")[2] is False


@pytest.mark.parametrize(
    "head",
    [
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 2x1 Created\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nNo colon here\r\n\r\n",
    ],
)
def test_malformed_answer_heads_are_refused(head):
    with pytest.raises(AnswerMalformed):
        parse_answer_head(head)


def test_a_known_length_request_says_so():
    assert b"\r\nContent-Length: 3\r\n" in request_head("PUT", "/r", "n", {}, content_length=3)


async def answer_body(method: str, head: bytes, wire: bytes, bytes_max: int = 100) -> tuple[bytes, bool]:
    status, headers, _ = parse_answer_head(head)
    reader = asyncio.StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    return await read_answer_body(reader, method, status, headers, bytes_max)


async def test_answer_bodies_follow_the_rules_of_http_1_1():
    length = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    assert await answer_body("GET", length, b"hello") == (b"hello", True)
    assert await answer_body("HEAD", length, b"") == (b"", True)  # a HEAD's length is the GET's
    no_content = b"HTTP/1.1 204 No Content\r\n\r\n"
    assert await answer_body("GET", no_content, b"") == (b"", True)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert await answer_body("GET", chunked, b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n") == (
        b"abcde",
        True,
    )
    until_close = b"HTTP/1.1 200 OK\r\n\r\n"
    assert await answer_body("GET", until_close, b"to the end") == (b"to the end", False)


@pytest.mark.parametrize(
    "head, wire",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", b"x" * 101),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"65\r\n" + b"x" * 101 + b"\r\n0\r\n\r\n"),
        (b"HTTP/1.1 200 OK\r\n\r\n", b"x" * 101),
    ],
)
async def test_answers_longer_than_taken_are_refused(head, wire):
    with pytest.raises(AnswerTooLarge):
        await answer_body("GET", head, wire)


@pytest.mark.parametrize(
    "wire", [b"zz\r\nab\r\n0\r\n\r\n", b"2\r\nabXY0\r\n\r\n"], ids=["bad-size", "no-crlf-after-data"]
)
async def test_malformed_chunks_are_refused(wire):
    with pytest.raises(AnswerMalformed):
        await answer_body("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", wire)


@pytest.mark.parametrize("header", [b"Content-Length: -1", b"Content-Length: 1x"])
def test_bad_lengths_are_refused(header):
    _, headers, _ = parse_answer_head(b"HTTP/1.1 201 Created\r\n" + header + b"\r\n\r\n")
    with pytest.raises(AnswerMalformed):
        content_length(headers)
