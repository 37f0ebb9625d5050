"""The storage engine of one device directory: LMDB metadata, inline and file bodies, group commit.

Layout of a device directory `<root>` (format version DEVICE_FORMAT_VERSION):

    <root>/dolmen-device.json     the stamp: format version, cluster fingerprint, device name
    <root>/lock                   flock'ed while a process serves the device
    <root>/db/                    the LMDB environment (data.mdb, lock.mdb)
    <root>/objects/<partition>/<32 hex>.data   large bodies, named by a random id, never by the object name
    <root>/tmp/                   bodies being written; everything here is garbage at start
    <root>/quarantined/           copies that failed verification (bodies, or inline records)

LMDB sub-databases (containers.py adds the container and account keyspaces, CONTAINER_DBS, and
writes pending container updates in the same transaction as the object record through `submit`
and the `also` hook of object writes):

    objects    object key (keycodec.py) -> ObjectRecord (records.py)
    bodies     body file path relative to <root> -> object key: which record owns which file, so that
               files without a record (a crash between the file and the commit) are swept at start
    suffixes   suffix hashes (suffixes.py): the stored sums
    suffix_deltas  busy partitions' changes to them not folded in yet, each committed with the
               records it describes (suffix_log.py)
    registers  register key -> acceptor state (registers.py)

Threads: every public method is a coroutine; disk work runs in the device's thread pool
(`disk_threads`), a whole step at a time, and every LMDB write runs in one committer thread
that takes all pending changes (up to `group_commit_records_max`), applies each in a nested
transaction (a failing change rolls back alone) and makes them durable with one synced commit:
concurrent small writes share one fsync (group commit). A change's awaiter resumes after that
commit. While a commit syncs, the next changes queue up, so batches grow with load by themselves.

Durability order of a file-body PUT: write the temp file, fdatasync it, rename it into
objects/<partition>/, fsync that directory, then the synced LMDB commit of the record. A crash
before the commit leaves a file without a record, swept at the next open.

Full LMDB map: the committer doubles the map (up to `lmdb_map_size_bytes_max`) and retries; at the
cap each change is retried alone so the ones that fit (e.g. a tombstone replacing an inline body)
still land, and the others raise InsufficientStorage. Nothing partial is ever committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import json
import logging
import os
import queue
import threading
import time
import traceback
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import lmdb
from dolmen.storage_node import keycodec, registers, suffix_log, suffixes
from dolmen.storage_node.checksums import (
    BLOCK_BYTES,
    BodyHasher,
    body_checksums,
    covering_blocks,
    verify_blocks,
)
from dolmen.storage_node.errors import (
    BadRequest,
    Conflict,
    CorruptBody,
    DeviceInUse,
    DeviceNotMounted,
    InsufficientStorage,
    InvalidMetadata,
    InvalidTimestamp,
    LengthMismatch,
    NotFound,
    StampMismatch,
    StorageNodeError,
    UploadChecksumMismatch,
)
from dolmen.storage_node.lmdb_values import stored_bytes
from dolmen.storage_node.records import (
    CONTENT_TYPE_BYTES_MAX,
    ObjectRecord,
    check_extra,
    check_metadata,
    decode_record,
    encode_record,
)
from dolmen.storage_node.registers import AcceptAnswer, Ballot, PrepareAnswer, RegisterState
from dolmen.storage_node.timestamps import Timestamp
from dolmen.storage_node.writeback import drop_cached, start_writeback

from dolmen.files import atomic_write, fsync_directory
from dolmen.limits import ETAG_BYTES_MAX, OBJECT_BODY_BYTES_MAX
from dolmen.loop_hold import LoopHold
from dolmen.metrics import SIZE_BUCKETS, Metrics
from dolmen.values import value_class

log = logging.getLogger("dolmen.storage_node.device")

T = TypeVar("T")
W = TypeVar("W", bound="BatchWriter")
# A change made in the same transaction as an object record, once the record is stored.
AlsoChange = Callable[[lmdb.Transaction, ObjectRecord], None]

# 2: suffix hashes with delta records (suffix_log.py); 3: containers' tombstone entries and
# accounts' rows of deleted containers in keyspaces of their own (containers.py). Older code
# must not open a device of a later format: it would not see those, and an older update could
# bring a deleted entry back.
DEVICE_FORMAT_VERSION = 3
# Formats this code opens, upgrading the stamp. Version 1 has no delta records, which reads alike;
# versions 1 and 2 keep those among the live entries and rows, which containers.py still reads.
DEVICE_FORMAT_VERSIONS_READ = (1, 2, 3)
STAMP_FILE_NAME = "dolmen-device.json"
FREE_SPACE_CHECK_INTERVAL_BYTES = 64 * 2**20  # re-check the reserve this often while a body streams in
IOV_MAX = os.sysconf("SC_IOV_MAX")  # pieces one writev takes
FREE_SPACE_CACHE_S = 0.5  # small PUTs trust a statvfs this recent; large ones always look again
RECLAIM_BATCH_RECORDS_MAX = 1000  # tombstones reclaimed per commit
# containers.py owns the layout of the container and account keyspaces and of `pending`.
CONTAINER_DBS = (
    b"containers",
    b"container_objects",
    b"container_tombstones",
    b"accounts",
    b"account_containers",
    b"account_tombstones",
    b"reports",
    b"pending",
    b"pending_due",
    b"pending_batches",
)
_DBS = (b"objects", b"bodies", b"suffixes", b"suffix_deltas", b"registers", *CONTAINER_DBS)


@dataclass(frozen=True, kw_only=True)
class DeviceConfig:
    """How one device directory is run; the server's configuration nests or builds it.

    lmdb_map_size_bytes: initial LMDB map size; the map doubles on demand.
    lmdb_map_size_bytes_max: the map never grows past this (then writes get InsufficientStorage).
    disk_threads: threads doing this device's file work (body reads, writes, fsyncs).
    record_read_threads: threads running this device's LMDB read transactions (records,
        listings), apart from the file work. Their work is mostly Python holding the GIL, so
        many such threads only trade the GIL among themselves and with the event loop (in the
        shared pool of 4, listings of 1,000 at concurrency 8 ran at 124/s; with 2 readers of
        their own at 182/s, and 4 KiB GETs at concurrency 64 went from 2,476 to 2,921/s). Two,
        not one, so that a read waiting on the disk (a page fault) does not stop all others.
    inline_body_bytes_max: bodies up to this size live in their LMDB record, larger ones in files.
    free_space_reserve_bytes: below this much free space PUT and POST get InsufficientStorage;
        DELETE (tombstones) and registers still work.
    group_commit_records_max: most record changes that share one LMDB commit.
    read_chunk_bytes: how much of a file body one read step reads and verifies (whole blocks).
    page_cache_body_bytes_max: bodies larger than this leave the kernel's page cache as they are
        written and read (writeback.drop_cached: why).
    tombstone_reclaim_age_s: tombstones older than this are removed by `reclaim_tombstones`.
    mount_check: refuse a device directory that is not a mount point.
    """

    lmdb_map_size_bytes: int = 256 * 2**20
    lmdb_map_size_bytes_max: int = 64 * 2**30
    disk_threads: int = 4
    record_read_threads: int = 2
    inline_body_bytes_max: int = 16 * 2**10
    free_space_reserve_bytes: int = 256 * 2**20
    group_commit_records_max: int = 512
    read_chunk_bytes: int = 16 * BLOCK_BYTES
    page_cache_body_bytes_max: int = 5 * 2**20
    tombstone_reclaim_age_s: int = 7 * 86_400
    mount_check: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.lmdb_map_size_bytes <= self.lmdb_map_size_bytes_max:
            raise ValueError("lmdb_map_size_bytes must be positive and at most lmdb_map_size_bytes_max")
        if not 1 <= self.disk_threads <= 256:
            raise ValueError("disk_threads must be 1..256")
        if not 1 <= self.record_read_threads <= 64:
            raise ValueError("record_read_threads must be 1..64")
        if not 0 <= self.inline_body_bytes_max <= 1 * 2**20:
            raise ValueError("inline_body_bytes_max must be 0..1 MiB")
        if self.free_space_reserve_bytes < 0:
            raise ValueError("free_space_reserve_bytes must not be negative")
        if not 1 <= self.group_commit_records_max <= 10_000:
            raise ValueError("group_commit_records_max must be 1..10000")
        if self.read_chunk_bytes <= 0 or self.read_chunk_bytes % BLOCK_BYTES:
            raise ValueError(f"read_chunk_bytes must be a positive multiple of {BLOCK_BYTES}")
        if self.tombstone_reclaim_age_s < 0:
            raise ValueError("tombstone_reclaim_age_s must not be negative")
        if self.page_cache_body_bytes_max < 0:
            raise ValueError("page_cache_body_bytes_max must not be negative")


class StoreMetrics:
    """The engine's Prometheus metrics, shared by every device of a process (label `device`).

    Create once per process registry: dolmen_storage_node_lmdb_commit_seconds,
    _group_commit_records, _fsync_seconds, _quarantines_total, _lmdb_map_size_bytes,
    _orphans_swept_total.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.commit_seconds = metrics.histogram(
            "lmdb_commit_seconds", "Duration of synced LMDB commits", ("device",)
        )
        self.group_commit_records = metrics.histogram(
            "group_commit_records",
            "Record changes sharing one LMDB commit",
            ("device",),
            buckets=(*SIZE_BUCKETS, 512, 1024),
        )
        self.fsync_seconds = metrics.histogram(
            "fsync_seconds", "Duration of body file and directory fsyncs", ("device",)
        )
        self.quarantines_total = metrics.counter(
            "quarantines_total", "Copies moved to quarantine after failing verification", ("device",)
        )
        self.lmdb_map_size_bytes = metrics.gauge("lmdb_map_size_bytes", "Current LMDB map size", ("device",))
        self.orphans_swept_total = metrics.counter(
            "orphans_swept_total", "Body and temp files without a record removed at start", ("device",)
        )


