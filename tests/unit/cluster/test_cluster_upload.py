"""The streamed upload's wire pieces: request head, chunk lines, and how a node's answer is read."""

from __future__ import annotations

import pytest

from dolmen.cluster.upload import AnswerMalformed, answer_length, chunk_line, parse_answer_head, request_head


def test_the_request_head_is_chunked_with_the_signed_headers_in_order():
    head = request_head("PUT", "/d1/7/AUTH_a/c/o%20x", "127.0.0.1:6200", {"X-Timestamp": "1.00000", "A": "b"})
    assert head == (
        b"PUT /d1/7/AUTH_a/c/o%20x HTTP/1.1\r\nHost: 127.0.0.1:6200\r\nTransfer-Encoding: chunked\r\n"
        b"X-Timestamp: 1.00000\r\nA: b\r\n\r\n"
    )


def test_chunk_lines_are_hex_sizes():
    assert chunk_line(5 + 2**20) == b"100005\r\n"


def test_an_answer_head_gives_status_headers_and_keep_alive():
    status, headers, keep_alive = parse_answer_head(
        b'HTTP/1.1 201 Created\r\nContent-Length: 0\r\nETag: "abc"\r\nX-Backend-Timestamp: 1.0\r\n\r\n'
    )
    assert (status, headers["etag"], answer_length(headers), keep_alive) == (201, '"abc"', 0, True)
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


@pytest.mark.parametrize(
    "header", [b"Content-Length: -1", b"Content-Length: 99999999999", b"Transfer-Encoding: chunked"]
)
def test_answer_lengths_are_bounded_and_never_chunked(header):
    _, headers, _ = parse_answer_head(b"HTTP/1.1 201 Created\r\n" + header + b"\r\n\r\n")
    with pytest.raises(AnswerMalformed):
        answer_length(headers)
