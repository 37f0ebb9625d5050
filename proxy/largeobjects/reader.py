"""Reading large objects: the manifest, then its segments streamed in order (proxy/LARGE_OBJECTS.md).

Nested manifests are read when the stream reaches them, never the whole tree
up front, so a request holds at most LARGE_OBJECT_NESTING_MAX manifests (each
at most LARGE_OBJECT_MANIFEST_BYTES_MAX) and one open segment at a time. Each
segment's ETag and length are checked against its entry before its first byte
is passed on: a segment missing or changed is SegmentInvalid, a 409 when it is
the first (checked before `open_large_object` returns), otherwise the end of
a stream whose status is already out.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass

from dolmen.proxy.errors import ManifestInvalid, SegmentInvalid
from dolmen.proxy.largeobjects.manifest import (
    SLO_ITEM,
    SLO_SIZE_ITEM,
    Segment,
    is_large_object,
    parse_manifest,
    pieces,
    total_length,
)
from dolmen.storage_node import http_ranges

from dolmen.cluster import ClusterClient, NotFound, ObjectInfo, RangeNotSatisfiable
from dolmen.limits import LARGE_OBJECT_MANIFEST_BYTES_MAX, LARGE_OBJECT_NESTING_MAX


@dataclass(slots=True)
class LargeObjectBody:
    """What a GET of a large object sends: status (200/206), length, Content-Range, and the bytes.

    `chunks` holds at most one segment open; `aclose()` releases it when the
    caller stops early (a cancel leaves nothing else behind).
    """

    status: int
    length: int
    content_range: str | None
    chunks: AsyncIterator[bytes]

    async def aclose(self) -> None:
        close = getattr(self.chunks, "aclose", None)
        if close is not None:
            await close()


async def read_manifest(
    client: ClusterClient, account: str, container: str, obj: str
) -> tuple[ObjectInfo, list[Segment]]:
    """A manifest object's info and segments; NotFound, or ManifestInvalid if it is not a manifest."""
    async with client.get_object(account, container, obj) as reader:
        if not is_large_object(reader.info):
            raise ManifestInvalid(f"/{container}/{obj} is not a large object manifest")
        if reader.info.length > LARGE_OBJECT_MANIFEST_BYTES_MAX:
            raise ManifestInvalid("Manifest is too large")
        body = bytearray()
        async for chunk in reader.body:
            body += chunk
            if len(body) > LARGE_OBJECT_MANIFEST_BYTES_MAX:
                raise ManifestInvalid("Manifest is too large")
    return reader.info, parse_manifest(bytes(body))


def large_object_length(info: ObjectInfo, segments: Sequence[Segment] | None = None) -> int:
    """The length of the large object a manifest describes (its stored total, else the entries' sum)."""
    stored = info.metadata.get(SLO_SIZE_ITEM, "")
    if stored.isdigit():
        return int(stored)
    assert segments is not None, "a manifest without its size item needs its segments"
    return total_length(segments)


async def open_large_object(
    client: ClusterClient,
    account: str,
    container: str,
    obj: str,
    info: ObjectInfo,
    *,
    range_header: str | None = None,
) -> LargeObjectBody:
    """Start serving the large object whose manifest `info` describes (see `open_segments`).

    Raises RangeNotSatisfiable, SegmentInvalid (the first segment), NotFound,
    or SegmentInvalid when the manifest changed since `info` was read.
    """
    stored, segments = await read_manifest(client, account, container, obj)
    if stored.metadata.get(SLO_ITEM) != info.metadata.get(SLO_ITEM):
        raise SegmentInvalid(f"/{container}/{obj} changed while it was read")
    return await open_segments(
        client, account, segments, large_object_length(stored, segments), range_header=range_header
    )