@dataclass(slots=True)
class DeviceStats:
    """Counters of one store, for tests and benchmarks (the metrics carry the same in Prometheus)."""

    commits: int = 0
    committed_changes: int = 0
    largest_batch: int = 0
    isolated_batches: int = 0  # applied again change by change, after one of them failed
    map_growths: int = 0
    quarantines: int = 0
    orphans_swept: int = 0
    suffix_folds: int = 0  # transactions that folded suffix delta records (suffix_log.py)


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What DELETE replaced: `previous` is the record before the tombstone (None if there was none).

    The server answers 404 when `previous` is None, a tombstone or expired, as Swift does; the
    tombstone is written either way.
    """

    tombstone: ObjectRecord
    previous: ObjectRecord | None


# A batch this small is applied without holding the event loop (`_commit_once`): it makes few
# LMDB calls, so few GIL handoffs to wait on, while a hold costs two thread wake-ups. With many
# devices (a committer each, each with small batches) holding every batch cost more than it
# saved: 4 KiB PUTs c64 spread over 8 devices 3,210/s held always, 3,620/s with this minimum;
# over 4 devices 3,920 and 4,270; one device (batches of ~30) the same either way. Counted in
# records changed: a change of several (a container's UPDATE of many entries) counts each.
HOLD_BATCH_CHANGES_MIN = 8


def _hold_for(
    batch: list[_Change], *, loop_is_quiet: bool = False
) -> contextlib.AbstractContextManager[object]:
    """The hold of the event loop under which `batch` is applied: none for a small batch (see
    HOLD_BATCH_CHANGES_MIN), else as `_hold`."""
    if sum(change.weight for change in batch) < HOLD_BATCH_CHANGES_MIN:
        return contextlib.nullcontext()
    return _hold(batch[0].loop, loop_is_quiet=loop_is_quiet)


def _hold(
    loop: asyncio.AbstractEventLoop | None, *, loop_is_quiet: bool
) -> contextlib.AbstractContextManager[object]:
    """The hold of `loop` under which the committer makes many LMDB calls: none while the loop is
    quiet (it has no Python to run that would keep the GIL from the committer, and holding it
    would cost two wake-ups of its thread for nothing), nor without a loop."""
    if loop is None or loop_is_quiet:
        return contextlib.nullcontext()
    return LoopHold(loop)


def _never() -> bool:
    return False


def _write_stamp(path: Path, stamp: dict[str, object]) -> None:
    atomic_write(path, json.dumps(stamp, sort_keys=True).encode() + b"\n")


@dataclass(slots=True)
class _Change:
    """A record change for the committer: `apply(txn)` reads and writes in the batch's transaction.

    `apply` returns (result, paths to unlink after the commit). It may run more than once (after
    the map grew, or again in a nested transaction of its own when another change of its batch
    failed), so it depends on nothing but `txn`; when it raises, nothing of it is committed.
    `unlink_on_failure` are removed if the change does not commit, whoever still waits for it
    (so a cancelled PUT leaves no file).
    """

    apply: Callable[[lmdb.Transaction], tuple[Any, list[str]]]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    unlink_on_failure: list[str] = field(default_factory=list)
    weight: int = 1  # about how many records it changes: whether its batch holds the loop (_hold_for)


@value_class
class StagedRecord:
    """A record and the bytes storing it writes, worked out before it reaches the committer.

    Encoding a record and hashing its suffix entry are pure work: done by the writer, they
    overlap the commit of the batch before, where in the committer every write of the next
    batch would wait for them.
    """

    record: ObjectRecord
    value: bytes  # encode_record(record)
    entry_hash: int  # its term in its suffix hash
    suffix_key: bytes  # where that suffix hash is stored


def stage_record(record: ObjectRecord) -> StagedRecord:
    """`record` with the bytes its commit writes (on the writer's thread: see StagedRecord)."""
    key = record.key
    return StagedRecord(
        record,
        encode_record(record),
        suffixes.entry_hash(key, record.timestamp, record.tombstone),
        suffixes.suffix_key_of(suffixes.NAMESPACE_OBJECTS, key),
    )


class BatchWriter(Protocol):
    """Keeps records that several changes of one batch rewrite (a container's, once per object
    entry) and writes each once, when the batch is done. Only while a batch is applied straight
    into one transaction: changes applied one by one (isolated, after a failure) write at once.
    Called in the committer thread."""

    def begin_batch(self, txn: lmdb.Transaction) -> None: ...

    def flush_batch(self, txn: lmdb.Transaction) -> None:
        """Write what the batch's changes left kept, into `txn`, before its commit."""

    def end_batch(self) -> None:
        """Forget what is kept (after flush_batch, or when the batch failed)."""


class _ReadGate:
    """Lets the committer resize the LMDB map while no read transaction is open in this process."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._closed = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            while self._closed:
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                if not self._readers:
                    self._condition.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._condition:
            self._closed = True
            while self._readers:
                self._condition.wait()
        try:
            yield
        finally:
            with self._condition:
                self._closed = False
                self._condition.notify_all()


class DeviceStore:
    """One device directory: object records, bodies, suffix hashes and registers.

    Open with `await DeviceStore.open(...)`, close with `await store.close()`. Safe to use from
    many tasks of one event loop at once.
    """

    def __init__(
        self, *, root: Path, config: DeviceConfig, device: str, metrics: StoreMetrics | None
    ) -> None:
        # Use DeviceStore.open: it does the disk work in the pool.
        self.root = root
        self.config = config
        self.device = device
        self.stats = DeviceStats()
        self._metrics = metrics
        # The per-batch series, labelled once (labels() costs the committer microseconds a batch).
        self._batch_metrics = (
            None
            if metrics is None
            else (metrics.commit_seconds.labels(device), metrics.group_commit_records.labels(device))
        )
        self._pool = ThreadPoolExecutor(config.disk_threads, thread_name_prefix=f"disk-{device}")
        self._readers = ThreadPoolExecutor(config.record_read_threads, thread_name_prefix=f"records-{device}")
        self._scanner = ThreadPoolExecutor(1, thread_name_prefix=f"scans-{device}")
        self._gate = _ReadGate()
        self._changes: queue.SimpleQueue[_Change | None] = queue.SimpleQueue()
        self._committer: threading.Thread | None = None
        self._batch_writers: list[BatchWriter] = []
        # Whether the event loop that submits the changes is quiet (`_hold_for`), asked in the
        # committer's thread: the node tells it from its HTTP server. Never, unless told.
        self.loop_is_quiet: Callable[[], bool] = _never
        self._env: lmdb.Environment | None = None
        self._dbs: dict[bytes, Any] = {}
        self._suffix_log: suffix_log.SuffixLog | None = None
        self._last_loop: asyncio.AbstractEventLoop | None = None  # of the last batch: a fold holds it
        self._folded = False  # whether the transaction being applied folds the suffix deltas
        self._fold_at_rows = suffix_log.FOLD_ROWS_MIN  # pending delta rows that start a fold
        self._lock_fd: int | None = None
        self._closed = False
        self._free_bytes = 0
        self._free_bytes_checked_s = -FREE_SPACE_CACHE_S  # monotonic time of the last statvfs

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        root: Path,
        config: DeviceConfig,
        *,
        cluster_fingerprint: str,
        device: str,
        metrics: StoreMetrics | None = None,
    ) -> DeviceStore:
        """Open (creating if new) the device directory `root` and start its committer.

        Creates or checks the device stamp, takes the device lock, opens LMDB, removes temp files
        and body files without a record. Raises DeviceNotMounted (no such directory, or not a mount
        point with mount_check), DeviceInUse (another process serves it), StampMismatch (another
        cluster, device or format).
        """
        store = cls(root=Path(root), config=config, device=device, metrics=metrics)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(store._pool, store._open_sync, cluster_fingerprint)
        except BaseException:
            # Close before raising: a caller that opens the device again right away must find
            # the lock file closed (a close left to run later raced such an open).
            closing = loop.run_in_executor(store._pool, store._close_sync)
            with contextlib.suppress(BaseException):
                await asyncio.wait([closing])
            store._pool.shutdown(wait=False)
            store._readers.shutdown(wait=False)
            store._scanner.shutdown(wait=False)
            raise
        store._committer = threading.Thread(
            target=store._committer_main, name=f"commit-{device}", daemon=True
        )
        store._committer.start()
        return store

    async def close(self) -> None:
        """Finish queued changes, stop the committer and close LMDB. A cancel leaves the closing to finish."""
        if self._closed:
            return
        self._closed = True
        self._changes.put(None)
        loop = asyncio.get_running_loop()
        committer = self._committer
        if committer is not None:
            await loop.run_in_executor(self._pool, committer.join)
        await loop.run_in_executor(self._pool, self._close_sync)
        self._pool.shutdown(wait=False)
        self._readers.shutdown(wait=False)
        self._scanner.shutdown(wait=False)

    def _open_sync(self, cluster_fingerprint: str) -> None:
        root = self.root
        if not root.is_dir():
            raise DeviceNotMounted(f"device directory {root} does not exist")
        if self.config.mount_check and not os.path.ismount(root):
            raise DeviceNotMounted(f"device directory {root} is not a mount point")
        self._lock_fd = os.open(root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeviceInUse(f"device directory {root} is served by another process") from None
        self._check_stamp(cluster_fingerprint)
        for name in ("db", "objects", "tmp", "quarantined"):
            (root / name).mkdir(exist_ok=True)
        config = self.config
        self._env = lmdb.open(
            str(root / "db"),
            map_size=config.lmdb_map_size_bytes,
            max_dbs=16,
            max_readers=max(126, 4 * config.disk_threads + 8),
            sync=True,
            metasync=True,
            readahead=False,
            meminit=False,
            lock=True,
        )
        with self._env.begin(write=True) as txn:
            for db_name in _DBS:
                self._dbs[db_name] = self._env.open_db(db_name, txn=txn)
            self._suffix_log = suffix_log.SuffixLog(self._dbs[b"suffixes"], self._dbs[b"suffix_deltas"])
            self._suffix_log.load(txn)
        self._observe_map_size()
        self._sweep_sync()

    def _check_stamp(self, cluster_fingerprint: str) -> None:
        stamp_path = self.root / STAMP_FILE_NAME
        expected = {
            "format_version": DEVICE_FORMAT_VERSION,
            "cluster_fingerprint": cluster_fingerprint,
            "device": self.device,
        }
        try:
            stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if (self.root / "db").exists():
                raise StampMismatch(f"{self.root} holds data but no device stamp") from None
            _write_stamp(stamp_path, expected)
            return
        except (OSError, ValueError) as error:
            raise StampMismatch(f"{stamp_path}: unreadable device stamp: {error}") from None
        if isinstance(stamp, dict) and stamp.get("format_version") in DEVICE_FORMAT_VERSIONS_READ:
            expected["format_version"] = stamp["format_version"]
        for name, value in expected.items():
            if not isinstance(stamp, dict) or stamp.get(name) != value:
                found = stamp.get(name) if isinstance(stamp, dict) else None
                raise StampMismatch(f"{stamp_path}: {name} is {found!r}, expected {value!r}")
        if stamp["format_version"] != DEVICE_FORMAT_VERSION:
            # Upgraded in place (nothing to convert); older code then refuses the device.
            _write_stamp(stamp_path, expected | {"format_version": DEVICE_FORMAT_VERSION})

    def _sweep_sync(self) -> None:
        """Remove temp files and body files that no record owns (left by crashes)."""
        swept = 0
        for entry in os.scandir(self.root / "tmp"):
            os.unlink(entry.path)
            swept += 1
        objects = self.root / "objects"
        assert self._env is not None
        with self._env.begin(db=self._dbs[b"bodies"]) as txn:
            for partition_entry in os.scandir(objects):
                if not partition_entry.is_dir(follow_symlinks=False):
                    os.unlink(partition_entry.path)
                    swept += 1
                    continue
                for entry in os.scandir(partition_entry.path):
                    relative = f"objects/{partition_entry.name}/{entry.name}"
                    if txn.get(relative.encode()) is None:
                        os.unlink(entry.path)
                        swept += 1
        self.stats.orphans_swept += swept
        if swept:
            log.info("device.orphans_swept", extra={"device": self.device, "files": swept})
            if self._metrics:
                self._metrics.orphans_swept_total.labels(self.device).inc(swept)

    def _close_sync(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ objects

    async def begin_object_put(
        self,
        partition: int,
        account: str,
        container: str,
        obj: str,
        timestamp: Timestamp,
        content_length: int | None,
    ) -> ObjectWriter:
        """Start storing a body; nothing is visible until `ObjectWriter.commit`.

        `content_length` is the announced length, or None when unknown until the footer.
        Raises InvalidName, InvalidPartition, InvalidTimestamp, BadRequest (length out of range),
        InsufficientStorage (below the free-space reserve), Conflict (a newer record is stored:
        checked here to spare the upload, and again at commit).
        """
        key = self._checked_put_key(partition, account, container, obj, timestamp, content_length)
        writer = self._inline_writer(partition, key, obj, timestamp, content_length)
        if writer is not None:
            return writer

        def check(txn: lmdb.Transaction) -> None:
            self._check_free_space(content_length or 0)
            value = txn.get(key, db=self._dbs[b"objects"])
            if value is not None:
                stored = decode_record(stored_bytes(value), key=key)
                if stored.timestamp > timestamp:
                    raise Conflict("a newer record is stored", timestamp=stored.timestamp)

        await self.read(check)
        return self._object_writer(partition, key, obj, timestamp, content_length)

    def begin_small_object_put(
        self,
        partition: int,
        account: str,
        container: str,
        obj: str,
        timestamp: Timestamp,
        content_length: int | None,
    ) -> ObjectWriter | None:
        """`begin_object_put` at once, without a disk step, for a body announced small enough to
        store inline while the free space was checked lately (the commit checks the stored
        timestamp anyway): the writer, or None for `begin_object_put` to start. The disk step
        would cost a small PUT about a fifth of its CPU time. Raises as `begin_object_put`."""
        key = self._checked_put_key(partition, account, container, obj, timestamp, content_length)
        return self._inline_writer(partition, key, obj, timestamp, content_length)

    def _checked_put_key(
        self,
        partition: int,
        account: str,
        container: str,
        obj: str,
        timestamp: Timestamp,
        content_length: int | None,
    ) -> bytes:
        """The object's key, once the names, the timestamp and the announced length are checked."""
        key = keycodec.object_key(partition, account, container, obj)
        _check_timestamp(timestamp)
        if content_length is not None and not 0 <= content_length <= OBJECT_BODY_BYTES_MAX:
            raise BadRequest(f"content length must be 0..{OBJECT_BODY_BYTES_MAX}")
        return key

    def _inline_writer(
        self, partition: int, key: bytes, obj: str, timestamp: Timestamp, content_length: int | None
    ) -> ObjectWriter | None:
        """A writer without a disk step, if the body is announced small enough to store inline and
        the free space was checked lately; else None."""
        small = content_length is not None and content_length <= self.config.inline_body_bytes_max
        if not small or self._free_bytes_checked_s <= time.monotonic() - FREE_SPACE_CACHE_S:
            return None
        self._check_free_bytes(self._free_bytes, content_length or 0)
        return self._object_writer(partition, key, obj, timestamp, content_length)

    def _object_writer(
        self, partition: int, key: bytes, obj: str, timestamp: Timestamp, content_length: int | None
    ) -> ObjectWriter:
        return ObjectWriter(
            self,
            partition=partition,
            key=key,
            name=obj if keycodec.is_hashed(key) else None,
            timestamp=timestamp,
            content_length=content_length,
        )

    async def head_object(
        self, partition: int, account: str, container: str, obj: str, *, now_s: float
    ) -> ObjectRecord:
        """The live record of an object. Raises NotFound if missing, tombstoned or expired at `now_s`."""
        record = await self.get_record(partition, account, container, obj)
        if record is None:
            raise NotFound()
        if record.tombstone:
            raise NotFound("deleted", timestamp=record.timestamp)
        if record.is_expired(now_s):
            raise NotFound("expired", timestamp=record.timestamp)
        return record

    async def get_record(self, partition: int, account: str, container: str, obj: str) -> ObjectRecord | None:
        """The stored record whatever it is (tombstones and expired records included), or None."""
        key = keycodec.object_key(partition, account, container, obj)
        record = await self.read(lambda txn: self._get_record(txn, key))
        if record is not None and record.name is not None:
            assert record.name == obj, "two long names share a digest key"
        return record

    async def read_object(
        self, record: ObjectRecord, start: int = 0, end_exclusive: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Yield body bytes [start, end_exclusive) of `record`, each 64 KiB block verified before use.

        Reads only the blocks covering the range, `read_chunk_bytes` per disk step. On a mismatch
        (or a missing or short body file) the copy is quarantined, its record removed, and
        CorruptBody raised: before the first chunk if the first block is bad, else mid-stream (the
        server then cuts the connection). Raises NotFound if the body was replaced since `record`
        was read. Stopping early (aclose) closes the file.
        """
        end = record.content_length if end_exclusive is None else end_exclusive
        assert not record.tombstone and 0 <= start <= end <= record.content_length, (start, end)
        if start == end:
            return
        if record.inline_body is not None:
            yield await self._verified_inline(record, start, end)
            return
        body = await self.open_body_file(record)
        try:
            chunk_blocks = self.config.read_chunk_bytes // BLOCK_BYTES
            blocks = covering_blocks(start, end)
            for first in range(blocks.start, blocks.stop, chunk_blocks):
                last = min(first + chunk_blocks, blocks.stop)
                data = await body._read_verified(first, last)
                base = first * BLOCK_BYTES
                yield data[max(start - base, 0) : min(end - base, len(data))]
        finally:
            body.close()

    async def open_body_file(self, record: ObjectRecord) -> BodyFile:
        """Open a file body for verified reads or `sendfile` (see BodyFile); the caller closes it.

        Raises NotFound if the body was replaced since `record` was read, CorruptBody if its file
        is missing while the record still names it.
        """
        assert record.body_file is not None
        path = self.root / record.body_file
        try:
            fd = await self._run(os.open, path, os.O_RDONLY)
        except FileNotFoundError:
            current = await self.read(lambda txn: self._get_record(txn, record.key))
            if current is None or current.body_file != record.body_file:
                raise NotFound("replaced while being read") from None
            await self._quarantine(record, reason="body file missing")
            raise CorruptBody(f"body file of {record.body_file} is missing") from None
        return BodyFile(self, record, fd)

    async def delete_object(
        self,
        partition: int,
        account: str,
        container: str,
        obj: str,
        timestamp: Timestamp,
        *,
        also: AlsoChange | None = None,
    ) -> DeleteResult:
        """Write a tombstone at `timestamp` (even where there was nothing, so replicas learn of it).

        Works below the free-space reserve. Raises Conflict if a newer record is stored, or one with
        the same timestamp that is not a tombstone; the same tombstone again is an idempotent success.
        The replaced body file is removed after the commit. `also(txn, tombstone)` runs in the same
        transaction once the tombstone is stored (a pending container update).
        """
        key = keycodec.object_key(partition, account, container, obj)
        _check_timestamp(timestamp)
        tombstone = ObjectRecord(
            timestamp=timestamp,
            data_timestamp=timestamp,
            tombstone=True,
            name=obj if keycodec.is_hashed(key) else None,
            key=key,
        )

        staged = stage_record(tombstone)

        def apply(txn: lmdb.Transaction) -> tuple[DeleteResult, list[str]]:
            stored, previous, unlinks = self._put_record(txn, staged)
            if also is not None:
                also(txn, stored)
            return DeleteResult(tombstone=stored, previous=previous), unlinks

        return await self.submit(apply)

    async def post_object(
        self,
        partition: int,
        account: str,
        container: str,
        obj: str,
        timestamp: Timestamp,
        *,
        metadata: dict[str, str],
        content_type: str | None = None,
        delete_at: int | None = None,
        now_s: float,
    ) -> ObjectRecord:
        """Replace an object's metadata: a full new record at `timestamp` that keeps the same body.

        `metadata` replaces all user metadata; `content_type` None keeps the stored one; `delete_at`
        replaces X-Delete-At (None removes it). Raises NotFound (missing, tombstoned or expired at
        `now_s`), Conflict (a record at least as new with other content), InvalidMetadata,
        InsufficientStorage (below the free-space reserve).
        """
        key = keycodec.object_key(partition, account, container, obj)
        _check_timestamp(timestamp)
        check_metadata(metadata)
        _check_content_type(content_type)
        _check_delete_at(delete_at)
        await self._run(self._check_free_space, 0)

        def apply(txn: lmdb.Transaction) -> tuple[ObjectRecord, list[str]]:
            stored = self._get_record(txn, key)
            if stored is None or stored.tombstone:
                raise NotFound(timestamp=stored.timestamp if stored else None)
            if stored.is_expired(now_s):
                raise NotFound("expired", timestamp=stored.timestamp)
            updated = stored.replace(
                timestamp=timestamp,
                metadata=dict(metadata),
                content_type=stored.content_type if content_type is None else content_type,
                delete_at=delete_at,
            )
            # Same timestamp and same result: a retried POST (_put_record answers the stored record).
            result, _previous, unlinks = self._put_record(txn, stage_record(updated))
            return result, unlinks

        return await self.submit(apply)

    async def suffix_hashes(
        self, partition: int, namespace: bytes = suffixes.NAMESPACE_OBJECTS
    ) -> dict[str, str]:
        """The suffix hashes of `partition` in a role's keyspace ("000".."fff" -> 32 hex; suffixes.py)."""
        prefix = namespace + keycodec.partition_prefix(partition)
        suffix_changes = self._suffix_log
        assert suffix_changes is not None

        def scan(txn: lmdb.Transaction) -> dict[str, str]:
            sums = suffix_changes.hashes(txn, prefix)
            return {
                suffixes.suffix_text(suffix): suffixes.format_hash(total) for suffix, total in sums.items()
            }

        return await self.read(scan)

    async def reclaim_tombstones(self, *, now_s: float) -> int:
        """Remove tombstones older than `tombstone_reclaim_age_s`; returns how many (one batch at most).

        Call repeatedly until it returns less than RECLAIM_BATCH_RECORDS_MAX. Walks the object index.
        """
        cutoff = Timestamp.from_seconds(max(now_s - self.config.tombstone_reclaim_age_s, 0))

        def scan(txn: lmdb.Transaction) -> list[bytes]:
            found: list[bytes] = []
            for key, value in txn.cursor(db=self._dbs[b"objects"]):
                record = decode_record(stored_bytes(value), key=stored_bytes(key))
                if record.tombstone and record.timestamp < cutoff:
                    found.append(stored_bytes(key))
                    if len(found) >= RECLAIM_BATCH_RECORDS_MAX:
                        break
            return found

        keys = await self.read(scan)

        def apply(txn: lmdb.Transaction) -> tuple[int, list[str]]:
            removed = 0
            for key in keys:
                record = self._get_record(txn, key)
                if record is not None and record.tombstone and record.timestamp < cutoff:
                    self._remove_record(txn, record)
                    removed += 1
            return removed, []

        return await self.submit(apply) if keys else 0

    # ------------------------------------------------------------------ registers

    async def register_read(self, key: bytes) -> RegisterState:
        """The durable acceptor state of register `key` (EMPTY_STATE if never written)."""
        registers.check_key(key)

        def read(txn: lmdb.Transaction) -> RegisterState:
            value = txn.get(key, db=self._dbs[b"registers"])
            return registers.EMPTY_STATE if value is None else registers.decode_state(stored_bytes(value))

        return await self.read(read)

    async def register_prepare(self, key: bytes, ballot: Ballot) -> PrepareAnswer:
        """CASPaxos PREPARE: the answer is returned only once the promise is durable.

        Raises InvalidRegister for a bad key or ballot. A reject is an answer (ok False), not an error.
        """
        registers.check_key(key)
        ballot = registers.check_ballot(ballot)
        return await self._register_change(key, lambda state: registers.prepare(state, ballot))

    async def register_accept(self, key: bytes, ballot: Ballot, value: bytes) -> AcceptAnswer:
        """CASPaxos ACCEPT of `value` (at most 64 KiB): answered once the accepted state is durable."""
        registers.check_key(key)
        ballot = registers.check_ballot(ballot)
        registers.check_value(value)
        return await self._register_change(key, lambda state: registers.accept(state, ballot, value))

    async def _register_change(
        self, key: bytes, rule: Callable[[RegisterState], tuple[RegisterState, T]]
    ) -> T:
        db = self._dbs[b"registers"]

        def apply(txn: lmdb.Transaction) -> tuple[T, list[str]]:
            value = txn.get(key, db=db)
            state = registers.EMPTY_STATE if value is None else registers.decode_state(stored_bytes(value))
            after, answer = rule(state)
            if after != state:
                txn.put(key, registers.encode_state(after), db=db)
            return answer, []

        return await self.submit(apply)

    # ------------------------------------------------------------------ record changes (committer thread)

    def _get_record(self, txn: lmdb.Transaction, key: bytes) -> ObjectRecord | None:
        value = txn.get(key, db=self._dbs[b"objects"])
        return None if value is None else decode_record(stored_bytes(value), key=key)

    def _put_record(
        self, txn: lmdb.Transaction, staged: StagedRecord
    ) -> tuple[ObjectRecord, ObjectRecord | None, list[str]]:
        """Store a record unless a record at least as new is there; keeps bodies and suffixes in step.

        Returns the stored record (the existing one for an idempotent retry), the record it replaced
        (None if none) and body files to remove after the commit. Raises Conflict.
        """
        record = staged.record
        key = record.key
        objects = self._dbs[b"objects"]
        unlinks: list[str] = []
        removed_hash = None
        # A new key (most writes) is stored by this one call; only a key in use is read first.
        # (Each py-lmdb call lets go of the GIL, and under load the committer then waits.)
        stored = (
            None if txn.put(key, staged.value, db=objects, overwrite=False) else self._get_record(txn, key)
        )
        if stored is not None:
            if stored.timestamp > record.timestamp:
                raise Conflict("a newer record is stored", timestamp=stored.timestamp)
            if stored.timestamp == record.timestamp:
                if not stored.same_content(record):
                    raise Conflict("another record has this timestamp", timestamp=stored.timestamp)
                if record.body_file is not None and record.body_file != stored.body_file:
                    unlinks.append(record.body_file)  # a retried PUT: its new copy is redundant
                return stored, stored, unlinks
            removed_hash = suffixes.entry_hash(key, stored.timestamp, stored.tombstone)
            txn.put(key, staged.value, db=objects)
        bodies = self._dbs[b"bodies"]
        if record.body_file is not None and (stored is None or stored.body_file != record.body_file):
            txn.put(record.body_file.encode(), key, db=bodies)
        if stored is not None and stored.body_file is not None and stored.body_file != record.body_file:
            txn.delete(stored.body_file.encode(), db=bodies)
            unlinks.append(stored.body_file)
        self._update_suffix_at(txn, staged.suffix_key, remove=removed_hash, add=staged.entry_hash)
        return record, stored, unlinks

    def _remove_record(self, txn: lmdb.Transaction, record: ObjectRecord) -> None:
        txn.delete(record.key, db=self._dbs[b"objects"])
        if record.body_file is not None:
            txn.delete(record.body_file.encode(), db=self._dbs[b"bodies"])
        removed = suffixes.entry_hash(record.key, record.timestamp, record.tombstone)
        self.update_suffix(txn, suffixes.NAMESPACE_OBJECTS, record.key, remove=removed, add=None)

    def update_suffix(
        self, txn: lmdb.Transaction, namespace: bytes, key: bytes, *, remove: int | None, add: int | None
    ) -> None:
        """Replace entry hash `remove` by `add` in the suffix of `key` (a key starting with its partition)."""
        self._update_suffix_at(txn, suffixes.suffix_key_of(namespace, key), remove=remove, add=add)

    def _update_suffix_at(
        self, txn: lmdb.Transaction, suffix_key: bytes, *, remove: int | None, add: int | None
    ) -> None:
        if remove == add:
            return
        assert self._suffix_log is not None
        self._suffix_log.change(txn, suffix_key, remove=remove, add=add)

    # ------------------------------------------------------------------ quarantine

    async def _verified_inline(self, record: ObjectRecord, start: int, end: int) -> bytes:
        assert record.inline_body is not None
        blocks = covering_blocks(start, end)
        base = blocks.start * BLOCK_BYTES
        covered = memoryview(record.inline_body)[base : blocks.stop * BLOCK_BYTES]
        # At most inline_body_bytes_max (<= 1 MiB) of xxh3 at several GB/s: microseconds, so on the loop.
        if verify_blocks(covered, blocks.start, record.block_xxh3s) is not None:
            await self._quarantine(record, reason="inline block checksum mismatch")
            raise CorruptBody("inline body failed verification")
        return bytes(covered[start - base : end - base])

    async def _quarantine(self, record: ObjectRecord, *, reason: str) -> None:
        """Move the copy aside and remove its record, so the replicator restores it from a peer."""
        stamp = f"{record.key.hex()[:40]}-{record.timestamp.internal}-{uuid.uuid4().hex[:8]}"

        def move() -> None:
            target = self.root / "quarantined"
            if record.body_file is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.rename(self.root / record.body_file, target / f"{stamp}.data")
            else:
                atomic_write(target / f"{stamp}.record", encode_record(record))
            fsync_directory(target)

        await self._run(move)

        def apply(txn: lmdb.Transaction) -> tuple[None, list[str]]:
            current = self._get_record(txn, record.key)
            if current is not None and current.timestamp == record.timestamp and current.same_content(record):
                self._remove_record(txn, current)
            return None, []

        await self.submit(apply)
        self.stats.quarantines += 1
        if self._metrics:
            self._metrics.quarantines_total.labels(self.device).inc()
        log.warning(
            "device.quarantined",
            extra={"device": self.device, "reason": reason, "timestamp": record.timestamp.internal},
        )

    # ------------------------------------------------------------------ threads

    async def _run(self, function: Callable[..., T], *args: Any, pool: ThreadPoolExecutor | None = None) -> T:
        """Run one whole disk step in this device's pool (or `pool`).

        A cancel waits for the step to end (a thread cannot be interrupted) before it propagates,
        so that the caller's clean-up never races the step it cleans up after.
        """
        future = asyncio.get_running_loop().run_in_executor(pool or self._pool, function, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await asyncio.wait([future])
                future.exception()  # retrieved: the cancel is what the caller hears about
            raise

    async def read(self, function: Callable[[lmdb.Transaction], T]) -> T:
        """Run `function` in a read transaction in the record readers' pool (sees only
        committed, durable state)."""
        return await self._run(functools.partial(self._read_sync, function), pool=self._readers)

    async def scan(self, function: Callable[[lmdb.Transaction], T]) -> T:
        """`read` for a function that walks many keys (a listing), in this device's one scanning
        thread. Every LMDB step releases the GIL; two walks in two threads hand it back and forth
        at each step (a listing of 1,000 at concurrency 8 cost 4.3 ms of CPU, 2.8 ms in one thread),
        while record reads, a few steps each, keep a pool of their own."""
        return await self._run(functools.partial(self._read_sync, function), pool=self._scanner)

    def _read_sync(self, function: Callable[[lmdb.Transaction], T]) -> T:
        """Run `function` in a read transaction, then let go of it at once, whatever happened.

        A read-only transaction keeps its LMDB reader slot for as long as the object lives, and
        a failed read's frames, which hold it, live on in reference cycles (the exception's
        traceback, asyncio's future) until the garbage collector finds them: once the slots
        were all taken, every read failed (MDB_READERS_FULL). So a failure's frames are cleared.
        """
        assert self._env is not None, "store is closed"
        with self._gate.reading():
            txn = self._env.begin(buffers=False)
            try:
                return function(txn)
            except BaseException as error:
                traceback.clear_frames(error.__traceback__)
                raise
            finally:
                txn.abort()
                del txn

    def batch_writer(self, kind: Callable[[DeviceStore], W]) -> W:
        """This store's one batch writer of `kind`, made and registered on first use: it is told
        of each batch the committer applies straight into one transaction."""
        for writer in self._batch_writers:
            if type(writer) is kind:
                return cast(W, writer)
        made = kind(self)
        self._batch_writers.append(made)
        return made

    def db(self, name: bytes) -> Any:
        """The handle of sub-database `name` (one of _DBS), for changes and reads run by the store."""
        return self._dbs[name]

    def submit_nowait(
        self, apply: Callable[[lmdb.Transaction], tuple[None, list[str]]], *, weight: int = 1
    ) -> None:
        """Queue a change nobody waits for (it commits with the next batch; a failure is logged)."""
        assert not self._closed, "store is closed"
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        future.add_done_callback(_log_failure)
        self._changes.put(_Change(apply, future, loop, [], weight))

    async def submit(
        self,
        apply: Callable[[lmdb.Transaction], tuple[T, list[str]]],
        *,
        unlink_on_failure: list[str] | None = None,
        weight: int = 1,
    ) -> T:
        """Queue a record change for the committer and wait until it is durable (or has failed).
        `weight`: about how many records it changes (a hint for the committer).

        A cancel does not withdraw the change: it may still commit (whole) after the caller is gone.
        """
        assert not self._closed, "store is closed"
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._changes.put(_Change(apply, future, loop, unlink_on_failure or [], weight))
        return await future

    def _committer_main(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._changes.get(timeout=suffix_log.FOLD_IDLE_S)
            except queue.Empty:
                self._fold_suffix_deltas()
                continue
            if first is None:
                break
            batch = [first]
            while len(batch) < self.config.group_commit_records_max:
                try:
                    change = self._changes.get_nowait()
                except queue.Empty:
                    break
                if change is None:
                    stopping = True
                    break
                batch.append(change)
            try:
                outcomes = self._commit_batch(batch)
            except BaseException as error:  # a bug: fail the batch, keep serving
                log.exception("device.commit_failed", extra={"device": self.device})
                outcomes = [(change, False, error, []) for change in batch]
            self._finish(outcomes)
            self._last_loop = batch[-1].loop

    def _commit_batch(self, batch: list[_Change]) -> list[tuple[_Change, bool, Any, list[str]]]:
        while True:
            try:
                return self._commit_once(batch)
            except lmdb.MapFullError:
                if self._grow_map():
                    continue
                if len(batch) == 1:
                    error = InsufficientStorage("LMDB map is full and at its configured maximum")
                    return [(batch[0], False, error, [])]
                # At the cap: retry each change alone so the ones that fit still land.
                return [outcome for change in batch for outcome in self._commit_batch([change])]
            except lmdb.DiskError:
                error = InsufficientStorage("no space left on device for the LMDB commit")
                return [(change, False, error, []) for change in batch]

    def _commit_once(self, batch: list[_Change]) -> list[tuple[_Change, bool, Any, list[str]]]:
        """One synced transaction for the whole batch.

        Every change is applied straight into it. Only if one fails is the batch applied again,
        each change in a nested transaction of its own, so that a failed change leaves nothing
        and the others still commit. (A nested transaction per change cost a begin and a
        commit each, and py-lmdb's commit lets go of the GIL.)

        The begin and the changes run while the event loop's thread is held (`LoopHold`):
        py-lmdb lets go of the GIL around every get and put, and taking it back from a busy
        loop thread can take a whole switch interval (5 ms). Unheld, a batch of 30 changes
        at 4 KiB PUTs c64 took 5 ms of waiting for 0.35 ms of work; held, about 0.2 ms. The
        synced commit runs unheld: the loop goes on serving meanwhile. A batch of fewer than
        HOLD_BATCH_CHANGES_MIN changes is not held (see there).
        """
        assert self._env is not None and self._suffix_log is not None
        txn: lmdb.Transaction | None = None
        try:
            with _hold_for(batch, loop_is_quiet=self.loop_is_quiet()):
                txn = self._env.begin(write=True)
                outcomes = self._apply_all(txn, batch)
            if outcomes is None:
                self.stats.isolated_batches += 1
                txn.abort()
                txn = self._env.begin(write=True)
                outcomes = self._apply_isolated(txn, batch)
            started = time.monotonic()
            txn.commit()  # synced: every change in the batch is durable from here
        except BaseException:
            if txn is not None:
                txn.abort()
            self._suffix_log.discard()
            raise
        elapsed = time.monotonic() - started
        self._suffix_log.committed(folded=self._folded)
        if self._folded:
            self.stats.suffix_folds += 1
        self.stats.commits += 1
        self.stats.committed_changes += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        if self._batch_metrics is not None:
            commit_seconds, batch_records = self._batch_metrics
            commit_seconds.observe(elapsed)
            batch_records.observe(len(batch))
        return outcomes

    def _apply_all(
        self, txn: lmdb.Transaction, batch: list[_Change]
    ) -> list[tuple[_Change, bool, Any, list[str]]] | None:
        """Apply every change of `batch` into `txn`, then let the batch writers write what they
        kept; None as soon as one fails (`txn` is then to be aborted: the failed change may
        have written part of itself)."""
        suffix_changes = self._suffix_log
        assert suffix_changes is not None
        self._folded = False
        suffix_changes.begin(txn)
        for writer in self._batch_writers:
            writer.begin_batch(txn)
        try:
            outcomes: list[tuple[_Change, bool, Any, list[str]]] = []
            for change in batch:
                result, unlinks = change.apply(txn)
                outcomes.append((change, True, result, unlinks))
            for writer in self._batch_writers:
                writer.flush_batch(txn)
            suffix_changes.write()  # last: the writers may change suffixes too
            self._folded = suffix_changes.rows_to_fold >= self._fold_at_rows and self._fold_within(txn)
            return outcomes
        except (lmdb.MapFullError, lmdb.DiskError):
            raise
        except Exception:
            return None
        finally:
            for writer in self._batch_writers:
                writer.end_batch()
            suffix_changes.end()

    def _apply_isolated(
        self, txn: lmdb.Transaction, batch: list[_Change]
    ) -> list[tuple[_Change, bool, Any, list[str]]]:
        """Apply each change of `batch` in a nested transaction of `txn`: one that fails is
        rolled back and reported, the others stay."""
        assert self._env is not None and self._suffix_log is not None
        outcomes: list[tuple[_Change, bool, Any, list[str]]] = []
        self._folded = False
        for position, change in enumerate(batch, start=1):
            child = self._env.begin(write=True, parent=txn)
            self._suffix_log.begin(child, txn_id=txn.id(), position=position)
            try:
                result, unlinks = change.apply(child)
                self._suffix_log.write()
            except (lmdb.MapFullError, lmdb.DiskError):
                child.abort()
                raise
            except Exception as error:  # StorageNodeError is expected; anything else is a bug
                child.abort()
                if not isinstance(error, StorageNodeError):
                    log.exception("device.change_failed", extra={"device": self.device})
                outcomes.append((change, False, error, []))
                continue
            finally:
                self._suffix_log.end()
            child.commit()
            outcomes.append((change, True, result, unlinks))
        return outcomes

    def _fold_within(self, txn: lmdb.Transaction) -> bool:
        """Fold the suffix delta records (suffix_log.py) in a transaction nested in the batch's,
        so that they commit with it; whether it did. A fold that fails leaves the batch whole
        and the deltas pending (suffix hashes read the same); it is tried again once
        FOLD_ROWS_MIN more rows have come."""
        assert self._env is not None and self._suffix_log is not None
        child = self._env.begin(write=True, parent=txn)
        try:
            self._suffix_log.fold(child)
        except (lmdb.MapFullError, lmdb.DiskError):
            child.abort()
            raise
        except Exception:
            child.abort()
            log.exception("device.suffix_fold_failed", extra={"device": self.device})
            self._fold_at_rows = self._suffix_log.rows_to_fold + suffix_log.FOLD_ROWS_MIN
            return False
        child.commit()
        self._fold_at_rows = suffix_log.FOLD_ROWS_MIN
        return True

    def _fold_suffix_deltas(self) -> None:
        """Fold what suffix deltas are pending, in a synced transaction of their own, holding the
        event loop as a batch does: what an idle committer does (a busy one folds within a
        batch's transaction). A fold that fails leaves the deltas pending."""
        suffix_changes = self._suffix_log
        assert self._env is not None and suffix_changes is not None
        if not suffix_changes.pending_rows:
            return
        txn: lmdb.Transaction | None = None
        try:
            with _hold(self._last_loop, loop_is_quiet=self.loop_is_quiet()):
                txn = self._env.begin(write=True)
                suffix_changes.fold(txn)
            txn.commit()
        except Exception as error:
            if txn is not None:
                txn.abort()
            if isinstance(error, lmdb.MapFullError):
                self._grow_map()
            else:
                log.exception("device.suffix_fold_failed", extra={"device": self.device})
            return
        suffix_changes.committed(folded=True)
        self.stats.suffix_folds += 1

    def _grow_map(self) -> bool:
        assert self._env is not None
        current = self._env.info()["map_size"]
        if current >= self.config.lmdb_map_size_bytes_max:
            return False
        with self._gate.exclusive():
            self._env.set_mapsize(min(current * 2, self.config.lmdb_map_size_bytes_max))
        self.stats.map_growths += 1
        self._observe_map_size()
        log.info("device.map_grown", extra={"device": self.device, "map_size": self._env.info()["map_size"]})
        return True

    def _observe_map_size(self) -> None:
        if self._metrics and self._env is not None:
            self._metrics.lmdb_map_size_bytes.labels(self.device).set(self._env.info()["map_size"])

    def _finish(self, outcomes: list[tuple[_Change, bool, Any, list[str]]]) -> None:
        answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for change, ok, value, unlinks in outcomes:
            for relative in unlinks if ok else change.unlink_on_failure:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.root / relative)
            answers.setdefault(change.loop, []).append((change.future, ok, value))
        # One wake-up of each loop per batch, not one per change.
        for loop, items in answers.items():
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
                loop.call_soon_threadsafe(_resolve_all, items)

    # ------------------------------------------------------------------ space

    def leaves_page_cache(self, body_bytes: int) -> bool:
        """Whether a body of `body_bytes` is let go from the page cache as it is written and
        read (over `page_cache_body_bytes_max`; writeback.drop_cached says why)."""
        return body_bytes > self.config.page_cache_body_bytes_max

    def _check_free_space(self, incoming_bytes: int) -> None:
        """InsufficientStorage if storing `incoming_bytes` more would eat into the reserve (in the pool)."""
        stat = os.statvfs(self.root)
        self._free_bytes = stat.f_bavail * stat.f_frsize
        self._free_bytes_checked_s = time.monotonic()
        self._check_free_bytes(self._free_bytes, incoming_bytes)

    def _check_free_bytes(self, free: int, incoming_bytes: int) -> None:
        if free - incoming_bytes < self.config.free_space_reserve_bytes:
            raise InsufficientStorage(
                f"{free} bytes free on {self.device}; {incoming_bytes} more would breach the reserve"
            )


def _resolve_all(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in items:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("device.background_change_failed", extra={"reason": str(future.exception())})


def _check_timestamp(timestamp: Timestamp) -> None:
    if not isinstance(timestamp, Timestamp):
        raise InvalidTimestamp("timestamp must be a Timestamp")


def _check_content_type(content_type: str | None) -> None:
    if content_type is not None and (
        not isinstance(content_type, str)
        or len(content_type.encode("utf-8", "replace")) > CONTENT_TYPE_BYTES_MAX
    ):
        raise BadRequest(f"content type must be a string of at most {CONTENT_TYPE_BYTES_MAX} bytes")


def _check_delete_at(delete_at: int | None) -> None:
    if delete_at is not None and (
        isinstance(delete_at, bool) or not isinstance(delete_at, int) or delete_at < 0
    ):
        raise InvalidMetadata("X-Delete-At must be a non-negative integer of seconds")


class BodyFile:
    """An open file body: verified reads, or verify-then-`sendfile` for the server.

    `fd` stays valid (and the bytes readable) even if the object is overwritten or deleted
    meanwhile. To serve [start, end) with sendfile: `await body.verify(start, end)`, then send
    `fd` from `start` for `end - start` bytes; verifying reads the blocks once (so they sit in the
    page cache for sendfile). Close with `close()`.
    """

    def __init__(self, store: DeviceStore, record: ObjectRecord, fd: int) -> None:
        self.store = store
        self.record = record
        self.fd = fd
        self._leaves_page_cache = store.leaves_page_cache(record.content_length)

    async def verify(self, start: int, end_exclusive: int) -> None:
        """Check the blocks covering [start, end_exclusive); CorruptBody (quarantined) on a mismatch."""
        assert 0 <= start <= end_exclusive <= self.record.content_length
        blocks = covering_blocks(start, end_exclusive)
        chunk_blocks = self.store.config.read_chunk_bytes // BLOCK_BYTES
        for first in range(blocks.start, blocks.stop, chunk_blocks):
            await self._read_verified(first, min(first + chunk_blocks, blocks.stop))

    async def _read_verified(self, first_block: int, stop_block: int) -> bytes:
        """Blocks first_block .. stop_block - 1, read and verified in one disk step."""
        record = self.record
        offset = first_block * BLOCK_BYTES
        size = min(stop_block * BLOCK_BYTES, record.content_length) - offset

        def step() -> bytes | None:
            data = os.pread(self.fd, size, offset)
            if self._leaves_page_cache:
                drop_cached(self.fd, offset, size)
            if len(data) != size or verify_blocks(data, first_block, record.block_xxh3s) is not None:
                return None
            return data

        data = await self.store._run(step)
        if data is None:
            await self.store._quarantine(record, reason="file block checksum mismatch or short file")
            raise CorruptBody(f"body of {record.body_file} failed verification")
        return data

    def close(self) -> None:
        """Close the file descriptor (a local close does not wait on the disk). A body over
        the page cache limit first lets go of its pages, what read-ahead brought in included:
        no disk work either, as a committed body file is clean."""
        if self.fd >= 0:
            if self._leaves_page_cache:
                drop_cached(self.fd)
            os.close(self.fd)
            self.fd = -1


def write_all(fd: int, views: list[memoryview]) -> None:
    """Write every byte of `views` to `fd`, in vectored writes of at most IOV_MAX pieces."""
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + IOV_MAX])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]


class ObjectWriter:
    """Receives one object's body; `commit` makes it visible, `abort` (or a cancel) leaves nothing.

    Bodies up to `inline_body_bytes_max` stay in memory and go into the record; larger ones
    stream to a temp file under <device>/tmp as they arrive. Block and whole-body xxh3s are
    computed as the bytes go by, in the device's pool. Not for concurrent use by several tasks.
    A cancel at any point leaves no visible object; at worst a temp file swept at the next open.
    """

    def __init__(
        self,
        store: DeviceStore,
        *,
        partition: int,
        key: bytes,
        name: str | None,
        timestamp: Timestamp,
        content_length: int | None,
    ) -> None:
        self._store = store
        self._partition = partition
        self._key = key
        self._name = name
        self._timestamp = timestamp
        self._content_length = content_length
        self._hasher = BodyHasher()
        self._buffer = bytearray()
        self._received = 0
        self._fd: int | None = None
        self._temp_path: Path | None = None
        self._body_id = ""  # names the body's file: chosen when there is one (inline bodies have none)
        self._bytes_since_space_check = 0
        self._cached_from = 0  # body bytes before this offset were let go from the page cache
        self._last_write_offset = 0  # where the newest write step began
        self._durable_path: str | None = None  # renamed into objects/ but not yet handed to the committer
        self._finished = False

    @property
    def received_bytes(self) -> int:
        return self._received

    async def write(self, chunk: bytes) -> None:
        """Append body bytes (see `write_parts`)."""
        await self.write_parts([chunk])

    def keep_inline(self, parts: Sequence[bytes | memoryview]) -> bool:
        """Append body bytes in memory if the body is still one to store inline (True), without
        a trip through the event loop; False (nothing taken): hand them to `write_parts`."""
        assert not self._finished, "writer already committed or aborted"
        size = sum(len(part) for part in parts)
        inline_max = self._store.config.inline_body_bytes_max
        fits_inline = self._content_length is None or self._content_length <= inline_max
        received = self._received + size
        if (
            self._fd is not None
            or not fits_inline
            or received > inline_max
            or (self._content_length is not None and received > self._content_length)
        ):
            return False
        self._received = received
        for part in parts:
            self._buffer += part
        return True

    async def write_parts(self, parts: Sequence[bytes | memoryview]) -> None:
        """Append body bytes given in pieces (written with one vectored write, not joined).
        Raises LengthMismatch past the announced length, InsufficientStorage on a full disk (the
        writer is then aborted)."""
        if self.keep_inline(parts):
            return
        size = sum(len(part) for part in parts)
        self._received += size
        if self._content_length is not None and self._received > self._content_length:
            await self.abort()
            raise LengthMismatch(f"body longer than the announced {self._content_length} bytes")
        pending = [bytes(self._buffer), *parts] if self._fd is None else list(parts)
        self._buffer = bytearray()
        self._bytes_since_space_check += size
        check_space = self._fd is None or self._bytes_since_space_check >= FREE_SPACE_CHECK_INTERVAL_BYTES
        if check_space:
            self._bytes_since_space_check = 0
        try:
            await self._store._run(self._write_step, pending, check_space)
        except BaseException:
            await self.abort()
            raise

    def _write_step(self, pending: list[bytes | memoryview], check_space: bool) -> None:
        if check_space:
            remaining = 0 if self._content_length is None else self._content_length - self._received
            self._store._check_free_space(remaining + sum(len(part) for part in pending))
        if self._fd is None:
            self._body_id = uuid.uuid4().hex
            self._temp_path = self._store.root / "tmp" / f"{self._body_id}.tmp"
            self._fd = os.open(self._temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        offset = self._hasher.length  # the file holds every byte hashed so far
        for part in pending:
            self._hasher.update(part)
        try:
            write_all(self._fd, [memoryview(part) for part in pending])
            start_writeback(self._fd, offset, self._hasher.length - offset)  # the disk works meanwhile
            if self._leaves_page_cache() and self._last_write_offset > self._cached_from:
                # What earlier steps wrote has had a step's time to reach the disk (pages still
                # being written stay; the whole file is let go after its fdatasync).
                drop_cached(self._fd, self._cached_from, self._last_write_offset - self._cached_from)
                self._cached_from = self._last_write_offset
            self._last_write_offset = offset
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise InsufficientStorage(f"disk full while writing a body on {self._store.device}") from None
            raise

    async def commit(
        self,
        *,
        etag: str,
        body_xxh3: int | str,
        content_length: int,
        content_type: str,
        metadata: dict[str, str],
        delete_at: int | None = None,
        extra: dict[str, str] | None = None,
        also: AlsoChange | None = None,
        condition: Callable[[ObjectRecord | None], None] | None = None,
    ) -> ObjectRecord:
        """Verify the body against the footer, make it durable, then commit its record; returns it.

        `also(txn, record)` runs in the record's transaction once it is stored (a pending
        container update), so both commit together or not at all. `condition(stored)` runs in
        that transaction before anything is stored, with the record then stored (None if none),
        and raises (PreconditionFailed) to store nothing: conditional writes are judged
        atomically against every other write here.

        `body_xxh3` is an int or 16 hex digits. Raises LengthMismatch (received bytes differ from
        `content_length` or the announced length), UploadChecksumMismatch, BadRequest/InvalidMetadata
        (fields out of bounds), Conflict (a newer record, or the same timestamp with other content),
        InsufficientStorage (full disk or LMDB map). On any of these nothing is stored. The same
        write again (same timestamp and content) returns the stored record: an idempotent retry.
        A cancel before the record change is queued removes the body file; after it, the object
        may still appear, whole.
        """
        assert not self._finished, "writer already committed or aborted"
        try:
            expected_xxh3 = int(body_xxh3, 16) if isinstance(body_xxh3, str) else body_xxh3
        except ValueError:
            await self.abort()
            raise BadRequest("body xxh3 must be 16 hex digits") from None
        try:
            if content_length != self._received or (
                self._content_length is not None and content_length != self._content_length
            ):
                raise LengthMismatch(f"received {self._received} bytes; footer says {content_length}")
            if not isinstance(etag, str) or len(etag.encode("utf-8", "replace")) > ETAG_BYTES_MAX:
                raise BadRequest(f"etag must be a string of at most {ETAG_BYTES_MAX} bytes")
            _check_content_type(content_type)
            check_metadata(metadata)
            check_extra(extra or {})
            _check_delete_at(delete_at)
        except BaseException:
            await self.abort()
            raise
        store = self._store
        common: dict[str, Any] = dict(
            timestamp=self._timestamp,
            data_timestamp=self._timestamp,
            content_type=content_type,
            content_length=content_length,
            etag=etag,
            metadata=dict(metadata),
            delete_at=delete_at,
            extra=dict(extra or {}),
            name=self._name,
            key=self._key,
        )
        if self._fd is None:
            whole, blocks = body_checksums(self._buffer)  # at most inline_body_bytes_max: on the loop
            if whole != expected_xxh3:
                await self.abort()
                raise UploadChecksumMismatch("body xxh3 differs from the footer's")
            record = ObjectRecord(
                block_xxh3s=tuple(blocks), body_xxh3=whole, inline_body=bytes(self._buffer), **common
            )
            self._finished = True
            change_unlinks: list[str] = []
        else:
            relative = f"objects/{self._partition}/{self._body_id}.data"
            try:
                whole, blocks = await store._run(self._make_durable, relative, expected_xxh3)
            except BaseException:
                await self.abort()
                raise
            if whole != expected_xxh3:
                raise UploadChecksumMismatch("body xxh3 differs from the footer's")
            record = ObjectRecord(block_xxh3s=tuple(blocks), body_xxh3=whole, body_file=relative, **common)
            change_unlinks = [relative]

        staged = stage_record(record)  # here, not in the committer that every write waits for

        def apply(txn: lmdb.Transaction) -> tuple[ObjectRecord, list[str]]:
            if condition is not None:
                condition(store._get_record(txn, record.key))
            stored, _previous, unlinks = store._put_record(txn, staged)
            if also is not None:
                also(txn, stored)
            return stored, unlinks

        # From here the committer owns the body file: it removes it if the change fails.
        self._durable_path = None
        return await store.submit(apply, unlink_on_failure=change_unlinks)

    def _make_durable(self, relative: str, expected_xxh3: int) -> tuple[int, list[int]]:
        """Finish the checksums; if they match: fdatasync, rename into objects/, fsync the directory."""
        assert self._fd is not None and self._temp_path is not None
        whole, blocks = self._hasher.finish()
        if whole != expected_xxh3:
            self._discard_sync()
            self._finished = True
            return whole, blocks
        metrics, device = self._store._metrics, self._store.device
        started = time.monotonic()
        try:
            os.fdatasync(self._fd)  # 1. the bytes are on disk before any name points at them
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise InsufficientStorage(f"disk full while syncing a body on {device}") from None
            raise
        if self._leaves_page_cache():
            drop_cached(self._fd)
        os.close(self._fd)
        self._fd = None
        partition_dir = self._store.root / "objects" / str(self._partition)
        try:
            partition_dir.mkdir()
            fsync_directory(partition_dir.parent)  # a new partition directory must itself survive
        except FileExistsError:
            pass
        os.rename(self._temp_path, self._store.root / relative)  # 2. the final, unique name
        self._temp_path = None
        self._durable_path = relative
        fsync_directory(partition_dir)  # 3. the rename is durable; 4. (committer) the LMDB commit
        if metrics:
            metrics.fsync_seconds.labels(device).observe(time.monotonic() - started)
        self._finished = True
        return whole, blocks

    def _leaves_page_cache(self) -> bool:
        return self._store.leaves_page_cache(
            self._received if self._content_length is None else self._content_length
        )

    def _discard_sync(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        for path in (self._temp_path, self._durable_path and self._store.root / self._durable_path):
            if path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        self._temp_path = self._durable_path = None

    async def abort(self) -> None:
        """Drop the body: nothing is stored and the temp file is removed. Safe to call twice."""
        self._finished = True
        self._buffer = bytearray()
        if self._fd is not None or self._temp_path is not None or self._durable_path is not None:
            await self._store._run(self._discard_sync)
