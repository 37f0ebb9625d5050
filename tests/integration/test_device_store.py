"""The device engine on real temporary directories: durability, conflicts, corruption, group commit."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import time
from pathlib import Path
from random import Random

import lmdb
import pytest
import xxhash
from dolmen.storage_node import suffix_log
from dolmen.storage_node.checksums import BLOCK_BYTES
from dolmen.storage_node.containers import CONTAINER, Keyspaces
from dolmen.storage_node.device import (
    DEVICE_FORMAT_VERSION,
    STAMP_FILE_NAME,
    DeviceConfig,
    DeviceStore,
    StoreMetrics,
)
from dolmen.storage_node.entries import ObjectEntry
from dolmen.storage_node.errors import (
    Conflict,
    CorruptBody,
    DeviceInUse,
    InsufficientStorage,
    LengthMismatch,
    NotFound,
    StampMismatch,
    UploadChecksumMismatch,
)
from dolmen.storage_node.keycodec import object_key
from dolmen.storage_node.records import decode_record, inline_body_offset
from dolmen.storage_node.registers import Ballot
from dolmen.storage_node.suffixes import NAMESPACE_CONTAINERS, suffix_hash_of
from dolmen.storage_node.timestamps import Timestamp
from helpers.committer import in_one_batch
from helpers.pagecache import cached_bytes

from dolmen.metrics import Metrics

FINGERPRINT = "0123456789abcdef"
NOW_S = 1_700_000_000.0
CONFIG = DeviceConfig(lmdb_map_size_bytes=8 * 2**20, free_space_reserve_bytes=0, disk_threads=4)


def ts(offset_s: float = 0.0) -> Timestamp:
    return Timestamp.from_seconds(NOW_S + offset_s)


async def open_store(root: Path, config: DeviceConfig = CONFIG, device: str = "d1") -> DeviceStore:
    return await DeviceStore.open(root, config, cluster_fingerprint=FINGERPRINT, device=device)


@pytest.fixture
async def store(tmp_path: Path):
    store = await open_store(tmp_path)
    yield store
    await store.close()


async def put(
    store: DeviceStore,
    name: str,
    body: bytes,
    timestamp: Timestamp,
    *,
    metadata: dict[str, str] | None = None,
    delete_at: int | None = None,
    chunk_bytes: int = 100_000,
    partition: int = 7,
):
    writer = await store.begin_object_put(partition, "AUTH_a", "c", name, timestamp, len(body))
    for offset in range(0, len(body), chunk_bytes):
        await writer.write(body[offset : offset + chunk_bytes])
    return await writer.commit(
        etag="etag-" + str(len(body)),
        body_xxh3=xxhash.xxh3_64_intdigest(body),
        content_length=len(body),
        content_type="application/octet-stream",
        metadata=metadata or {},
        delete_at=delete_at,
    )


async def commit_whole(writer, body: bytes, *, content_type: str = ""):
    """Commit `writer` as holding exactly `body` (its length and xxh3; etag "e", no metadata)."""
    return await writer.commit(
        etag="e",
        body_xxh3=xxhash.xxh3_64_intdigest(body),
        content_length=len(body),
        content_type=content_type,
        metadata={},
    )


async def read_all(store: DeviceStore, record, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read_object(record, start, end)])


def body_of(size: int) -> bytes:
    return os.urandom(size)


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "size", [0, 1, 16 * 2**10, 16 * 2**10 + 1, BLOCK_BYTES - 1, BLOCK_BYTES, BLOCK_BYTES + 1, 3 * 2**20 + 5]
)
async def test_bodies_round_trip_inline_and_in_files(store: DeviceStore, tmp_path: Path, size: int):
    body = body_of(size)
    stored = await put(store, "obj/../x", body, ts())
    assert (stored.inline_body is not None) == (size <= CONFIG.inline_body_bytes_max)
    record = await store.head_object(7, "AUTH_a", "c", "obj/../x", now_s=NOW_S)
    assert record.content_length == size and record.etag == f"etag-{size}"
    assert await read_all(store, record) == body
    if size > 10:
        assert await read_all(store, record, 3, size - 2) == body[3 : size - 2]
    assert files_under(tmp_path / "tmp") == []
    assert len(files_under(tmp_path / "objects")) == (0 if record.inline_body is not None else 1)


async def test_a_record_survives_reopen(tmp_path: Path):
    store = await open_store(tmp_path)
    body = body_of(200_000)
    await put(store, "kept", body, ts())
    await store.close()
    store = await open_store(tmp_path)
    record = await store.head_object(7, "AUTH_a", "c", "kept", now_s=NOW_S)
    assert await read_all(store, record) == body
    await store.close()


async def test_long_names_are_stored_under_hashed_keys_and_found_again(store: DeviceStore):
    name = "é" * 500  # 1000 bytes of UTF-8
    await put(store, name, b"long", ts())
    record = await store.head_object(7, "AUTH_a", "c", name, now_s=NOW_S)
    assert record.name == name and len(record.key) == 511
    with pytest.raises(NotFound):
        await store.head_object(7, "AUTH_a", "c", name[:-1] + "e", now_s=NOW_S)


async def test_newest_timestamp_wins_and_older_writes_conflict(store: DeviceStore):
    await put(store, "o", b"new", ts(10))
    with pytest.raises(Conflict) as raised:
        await put(store, "o", b"old", ts(5))
    assert raised.value.timestamp == ts(10)
    await put(store, "o", b"newer", ts(20))
    record = await store.head_object(7, "AUTH_a", "c", "o", now_s=NOW_S)
    assert await read_all(store, record) == b"newer"


async def test_an_older_file_body_put_conflicts_at_commit_and_leaves_no_file(
    store: DeviceStore, tmp_path: Path
):
    writer = await store.begin_object_put(7, "AUTH_a", "c", "o", ts(5), None)
    await put(store, "o", b"newer", ts(10))
    body = body_of(100_000)
    await writer.write(body)
    with pytest.raises(Conflict):
        await writer.commit(
            etag="e",
            body_xxh3=xxhash.xxh3_64_intdigest(body),
            content_length=len(body),
            content_type="",
            metadata={},
        )
    assert files_under(tmp_path / "objects") == [] and files_under(tmp_path / "tmp") == []


@pytest.mark.parametrize("size", [10, 100_000])
async def test_same_timestamp_same_content_is_an_idempotent_retry(
    store: DeviceStore, tmp_path: Path, size: int
):
    body = body_of(size)
    first = await put(store, "o", body, ts(), metadata={"color": "blue"})
    again = await put(store, "o", body, ts(), metadata={"color": "blue"})
    assert again == first and again.body_file == first.body_file
    with pytest.raises(Conflict):
        await put(store, "o", body, ts(), metadata={"color": "red"})
    assert len(files_under(tmp_path / "objects")) == (1 if size > 16384 else 0)


async def test_upload_mismatches_store_nothing(store: DeviceStore, tmp_path: Path):
    body = body_of(100_000)
    writer = await store.begin_object_put(7, "AUTH_a", "c", "o", ts(), None)
    await writer.write(body)
    with pytest.raises(UploadChecksumMismatch):
        await writer.commit(etag="e", body_xxh3=1, content_length=len(body), content_type="", metadata={})
    writer = await store.begin_object_put(7, "AUTH_a", "c", "o", ts(), None)
    await writer.write(body)
    with pytest.raises(LengthMismatch):
        await writer.commit(
            etag="e",
            body_xxh3=xxhash.xxh3_64_intdigest(body),
            content_length=len(body) + 1,
            content_type="",
            metadata={},
        )
    writer = await store.begin_object_put(7, "AUTH_a", "c", "o", ts(), 10)
    with pytest.raises(LengthMismatch):
        await writer.write(b"x" * 11)
    writer = await store.begin_object_put(7, "AUTH_a", "c", "o", ts(), None)
    await writer.write(body)
    await writer.abort()
    with pytest.raises(NotFound):
        await store.head_object(7, "AUTH_a", "c", "o", now_s=NOW_S)
    assert files_under(tmp_path / "objects") == [] and files_under(tmp_path / "tmp") == []


async def test_a_small_body_is_kept_in_memory_until_it_outgrows_inline(store: DeviceStore, tmp_path: Path):
    limit = CONFIG.inline_body_bytes_max
    writer = await store.begin_object_put(7, "AUTH_a", "c", "small", ts(), None)
    assert writer.keep_inline([b"a" * (limit - 1), b"b"])
    assert not writer.keep_inline([b"c"])  # one byte more than inline: nothing taken
    assert writer.received_bytes == limit
    await writer.write_parts([b"c"])  # so it goes to a file, the kept bytes first
    body = b"a" * (limit - 1) + b"bc"
    record = await commit_whole(writer, body)
    assert record.inline_body is None and len(files_under(tmp_path / "objects")) == 1
    assert await read_all(store, record) == body
    writer = await store.begin_object_put(7, "AUTH_a", "c", "announced", ts(), 3)
    assert not writer.keep_inline([b"abcd"])  # longer than announced: write_parts refuses it
    with pytest.raises(LengthMismatch):
        await writer.write_parts([b"abcd"])


async def test_a_small_put_starts_at_once_only_while_the_free_space_was_checked_lately(
    store: DeviceStore, monkeypatch: pytest.MonkeyPatch
):
    inline_max = CONFIG.inline_body_bytes_max
    assert store.begin_small_object_put(7, "AUTH_a", "c", "first", ts(), 10) is None  # never checked yet
    await put(store, "first", b"x", ts())  # its start checks the free space
    writer = store.begin_small_object_put(7, "AUTH_a", "c", "small", ts(), inline_max)
    assert writer is not None
    await writer.write(b"s" * inline_max)
    assert (await commit_whole(writer, b"s" * inline_max)).inline_body == b"s" * inline_max
    assert store.begin_small_object_put(7, "AUTH_a", "c", "large", ts(), inline_max + 1) is None
    assert store.begin_small_object_put(7, "AUTH_a", "c", "unknown", ts(), None) is None
    later_s = time.monotonic() + 1.0  # past FREE_SPACE_CACHE_S: statvfs again, in a disk step
    monkeypatch.setattr(time, "monotonic", lambda: later_s)
    assert store.begin_small_object_put(7, "AUTH_a", "c", "stale", ts(), 10) is None
    with pytest.raises(InsufficientStorage):  # a small PUT that would eat the reserve
        monkeypatch.setattr(store, "_free_bytes_checked_s", later_s)
        monkeypatch.setattr(store, "_free_bytes", 5)
        store.begin_small_object_put(7, "AUTH_a", "c", "full", ts(), 10)


async def test_a_cancelled_upload_leaves_nothing_visible(store: DeviceStore, tmp_path: Path):
    writer = await store.begin_object_put(7, "AUTH_a", "c", "o", ts(), None)
    await writer.write(body_of(100_000))
    task = asyncio.ensure_future(writer.write(body_of(100_000)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(NotFound):
        await store.head_object(7, "AUTH_a", "c", "o", now_s=NOW_S)


@pytest.mark.parametrize("delay_s", [0.0, 0.001, 0.003, 0.01])
async def test_a_cancelled_commit_leaves_the_object_whole_or_absent(
    store: DeviceStore, tmp_path: Path, delay_s: float
):
    body = body_of(2 * 2**20)
    writer = await store.begin_object_put(7, "AUTH_a", "c", "o", ts(), len(body))
    await writer.write(body)
    commit = asyncio.ensure_future(
        writer.commit(
            etag="e",
            body_xxh3=xxhash.xxh3_64_intdigest(body),
            content_length=len(body),
            content_type="",
            metadata={},
        )
    )
    await asyncio.sleep(delay_s)
    commit.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await commit
    await writer.abort()  # what the server's clean-up does whatever happened
    await asyncio.sleep(0.05)  # a change already queued may still land
    record = await store.get_record(7, "AUTH_a", "c", "o")
    if record is None:
        assert files_under(tmp_path / "objects") == []
    else:
        assert await read_all(store, record) == body
        assert files_under(tmp_path / "objects") == [tmp_path / record.body_file]
    assert files_under(tmp_path / "tmp") == []


async def test_delete_writes_a_tombstone_that_hides_the_object(store: DeviceStore, tmp_path: Path):
    await put(store, "o", body_of(100_000), ts())
    result = await store.delete_object(7, "AUTH_a", "c", "o", ts(1))
    assert result.previous is not None and not result.previous.tombstone
    with pytest.raises(NotFound) as raised:
        await store.head_object(7, "AUTH_a", "c", "o", now_s=NOW_S)
    assert raised.value.timestamp == ts(1)
    record = await store.get_record(7, "AUTH_a", "c", "o")
    assert record is not None and record.tombstone
    assert files_under(tmp_path / "objects") == []
    again = await store.delete_object(7, "AUTH_a", "c", "o", ts(1))  # a retried DELETE
    assert again.tombstone == result.tombstone
    with pytest.raises(Conflict):
        await put(store, "o", b"late", ts(0.5))
    nothing = await store.delete_object(7, "AUTH_a", "c", "never", ts(1))
    assert nothing.previous is None


async def test_tombstones_are_reclaimed_after_their_age(store: DeviceStore):
    await store.delete_object(7, "AUTH_a", "c", "o", ts())
    assert await store.reclaim_tombstones(now_s=NOW_S + 10) == 0
    assert await store.reclaim_tombstones(now_s=NOW_S + CONFIG.tombstone_reclaim_age_s + 1) == 1
    assert await store.get_record(7, "AUTH_a", "c", "o") is None
    assert await store.suffix_hashes(7) == {}


async def test_expired_objects_read_as_not_found(store: DeviceStore):
    await put(store, "o", b"short-lived", ts(), delete_at=int(NOW_S) + 60)
    await store.head_object(7, "AUTH_a", "c", "o", now_s=NOW_S + 59)
    with pytest.raises(NotFound):
        await store.head_object(7, "AUTH_a", "c", "o", now_s=NOW_S + 60)


async def test_post_replaces_metadata_and_keeps_the_body(store: DeviceStore):
    body = body_of(100_000)
    await put(store, "o", body, ts(), metadata={"a": "1"})
    posted = await store.post_object(
        7, "AUTH_a", "c", "o", ts(1), metadata={"b": "2"}, content_type="text/plain", now_s=NOW_S
    )
    assert posted.metadata == {"b": "2"} and posted.data_timestamp == ts() and posted.timestamp == ts(1)
    record = await store.head_object(7, "AUTH_a", "c", "o", now_s=NOW_S)
    assert record.content_type == "text/plain" and await read_all(store, record) == body
    retried = await store.post_object(
        7, "AUTH_a", "c", "o", ts(1), metadata={"b": "2"}, content_type="text/plain", now_s=NOW_S
    )
    assert retried == posted
    with pytest.raises(Conflict):
        await store.post_object(7, "AUTH_a", "c", "o", ts(0.5), metadata={}, now_s=NOW_S)
    with pytest.raises(NotFound):
        await store.post_object(7, "AUTH_a", "c", "missing", ts(1), metadata={}, now_s=NOW_S)
    await put(store, "o", b"replaced", ts(2))  # the POSTed body file is released with its record
    assert await read_all(store, await store.head_object(7, "AUTH_a", "c", "o", now_s=NOW_S)) == b"replaced"


def corrupt_inline(root: Path, name: str) -> None:
    env = lmdb.open(str(root / "db"), max_dbs=16)
    key = object_key(7, "AUTH_a", "c", name)
    with env.begin(write=True) as txn:
        db = env.open_db(b"objects", txn=txn)
        value = bytearray(txn.get(key, db=db))
        value[inline_body_offset(bytes(value)) + 3] ^= 0x01
        txn.put(key, bytes(value), db=db)
    env.close()


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0x80]))


async def test_a_corrupt_inline_body_is_never_served_and_is_quarantined(tmp_path: Path):
    store = await open_store(tmp_path)
    await put(store, "o", b"0123456789", ts())
    await store.close()
    corrupt_inline(tmp_path, "o")
    store = await open_store(tmp_path)
    record = await store.head_object(7, "AUTH_a", "c", "o", now_s=NOW_S)
    with pytest.raises(CorruptBody):
        await read_all(store, record)
    assert len(files_under(tmp_path / "quarantined")) == 1
    assert await store.get_record(7, "AUTH_a", "c", "o") is None
    assert await store.suffix_hashes(7) == {}
    await store.close()


@pytest.mark.parametrize("where", ["first", "last"])
async def test_a_corrupt_file_block_fails_reads_of_it_but_not_of_intact_blocks(
    store: DeviceStore, tmp_path: Path, where: str
):
    size = 5 * BLOCK_BYTES + 1000
    body = body_of(size)
    stored = await put(store, "o", body, ts())
    flip_byte(tmp_path / stored.body_file, 10 if where == "first" else size - 10)
    bad = (0, 100) if where == "first" else (size - 100, size)
    good = (2 * BLOCK_BYTES, 3 * BLOCK_BYTES + 7)
    assert await read_all(store, stored, *good) == body[good[0] : good[1]]
    chunks = []
    with pytest.raises(CorruptBody):
        async for chunk in store.read_object(stored, *bad):
            chunks.append(chunk)
    assert chunks == []  # no byte of the bad block was yielded
    assert await store.get_record(7, "AUTH_a", "c", "o") is None
    assert len(files_under(tmp_path / "quarantined")) == 1
    assert files_under(tmp_path / "objects") == []


async def test_a_full_read_stops_before_the_corrupt_block(store: DeviceStore, tmp_path: Path):
    size = 40 * BLOCK_BYTES
    body = body_of(size)
    stored = await put(store, "o", body, ts())
    flip_byte(tmp_path / stored.body_file, size - 1)
    received = bytearray()
    with pytest.raises(CorruptBody):
        async for chunk in store.read_object(stored):
            received += chunk
    assert body.startswith(bytes(received)) and len(received) < size


async def test_sendfile_ranges_are_verified_first(store: DeviceStore, tmp_path: Path):
    body = body_of(3 * BLOCK_BYTES)
    stored = await put(store, "o", body, ts())
    file = await store.open_body_file(stored)
    try:
        await file.verify(10, 2 * BLOCK_BYTES)
        assert os.pread(file.fd, 100, 10) == body[10:110]
    finally:
        file.close()
    flip_byte(tmp_path / stored.body_file, 2 * BLOCK_BYTES + 5)
    file = await store.open_body_file(stored)
    try:
        with pytest.raises(CorruptBody):
            await file.verify(0, 3 * BLOCK_BYTES)
    finally:
        file.close()


async def test_orphans_and_temp_files_are_swept_at_reopen(tmp_path: Path):
    store = await open_store(tmp_path)
    kept = await put(store, "kept", body_of(100_000), ts())
    await store.close()
    orphan = tmp_path / "objects" / "7" / ("ab" * 16 + ".data")
    orphan.write_bytes(b"left by a crash")
    (tmp_path / "tmp" / "x.tmp").write_bytes(b"half a body")
    store = await open_store(tmp_path)
    assert store.stats.orphans_swept == 2
    assert files_under(tmp_path / "objects") == [tmp_path / kept.body_file]
    assert files_under(tmp_path / "tmp") == []
    await store.close()


async def test_a_stamp_of_another_cluster_or_device_is_refused(tmp_path: Path):
    store = await open_store(tmp_path)
    with pytest.raises(DeviceInUse):
        await open_store(tmp_path)
    await store.close()
    with pytest.raises(StampMismatch):
        await DeviceStore.open(tmp_path, CONFIG, cluster_fingerprint="ffff", device="d1")
    with pytest.raises(StampMismatch):
        await open_store(tmp_path, device="d2")


async def test_concurrent_small_puts_share_commits(tmp_path: Path):
    metrics = Metrics("storage-node")
    store = await DeviceStore.open(
        tmp_path, CONFIG, cluster_fingerprint=FINGERPRINT, device="d1", metrics=StoreMetrics(metrics)
    )
    body = body_of(4096)
    await asyncio.gather(*(put(store, f"o{index}", body, ts()) for index in range(200)))
    assert store.stats.committed_changes == 200
    assert store.stats.commits < 100
    assert store.stats.largest_batch > 1
    exposition = metrics.exposition().decode()
    assert 'dolmen_storage_node_group_commit_records_sum{device="d1"} 200.0' in exposition
    await store.close()


async def test_a_failed_change_leaves_nothing_and_the_rest_of_its_batch_commits(store: DeviceStore):
    registers = store.db(b"registers")

    def write(key: bytes, fail: bool = False):
        def apply(txn: lmdb.Transaction) -> tuple[bytes, list[str]]:
            txn.put(key, b"written", db=registers)
            if fail:  # after writing: the batch's transaction now holds part of this change
                raise Conflict("refused after a partial write", timestamp=ts())
            return key, []

        return apply

    # The four go in one batch, the failing one third.
    outcomes = await in_one_batch(
        store, [store.submit(write(b"k%d" % index, fail=index == 2)) for index in range(4)]
    )
    assert isinstance(outcomes[2], Conflict)
    assert [outcomes[index] for index in (0, 1, 3)] == [b"k0", b"k1", b"k3"]
    assert store.stats.isolated_batches == 1 and store.stats.largest_batch == 4
    stored = await store.read(lambda txn: [txn.get(b"k%d" % index, db=registers) for index in range(4)])
    assert stored == [b"written", b"written", None, b"written"]


async def test_failed_reads_give_their_reader_slots_back_without_the_garbage_collector(tmp_path: Path):
    """A read that raises must not hold its LMDB reader slot until a collection: the exception's
    frames (and asyncio's future around it) form cycles, and a read-only transaction keeps its
    slot for as long as the object lives. Once the 126 slots were taken, every read failed."""
    store = await open_store(tmp_path)

    def missing(txn: lmdb.Transaction) -> None:
        txn.get(b"no such key")
        raise NotFound("no such thing")

    gc.disable()
    try:
        for _ in range(300):
            with pytest.raises(NotFound):
                await store.read(missing)
        assert await store.get_record(7, "AUTH_a", "c", "o") is None  # still a slot to read with
    finally:
        gc.enable()
        await store.close()


async def test_racing_writes_leave_the_newest_record_and_consistent_suffix_hashes(tmp_path: Path):
    store = await open_store(tmp_path)
    random = Random(5)
    operations = [
        (f"n{random.randrange(12)}", random.randrange(50), random.random() < 0.3) for _ in range(300)
    ]

    async def apply(name: str, offset_s: int, delete: bool) -> None:
        with contextlib.suppress(Conflict):
            if delete:
                await store.delete_object(7, "AUTH_a", "c", name, ts(offset_s))
            else:
                size = 100 if offset_s % 2 else 20_000
                await put(store, name, f"{name}@{offset_s}".encode().ljust(size, b"."), ts(offset_s))

    await asyncio.gather(*(apply(*operation) for operation in operations))
    entries, body_files = [], []
    for name in {name for name, _, _ in operations}:
        newest = max((offset, delete) for n, offset, delete in operations if n == name)
        record = await store.get_record(7, "AUTH_a", "c", name)
        assert record is not None and record.timestamp == ts(newest[0])
        if not record.tombstone:
            assert (await read_all(store, record)).startswith(f"{name}@{newest[0]}".encode())
        entries.append((record.key, record.timestamp, record.tombstone))
        if record.body_file:
            body_files.append(tmp_path / record.body_file)
    assert await store.suffix_hashes(7) == suffix_hash_of(entries)
    await store.close()
    assert files_under(tmp_path / "objects") == sorted(body_files)  # no superseded body left behind


async def test_suffix_hashes_follow_every_change(store: DeviceStore):
    assert await store.suffix_hashes(7) == {}
    await put(store, "a", b"1", ts())
    first = await store.suffix_hashes(7)
    assert len(first) == 1 and all(len(value) == 32 for value in first.values())
    await put(store, "b", b"2", ts())
    await store.delete_object(7, "AUTH_a", "c", "b", ts(1))
    after_delete = await store.suffix_hashes(7)
    await put(store, "a", b"3", ts(2))
    assert await store.suffix_hashes(7) != after_delete
    assert await store.suffix_hashes(8) == {}


async def stored_suffix_hashes(store: DeviceStore, names: set[str]) -> dict[str, str]:
    """What the suffix hashes of partition 7 must be: computed from scratch from its records."""
    records = [await store.get_record(7, "AUTH_a", "c", name) for name in sorted(names)]
    return suffix_hash_of([(r.key, r.timestamp, r.tombstone) for r in records if r is not None])


async def delta_records(store: DeviceStore) -> int:
    """The suffix delta records waiting to be folded (suffix_log.py)."""
    suffix_deltas = store.db(b"suffix_deltas")
    return await store.read(lambda txn: txn.stat(suffix_deltas)["entries"])


async def test_suffix_hashes_are_exact_while_their_deltas_wait_are_folded_and_outlive_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(suffix_log, "FOLD_ROWS_MIN", 3)  # a fold every few commits
    monkeypatch.setattr(suffix_log, "LOG_PARTITION_CHANGES_MIN", 0)  # every change logged
    random = Random(11)
    names: set[str] = set()
    store = await open_store(tmp_path)
    pending_seen = set()
    for step in range(90):
        name = f"n{random.randrange(25)}"
        names.add(name)
        with contextlib.suppress(Conflict):
            if random.random() < 0.3:
                await store.delete_object(7, "AUTH_a", "c", name, ts(step))
            else:
                await put(store, name, b"x" * random.randrange(1, 300), ts(step))
        pending_seen.add(await delta_records(store))
        assert await store.suffix_hashes(7) == await stored_suffix_hashes(store, names)
        if step == 45:  # restart, deltas pending or not
            await store.close()
            store = await open_store(tmp_path)
    assert store.stats.suffix_folds > 10
    assert pending_seen == {0, 1, 2}  # folded once 3 rows wait; read alike before and after
    await store.close()
    store = await open_store(tmp_path)
    assert await store.suffix_hashes(7) == await stored_suffix_hashes(store, names)
    await store.close()


async def test_a_fold_that_empties_suffixes_removes_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(suffix_log, "LOG_PARTITION_CHANGES_MIN", 0)  # every change logged
    monkeypatch.setattr(suffix_log, "FOLD_ROWS_MIN", 1)  # and folded by the commit that logs it
    store = await open_store(tmp_path)
    names = {f"o{index}" for index in range(6)}
    for name in sorted(names):
        await put(store, name, b"1", ts())
    for name in sorted(names - {"o0"}):
        await store.delete_object(7, "AUTH_a", "c", name, ts(1))
    suffixes_db = store.db(b"suffixes")
    assert await store.read(lambda txn: txn.stat(suffixes_db)["entries"]) == 6  # (no two alike)
    reclaimed = await store.reclaim_tombstones(now_s=NOW_S + CONFIG.tombstone_reclaim_age_s + 2)
    assert reclaimed == 5 and store.stats.suffix_folds >= 12
    assert await delta_records(store) == 0
    assert await store.suffix_hashes(7) == await stored_suffix_hashes(store, {"o0"})
    assert await store.read(lambda txn: txn.stat(suffixes_db)["entries"]) == 1  # the others went
    await store.close()


async def test_an_idle_store_folds_every_pending_delta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(suffix_log, "FOLD_IDLE_S", 0.05)
    monkeypatch.setattr(suffix_log, "LOG_PARTITION_CHANGES_MIN", 0)
    store = await open_store(tmp_path)
    for index in range(5):
        await put(store, f"o{index}", b"1", ts(index))
    expected = await stored_suffix_hashes(store, {f"o{index}" for index in range(5)})
    for _ in range(100):
        if await delta_records(store) == 0:
            break
        await asyncio.sleep(0.02)
    assert await delta_records(store) == 0
    assert store.stats.suffix_folds >= 1
    assert await store.suffix_hashes(7) == expected
    await store.close()


async def test_a_failed_change_of_a_batch_leaves_the_others_suffix_changes_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(
        suffix_log, "LOG_PARTITION_CHANGES_MIN", 1
    )  # the first change at once, the rest logged
    store = await open_store(tmp_path)

    def fail(txn: lmdb.Transaction) -> tuple[None, list[str]]:
        raise Conflict("refused", timestamp=ts())

    puts = [put(store, f"o{index}", b"1", ts(index)) for index in range(3)]
    outcomes = await in_one_batch(store, [*puts[:2], store.submit(fail), puts[2]])
    assert isinstance(outcomes[2], Conflict) and store.stats.isolated_batches == 1
    assert await store.suffix_hashes(7) == await stored_suffix_hashes(store, {"o0", "o1", "o2"})
    assert await delta_records(store) == 2  # the second and third PUT, each in its nested transaction
    await store.close()


async def test_changes_of_quiet_partitions_are_written_at_once_and_a_busy_partitions_logged(
    tmp_path: Path,
):
    store = await open_store(tmp_path)
    for partition in range(100, 120):  # one object each: quiet partitions
        await store.delete_object(partition, "AUTH_a", "c", "o", ts())
    assert await delta_records(store) == 0
    names = {f"o{index}" for index in range(30)}
    for index, name in enumerate(sorted(names)):  # a busy partition
        await put(store, name, b"1", ts(index))
    assert await delta_records(store) == 30 - suffix_log.LOG_PARTITION_CHANGES_MIN
    for index, name in enumerate(sorted(names)):  # its suffixes' changes stay logged until folded
        await store.delete_object(7, "AUTH_a", "c", name, ts(100 + index))
    assert await store.suffix_hashes(7) == await stored_suffix_hashes(store, names)
    expected = {partition: await store.suffix_hashes(partition) for partition in range(100, 120)}
    assert all(len(hashes) == 1 for hashes in expected.values())
    await store.close()
    store = await open_store(tmp_path)
    assert {partition: await store.suffix_hashes(partition) for partition in range(100, 120)} == expected
    assert await store.suffix_hashes(7) == await stored_suffix_hashes(store, names)


async def test_a_device_of_a_previous_format_opens_and_is_upgraded_and_a_later_one_is_refused(tmp_path: Path):
    store = await open_store(tmp_path)
    await put(store, "o", b"1", ts())
    expected = await store.suffix_hashes(7)
    await store.close()
    stamp_path = tmp_path / STAMP_FILE_NAME
    stamp = json.loads(stamp_path.read_text())
    assert stamp["format_version"] == DEVICE_FORMAT_VERSION == 3
    for previous in (1, 2):
        stamp_path.write_text(json.dumps(stamp | {"format_version": previous}))
        store = await open_store(tmp_path)
        assert await store.suffix_hashes(7) == expected
        await store.close()
        assert json.loads(stamp_path.read_text())["format_version"] == DEVICE_FORMAT_VERSION
    stamp_path.write_text(json.dumps(stamp | {"format_version": DEVICE_FORMAT_VERSION + 1}))
    with pytest.raises(StampMismatch):
        await open_store(tmp_path)


async def test_registers_follow_caspaxos_and_persist_across_reopen(tmp_path: Path):
    store = await open_store(tmp_path)
    key = b"bucket/photos"
    promise = await store.register_prepare(key, Ballot(1, "proxy-a"))
    assert promise.ok and promise.value is None
    assert (await store.register_accept(key, Ballot(1, "proxy-a"), b"owner=alice")).ok
    rejected = await store.register_prepare(key, Ballot(1, "proxy-a"))
    assert not rejected.ok and rejected.highest == Ballot(1, "proxy-a")
    assert (await store.register_prepare(key, Ballot(2, "proxy-b"))).ok
    assert not (await store.register_accept(key, Ballot(1, "proxy-a"), b"owner=mallory")).ok
    await store.close()
    store = await open_store(tmp_path)
    state = await store.register_read(key)
    assert state.promised == Ballot(2, "proxy-b") and state.value == b"owner=alice"
    await store.close()


async def test_a_full_lmdb_map_answers_insufficient_storage_and_corrupts_nothing(tmp_path: Path):
    config = DeviceConfig(
        lmdb_map_size_bytes=256 * 2**10, lmdb_map_size_bytes_max=512 * 2**10, free_space_reserve_bytes=0
    )
    store = await open_store(tmp_path, config)
    stored = {}
    with pytest.raises(InsufficientStorage):
        for index in range(200):
            body = body_of(16 * 2**10)
            await put(store, f"o{index}", body, ts())
            stored[f"o{index}"] = body
    assert store.stats.map_growths == 1
    await store.delete_object(7, "AUTH_a", "c", "o0", ts(1))  # a tombstone still fits
    del stored["o0"]
    await store.close()
    store = await open_store(tmp_path, config)
    for name, body in stored.items():
        record = await store.head_object(7, "AUTH_a", "c", name, now_s=NOW_S)
        assert await read_all(store, record) == body
    await store.close()


async def test_below_the_free_space_reserve_puts_fail_but_deletes_work(tmp_path: Path):
    store = await open_store(tmp_path)
    await put(store, "o", b"data", ts())
    await store.close()
    store = await open_store(tmp_path, DeviceConfig(free_space_reserve_bytes=2**62))
    with pytest.raises(InsufficientStorage):
        await put(store, "p", b"data", ts())
    with pytest.raises(InsufficientStorage):
        await store.post_object(7, "AUTH_a", "c", "o", ts(1), metadata={}, now_s=NOW_S)
    await store.delete_object(7, "AUTH_a", "c", "o", ts(2))
    await store.close()


async def test_records_decode_to_what_was_committed(tmp_path: Path):
    store = await open_store(tmp_path)
    stored = await put(store, "o", b"x" * 20, ts(), metadata={"k": "v"}, delete_at=int(NOW_S) + 100)
    await store.close()
    env = lmdb.open(str(tmp_path / "db"), max_dbs=16)
    with env.begin() as txn:
        value = txn.get(stored.key, db=env.open_db(b"objects", txn=txn))
    env.close()
    assert decode_record(value, key=stored.key) == stored


async def test_a_body_written_in_many_pieces_is_stored_byte_for_byte(store):
    # More pieces than one writev takes, empty ones among them, an inline start, then a file.
    rng = Random(7)
    pieces = [os.urandom(rng.choice([0, 1, 17, 4096])) for _ in range(3000)]
    body = b"".join(pieces)
    writer = await store.begin_object_put(7, "AUTH_a", "c", "pieces", ts(), len(body))
    await writer.write_parts([memoryview(piece) for piece in pieces[:2]])
    await writer.write_parts([memoryview(piece) for piece in pieces[2:]])
    record = await commit_whole(writer, body, content_type="a/b")
    assert record.body_file is not None
    assert await read_all(store, record) == body


async def test_bodies_over_the_page_cache_limit_leave_the_cache_as_they_are_written_and_read(tmp_path: Path):
    config = DeviceConfig(
        lmdb_map_size_bytes=8 * 2**20, free_space_reserve_bytes=0, page_cache_body_bytes_max=2**20
    )
    store = await open_store(tmp_path, config)
    try:
        small, large = body_of(2**20), body_of(6 * 2**20 + 5)
        kept = await put(store, "small", small, ts(), chunk_bytes=2**20)
        dropped = await put(store, "large", large, ts(), chunk_bytes=2**20)
        assert cached_bytes(tmp_path / kept.body_file) == len(small)
        assert cached_bytes(tmp_path / dropped.body_file) == 0  # synced, then let go
        assert await read_all(store, dropped, 2**20 + 3, 3 * 2**20) == large[2**20 + 3 : 3 * 2**20]
        assert await read_all(store, dropped) == large  # from the disk, verified
        # What was read was let go too. (A read to the end: nothing is still being read ahead.)
        assert cached_bytes(tmp_path / dropped.body_file) == 0
        assert await read_all(store, kept) == small
        assert cached_bytes(tmp_path / kept.body_file) == len(small)
    finally:
        await store.close()


async def container_suffix_hashes_after(
    root: Path, monkeypatch: pytest.MonkeyPatch, *, log_changes_min: int, fold_rows_min: int
) -> dict[str, str]:
    """A container's history of entries (puts, overwrites, deletes, some older than what is
    stored) applied to a fresh device with these suffix log settings; its suffix hashes after a
    reopen."""
    monkeypatch.setattr(suffix_log, "LOG_PARTITION_CHANGES_MIN", log_changes_min)
    monkeypatch.setattr(suffix_log, "FOLD_ROWS_MIN", fold_rows_min)
    random = Random(3)
    await asyncio.to_thread(root.mkdir)
    store = await open_store(root)
    keyspaces = Keyspaces(store)
    await keyspaces.put(CONTAINER, 5, "AUTH_a", "c", ts(), metadata={})
    for step in range(40):
        entries = [
            ObjectEntry(
                f"o{random.randrange(60)}", ts(random.randrange(100)), random.random() < 0.3, step, "e", "t"
            )
            for _ in range(random.randrange(1, 8))
        ]
        await keyspaces.update_objects(5, "AUTH_a", "c", entries)
    await store.close()
    store = await open_store(root)
    hashes = await store.suffix_hashes(5, NAMESPACE_CONTAINERS)
    await store.close()
    return hashes


async def test_a_containers_suffix_hashes_do_not_depend_on_what_was_logged_or_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    written_at_once = await container_suffix_hashes_after(
        tmp_path / "a", monkeypatch, log_changes_min=10**9, fold_rows_min=1024
    )
    assert len(written_at_once) > 10
    logged_and_pending = await container_suffix_hashes_after(
        tmp_path / "b", monkeypatch, log_changes_min=0, fold_rows_min=10**9
    )
    logged_and_folded_often = await container_suffix_hashes_after(
        tmp_path / "c", monkeypatch, log_changes_min=0, fold_rows_min=5
    )
    mixed = await container_suffix_hashes_after(
        tmp_path / "d", monkeypatch, log_changes_min=4, fold_rows_min=20
    )
    assert written_at_once == logged_and_pending == logged_and_folded_often == mixed
