"""dolmen.proxy.largeobjects on a real cluster: manifests stored, segments streamed, changes caught."""

from __future__ import annotations

import hashlib
import os

import pytest
from dolmen.proxy.errors import SegmentInvalid
from dolmen.proxy.largeobjects import (
    Segment,
    is_large_object,
    open_large_object,
    put_manifest,
    read_manifest,
    slo_etag,
)
from helpers.cluster import unique

from dolmen.cluster import RangeNotSatisfiable
from dolmen.limits import LARGE_OBJECT_NESTING_MAX

ACCOUNT = "AUTH_largeobjects"


async def one(data: bytes):
    yield data


async def store(client, container: str, data: bytes) -> Segment:
    name = unique("seg")
    result = await client.put_object(
        ACCOUNT, container, name, one(data), content_type="x/seg", length=len(data)
    )
    return Segment(container, name, result.etag, len(data), None)


async def read(body) -> bytes:
    try:
        return b"".join([chunk async for chunk in body.chunks])
    finally:
        await body.aclose()


@pytest.fixture
async def container(cluster_client) -> str:
    name = unique("lo")
    await cluster_client.put_container(ACCOUNT, name)
    return name


async def test_a_manifest_streams_its_segments_nested_and_ranged(cluster_client, container):
    parts = [os.urandom(size) for size in (1000, 1, 70_000, 300)]
    segments = [await store(cluster_client, container, part) for part in parts]
    inner = [segments[1], segments[2]]
    await put_manifest(cluster_client, ACCOUNT, container, "inner", inner, content_type="x/inner")
    inner_info = await cluster_client.head_object(ACCOUNT, container, "inner")
    assert is_large_object(inner_info)
    ranged = Segment(container, segments[3].obj, segments[3].etag, 100, (50, 149))
    nested = Segment(container, "inner", slo_etag(inner), 70_001, None, sub_slo=True)
    outer = [segments[0], nested, ranged]
    await put_manifest(
        cluster_client, ACCOUNT, container, "outer", outer, content_type="x/big", metadata={"color": "red"}
    )
    whole = parts[0] + parts[1] + parts[2] + parts[3][50:150]
    info = await cluster_client.head_object(ACCOUNT, container, "outer")
    assert info.content_type == "x/big" and info.metadata["color"] == "red"
    assert info.metadata["dolmen-sys-slo"] == slo_etag(outer)
    assert info.metadata["dolmen-sys-slo-size"] == str(len(whole))
    assert (await read_manifest(cluster_client, ACCOUNT, container, "outer"))[1] == outer

    body = await open_large_object(cluster_client, ACCOUNT, container, "outer", info)
    assert (body.status, body.length, body.content_range) == (200, len(whole), None)
    assert hashlib.md5(await read(body)).digest() == hashlib.md5(whole).digest()
    for header, start, stop in [("bytes=999-1001", 999, 1002), ("bytes=-120", len(whole) - 120, len(whole))]:
        body = await open_large_object(cluster_client, ACCOUNT, container, "outer", info, range_header=header)
        assert (body.status, body.content_range) == (206, f"bytes {start}-{stop - 1}/{len(whole)}")
        assert await read(body) == whole[start:stop]
    with pytest.raises(RangeNotSatisfiable):
        await open_large_object(
            cluster_client, ACCOUNT, container, "outer", info, range_header="bytes=99999999-"
        )


async def test_a_changed_or_missing_segment_is_caught_before_its_bytes(cluster_client, container):
    first, second = (
        await store(cluster_client, container, b"a" * 10),
        await store(cluster_client, container, b"b" * 10),
    )
    await put_manifest(cluster_client, ACCOUNT, container, "m", [first, second], content_type="x/m")
    info = await cluster_client.head_object(ACCOUNT, container, "m")
    await cluster_client.put_object(ACCOUNT, container, second.obj, one(b"c" * 10), content_type="x/seg")
    body = await open_large_object(cluster_client, ACCOUNT, container, "m", info)
    received = []
    with pytest.raises(SegmentInvalid):
        async for chunk in body.chunks:
            received.append(chunk)
    assert b"".join(received) == b"a" * 10  # the first segment, and not a byte of the changed one
    await cluster_client.delete_object(ACCOUNT, container, first.obj)
    with pytest.raises(SegmentInvalid):  # the first segment fails before open_large_object returns
        await open_large_object(cluster_client, ACCOUNT, container, "m", info)


async def test_a_manifest_naming_itself_fails_on_its_etag(cluster_client, container):
    data = await store(cluster_client, container, b"x")
    await put_manifest(cluster_client, ACCOUNT, container, "loop", [data], content_type="x/m")
    # No manifest can hold its own SLO ETag (an MD5 over it), so a loop is caught at its first repeat.
    own = Segment(container, "loop", slo_etag([data]), 1, None, sub_slo=True)
    await put_manifest(cluster_client, ACCOUNT, container, "loop", [own], content_type="x/m")
    info = await cluster_client.head_object(ACCOUNT, container, "loop")
    with pytest.raises(SegmentInvalid):
        await open_large_object(cluster_client, ACCOUNT, container, "loop", info)


async def test_manifests_nest_up_to_the_bound_and_no_deeper(cluster_client, container):
    entry = await store(cluster_client, container, b"deep")
    for level in range(1, LARGE_OBJECT_NESTING_MAX + 1):
        await put_manifest(cluster_client, ACCOUNT, container, f"level{level}", [entry], content_type="x/m")
        entry = Segment(container, f"level{level}", slo_etag([entry]), 4, None, sub_slo=True)
    deepest = await cluster_client.head_object(ACCOUNT, container, f"level{LARGE_OBJECT_NESTING_MAX}")
    body = await open_large_object(
        cluster_client, ACCOUNT, container, f"level{LARGE_OBJECT_NESTING_MAX}", deepest
    )
    assert await read(body) == b"deep"
    await put_manifest(cluster_client, ACCOUNT, container, "too-deep", [entry], content_type="x/m")
    info = await cluster_client.head_object(ACCOUNT, container, "too-deep")
    with pytest.raises(SegmentInvalid):
        await open_large_object(cluster_client, ACCOUNT, container, "too-deep", info)
