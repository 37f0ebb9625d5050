"""Objects through the cluster client against a real 3-node cluster: sizes, ranges, metadata, deletes."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest
from helpers.cluster import unique

from dolmen.cluster import (
    BodyCheckFailed,
    EtagMismatch,
    NotFound,
    NotModified,
    PreconditionFailed,
    QuorumNotReached,
    RangeNotSatisfiable,
    SystemAccountRefused,
)

ACCOUNT = "AUTH_objects"
CHUNK_BYTES = 256 * 2**10
SIZES = [
    0,
    1,
    16 * 2**10 - 1,
    16 * 2**10,
    16 * 2**10 + 1,
    64 * 2**10 - 1,
    64 * 2**10,
    64 * 2**10 + 1,
    50 * 2**20,
]


async def chunks_of(data: bytes, size: int = CHUNK_BYTES):
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture(autouse=True)
async def containers(cluster_client):
    for container in ("sizes", "ranges", "meta", "deletes", "refused", "once", "race", "cas"):
        await cluster_client.put_container(ACCOUNT, container)


async def read_all(client, account, container, name, headers=None, **kwargs) -> tuple[int, bytes, object]:
    async with client.get_object(account, container, name, headers or {}, **kwargs) as reader:
        data = b"".join([chunk async for chunk in reader.body])
        return reader.status, data, reader.info


@pytest.mark.parametrize("size", SIZES)
async def test_objects_of_every_size_round_trip(cluster_client, size):
    data = os.urandom(size)
    name = unique("obj")
    result = await cluster_client.put_object(
        ACCOUNT, "sizes", name, chunks_of(data), content_type="application/x-test", length=size
    )
    assert result.etag == hashlib.md5(data).hexdigest() and result.bytes == size
    status, body, info = await read_all(cluster_client, ACCOUNT, "sizes", name)
    assert status == 200 and body == data
    assert (info.length, info.etag, info.content_type, info.timestamp) == (
        size,
        result.etag,
        "application/x-test",
        result.timestamp,
    )


async def test_ranges_and_conditionals_pass_through(cluster_client):
    data = os.urandom(200_000)
    name = unique("ranged")
    result = await cluster_client.put_object(ACCOUNT, "ranges", name, chunks_of(data), content_type="a/b")
    status, body, _ = await read_all(cluster_client, ACCOUNT, "ranges", name, {"Range": "bytes=70000-130000"})
    assert status == 206 and body == data[70_000:130_001]
    status, body, _ = await read_all(cluster_client, ACCOUNT, "ranges", name, {"Range": "bytes=-10"})
    assert status == 206 and body == data[-10:]
    with pytest.raises(RangeNotSatisfiable) as raised:
        await read_all(cluster_client, ACCOUNT, "ranges", name, {"Range": "bytes=300000-"})
    assert raised.value.length == len(data)
    with pytest.raises(NotModified):
        await read_all(cluster_client, ACCOUNT, "ranges", name, {"If-None-Match": f'"{result.etag}"'})
    with pytest.raises(PreconditionFailed):
        await cluster_client.head_object(ACCOUNT, "ranges", name, {"If-Match": '"0123"'})
    info = await cluster_client.head_object(ACCOUNT, "ranges", name, {"If-Match": f'"{result.etag}"'})
    assert info.length == len(data)


async def test_metadata_is_stored_replaced_by_post_and_footer_metadata_comes_back(cluster_client):
    name = unique("meta")
    await cluster_client.put_object(
        ACCOUNT,
        "meta",
        name,
        chunks_of(b"hello"),
        content_type="text/plain",
        metadata={"Color": "blue", "size": "L"},
        footer_metadata=lambda: {"X-Object-Sysmeta-Checksum": "abc"},
    )
    info = await cluster_client.head_object(ACCOUNT, "meta", name)
    assert info.metadata == {"color": "blue", "size": "L"}
    assert info.extra == {"X-Object-Sysmeta-Checksum": "abc"}
    await cluster_client.post_object(ACCOUNT, "meta", name, {"shape": "round"}, content_type="text/x-new")
    info = await cluster_client.head_object(ACCOUNT, "meta", name)
    assert info.metadata == {"shape": "round"} and info.content_type == "text/x-new"
    with pytest.raises(NotFound):
        await cluster_client.post_object(ACCOUNT, "meta", unique("missing"), {"a": "b"})


async def test_deletes_leave_nothing_and_a_second_delete_is_not_found(cluster_client):
    name = unique("deleted")
    await cluster_client.put_object(ACCOUNT, "deletes", name, chunks_of(b"x" * 100), content_type="a/b")
    await cluster_client.delete_object(ACCOUNT, "deletes", name)
    with pytest.raises(NotFound):
        await cluster_client.head_object(ACCOUNT, "deletes", name)
    with pytest.raises(NotFound):
        await read_all(cluster_client, ACCOUNT, "deletes", name)
    with pytest.raises(NotFound):
        await cluster_client.delete_object(ACCOUNT, "deletes", name)


# A known length up to put_whole_bytes_max goes whole in one request per replica; else it streams.
WRITE_PATHS = pytest.mark.parametrize("whole", [False, True], ids=["streamed", "whole"])


def length_if(whole: bool, data: bytes) -> int | None:
    return len(data) if whole else None


@WRITE_PATHS
async def test_a_refused_body_is_aborted_on_every_replica_and_nothing_is_stored(cluster_client, whole):
    name = unique("refused")
    with pytest.raises(EtagMismatch):
        await cluster_client.put_object(
            ACCOUNT,
            "refused",
            name,
            chunks_of(b"data"),
            content_type="a/b",
            expected_etag="0" * 32,
            length=length_if(whole, b"data"),
        )

    async def refuse() -> None:
        raise BodyCheckFailed("trailing checksum differs")

    with pytest.raises(BodyCheckFailed):
        await cluster_client.put_object(
            ACCOUNT,
            "refused",
            name,
            chunks_of(b"data"),
            content_type="a/b",
            check_body=refuse,
            length=length_if(whole, b"data"),
        )
    with pytest.raises(NotFound):
        await cluster_client.head_object(ACCOUNT, "refused", name)


@pytest.mark.parametrize(
    "announced", [3, 5, 2**20], ids=["body-longer", "body-shorter", "body-shorter-streamed"]
)
async def test_a_body_of_another_length_than_announced_is_refused_and_nothing_is_stored(
    cluster_client, announced
):
    name = unique("mislength")
    with pytest.raises(QuorumNotReached):
        await cluster_client.put_object(
            ACCOUNT, "refused", name, chunks_of(b"data"), content_type="a/b", length=announced
        )
    with pytest.raises(NotFound):
        await cluster_client.head_object(ACCOUNT, "refused", name)


@WRITE_PATHS
async def test_if_none_match_refuses_to_overwrite(cluster_client, whole):
    name = unique("once")
    await cluster_client.put_object(
        ACCOUNT,
        "once",
        name,
        chunks_of(b"1"),
        content_type="a/b",
        if_none_match=True,
        length=length_if(whole, b"1"),
    )
    with pytest.raises(PreconditionFailed):
        await cluster_client.put_object(
            ACCOUNT,
            "once",
            name,
            chunks_of(b"2"),
            content_type="a/b",
            if_none_match=True,
            length=length_if(whole, b"2"),
        )
    assert (await read_all(cluster_client, ACCOUNT, "once", name))[1] == b"1"


async def test_racing_conditional_writes_never_both_succeed(cluster_client):
    """Writers that all started while no object existed: the nodes judge If-None-Match at the
    commit, and quorums intersect, so at most one of them is told its write was stored."""
    name = unique("race")
    all_started = asyncio.Event()
    started = 0
    writers = 6

    async def body(mark: bytes):
        nonlocal started
        yield mark * 2**16
        started += 1
        if started == writers:
            all_started.set()
        await all_started.wait()
        yield mark * 2**16

    async def write(mark: bytes) -> bool:
        try:
            await cluster_client.put_object(
                ACCOUNT, "race", name, body(mark), content_type="a/b", if_none_match=True
            )
        except PreconditionFailed:
            return False
        return True

    outcomes = await asyncio.gather(*(write(bytes([ord("a") + i])) for i in range(writers)))
    assert sum(outcomes) <= 1, outcomes
    with pytest.raises(PreconditionFailed):  # the object is there now
        await cluster_client.put_object(
            ACCOUNT, "race", name, chunks_of(b"late"), content_type="a/b", if_none_match=True
        )


async def test_if_match_writes_only_over_the_object_judged(cluster_client):
    name = unique("cas")
    first = await cluster_client.put_object(ACCOUNT, "cas", name, chunks_of(b"1"), content_type="a/b")
    second = await cluster_client.put_object(
        ACCOUNT, "cas", name, chunks_of(b"2"), content_type="a/b", if_match=first.etag
    )
    with pytest.raises(PreconditionFailed):  # the object is no longer the one judged
        await cluster_client.put_object(
            ACCOUNT, "cas", name, chunks_of(b"3"), content_type="a/b", if_match=first.etag
        )
    with pytest.raises(PreconditionFailed):
        await cluster_client.put_object(
            ACCOUNT, "cas", unique("none"), chunks_of(b"3"), content_type="a/b", if_match=first.etag
        )
    assert (await read_all(cluster_client, ACCOUNT, "cas", name))[1] == b"2"
    assert second.etag == hashlib.md5(b"2").hexdigest()


async def test_system_accounts_need_the_internal_flag(cluster_client):
    with pytest.raises(SystemAccountRefused):
        await cluster_client.put_object(".system", "c", "o", chunks_of(b"x"), content_type="a/b")
    with pytest.raises(SystemAccountRefused):
        await cluster_client.head_object(".system", "c", "o")
    await cluster_client.put_object(".system", "c", "o", chunks_of(b"x"), content_type="a/b", internal=True)
    assert (await read_all(cluster_client, ".system", "c", "o", internal=True))[1] == b"x"


async def test_streamed_writes_reuse_pooled_connections_and_a_cancelled_write_closes_its_own(cluster_client):
    transport = cluster_client.transport
    data = os.urandom(2 * 2**20)
    await cluster_client.put_object(ACCOUNT, "sizes", unique("pooled"), chunks_of(data), content_type="a/b")
    pooled = {id(connection) for connection in transport.pooled_streams()}
    assert len(pooled) >= 3  # one per replica's node, back in the pool once answered
    await cluster_client.put_object(ACCOUNT, "sizes", unique("pooled"), chunks_of(data), content_type="a/b")
    assert {id(connection) for connection in transport.pooled_streams()} == pooled  # taken and given back

    sent_some = asyncio.Event()

    async def stalls_after_one_chunk():
        yield data[: 2**20]
        sent_some.set()
        await asyncio.Event().wait()

    name = unique("cancelled")
    write = asyncio.ensure_future(
        cluster_client.put_object(ACCOUNT, "sizes", name, stalls_after_one_chunk(), content_type="a/b")
    )
    await sent_some.wait()
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
    left = transport.pooled_streams()
    assert len(left) == len(pooled) - 3  # the cancelled write's connections were closed, not pooled
    assert all(not connection.writer.transport.is_closing() for connection in left)
    with pytest.raises(NotFound):
        await cluster_client.head_object(ACCOUNT, "sizes", name)
    await cluster_client.put_object(ACCOUNT, "sizes", name, chunks_of(data), content_type="a/b")
    assert (await read_all(cluster_client, ACCOUNT, "sizes", name))[1] == data
