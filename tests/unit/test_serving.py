"""Reading request bodies as aiohttp buffered them (dolmen.serving.body_pieces)."""

from __future__ import annotations

import asyncio
from unittest import mock

from aiohttp import StreamReader
from aiohttp.streams import EmptyStreamReader

from dolmen.serving import body_pieces


async def pieces_of(content) -> list[bytes]:
    return [piece async for piece in body_pieces(content)]


def stream_reader() -> StreamReader:
    protocol = mock.Mock(_reading_paused=False)  # the transport side only: asked to pause and resume
    return StreamReader(protocol, limit=2**16, loop=asyncio.get_running_loop())


async def test_pieces_are_handed_out_as_buffered_not_joined():
    content = stream_reader()
    fed = [b"a" * 300_000, b"b" * 5, b"c" * 70_000]
    for piece in fed:
        content.feed_data(piece)
    content.feed_eof()
    pieces = await pieces_of(content)
    assert pieces == fed and all(got is sent for got, sent in zip(pieces, fed, strict=True))


async def test_a_chunked_body_ends_at_its_end_not_at_the_end_of_an_http_chunk():
    content = stream_reader()
    for piece in (b"first", b"second"):
        content.begin_http_chunk_receiving()
        content.feed_data(piece)
        content.end_http_chunk_receiving()
    content.begin_http_chunk_receiving()
    content.end_http_chunk_receiving()  # an HTTP chunk without data
    content.feed_eof()
    assert await pieces_of(content) == [b"first", b"second"]


async def test_a_body_read_before_or_empty_ends_at_once():
    content = stream_reader()
    content.feed_data(b"x")
    content.feed_eof()
    assert await pieces_of(content) == [b"x"]
    assert await pieces_of(content) == []
    empty = EmptyStreamReader()
    assert await pieces_of(empty) == []
    assert await asyncio.wait_for(pieces_of(empty), 1) == []  # read again: readchunk says (b"", True) forever