async def open_segments(
    client: ClusterClient,
    account: str,
    segments: Sequence[Segment],
    length: int,
    *,
    range_header: str | None = None,
) -> LargeObjectBody:
    """Start serving the `length` bytes `segments` make up (a manifest's, or a DLO's listing).

    A single satisfiable range is a 206 that skips whole segments; no range, a
    malformed one or several ranges serve the whole object (200). Raises
    RangeNotSatisfiable, or SegmentInvalid for the first segment.
    """
    try:
        ranges = http_ranges.parse_range(range_header, length)
    except http_ranges.RangeNotSatisfiable:
        raise RangeNotSatisfiable(length) from None
    if ranges is None or len(ranges) > 1:
        start, stop, status, content_range = 0, length, 200, None
    else:
        (byte_range,) = ranges
        start, stop, status = byte_range.start, byte_range.stop, 206
        content_range = byte_range.content_range(length)
    chunks = await primed(stream_segments(client, account, segments, start, stop))
    return LargeObjectBody(status, stop - start, content_range, chunks)


async def primed(chunks: AsyncGenerator[bytes, None]) -> Primed:
    """`chunks`, its first chunk already fetched, so that a bad first segment fails before any header."""
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = None
    except BaseException:
        await chunks.aclose()
        raise
    return Primed(first, chunks)


class Primed:
    """An async iterator over a first chunk and then the rest of `chunks`; `aclose` releases them."""

    def __init__(self, first: bytes | None, chunks: AsyncGenerator[bytes, None]) -> None:
        self._first, self._chunks = first, chunks

    def __aiter__(self) -> Primed:
        return self

    async def __anext__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await anext(self._chunks)

    async def aclose(self) -> None:
        await self._chunks.aclose()


async def stream_segments(
    client: ClusterClient,
    account: str,
    segments: Sequence[Segment],
    start: int,
    stop: int,
    *,
    depth: int = 1,
) -> AsyncGenerator[bytes, None]:
    """Bytes [start, stop) of the large object `segments` make up, one segment open at a time."""
    for segment, first, last_stop in pieces(segments, start, stop):
        if segment.sub_slo:
            if depth >= LARGE_OBJECT_NESTING_MAX:
                raise SegmentInvalid(f"{segment.name}: max recursion depth exceeded")
            nested = await _nested_manifest(client, account, segment)
            async for chunk in stream_segments(client, account, nested, first, last_stop, depth=depth + 1):
                yield chunk
        else:
            async for chunk in _segment_bytes(client, account, segment, first, last_stop):
                yield chunk


async def _nested_manifest(client: ClusterClient, account: str, segment: Segment) -> list[Segment]:
    try:
        info, nested = await read_manifest(client, account, segment.container, segment.obj)
    except (NotFound, ManifestInvalid):
        raise SegmentInvalid(f"{segment.name}: not a large object any more") from None
    length = large_object_length(info, nested)
    if info.metadata.get(SLO_ITEM) != segment.etag or not _fits(segment, length):
        raise SegmentInvalid(f"{segment.name}: no longer matches its manifest entry")
    return nested


async def _segment_bytes(
    client: ClusterClient, account: str, segment: Segment, first: int, stop: int
) -> AsyncGenerator[bytes, None]:
    whole = segment.range is None and first == 0 and stop == segment.length
    headers = {} if whole else {"Range": f"bytes={first}-{stop - 1}"}
    try:
        async with client.get_object(account, segment.container, segment.obj, headers=headers) as reader:
            if reader.info.etag != segment.etag or not _fits(segment, reader.info.length):
                raise SegmentInvalid(f"{segment.name}: no longer matches its manifest entry")
            sent = 0
            async for chunk in reader.body:
                sent += len(chunk)
                if sent > stop - first:
                    raise SegmentInvalid(f"{segment.name}: longer than its manifest entry")
                yield chunk
            if sent != stop - first:
                raise SegmentInvalid(f"{segment.name}: shorter than its manifest entry")
    except (NotFound, RangeNotSatisfiable):
        raise SegmentInvalid(f"{segment.name}: missing") from None


def _fits(segment: Segment, length: int) -> bool:
    """True when an object of `length` bytes still holds what `segment` takes from it."""
    return length == segment.length if segment.range is None else segment.range[1] < length
