"""Container and account records in a device's LMDB environment, beside its objects.

Shares the device's environment, thread pool and group commit (DeviceStore.read / submit):
an entry change, the container's stats and its suffix hash change in one nested transaction
of a shared synced commit, so stats are exact whatever the concurrency and a crash keeps
all or none of a change.

Keyspaces (sub-databases; partitions are those of the role's own ring):

    containers          partition 4 | container digest 16       -> Info (JSON)
    container_objects   partition 4 | container digest 16 | name part (keycodec) -> ObjectEntry
    container_tombstones  the same keys -> ObjectEntry of a deleted object: tombstones apart, so
                        that a public listing never steps over them (a container that saw a
                        million deletes lists its live entries as fast as one that saw none);
                        an internal listing merges both. (Devices of format 1 and 2 may still hold
                        tombstones among the live entries or rows: public listings skip them
                        there too, and their next update moves them.)
    accounts            partition 4 | account digest 16         -> Info (JSON)
    account_containers  partition 4 | account digest 16 | container name UTF-8 -> ContainerRow
    account_tombstones  the same keys -> ContainerRow of a deleted container: apart, likewise
    reports             containers key -> b"": containers whose stats their account has not seen
    pending             object key -> PendingUpdate (updates.py): unacknowledged container updates
    pending_due         due time 8 | object key -> b"": the same updates by when they are due
                        (updates.due_key; an entry whose update was since replaced or dropped
                        is stale, and removed when a drain pass reaches it)
    pending_batches     due time 8 | LMDB transaction id 8 -> the updates one commit queued for
                        the request path's tries (updates.journal_key, encode_journal;
                        UpdateJournal): one record per commit, not two per update

Every record has timestamps and the newest wins, whatever order writes arrive in: object
entries (a deleted one stays a tombstone entry until reclaimed, so an older PUT cannot
resurrect it), container rows (put and delete timestamps merge by maximum), and metadata
item by item (an empty value is a removal, remembered with its timestamp). A container or
account is live while its put timestamp is newer than its delete timestamp.

Auto-creation: containers and accounts are created only by an explicit PUT, except in
system accounts (names starting with "."): there an object entry update creates its
container and a container row creates its account (at the update's timestamp).

Suffix hashes (suffixes.py) cover both keyspaces, namespaces "c" and "a": each entry or row
contributes the hash of its key and its state (timestamps and kind); each container or account
record contributes its put and delete timestamps, policy index and metadata item timestamps.
Stats are not hashed: they follow from the entries.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, cast

import lmdb
import orjson
from dolmen.storage_node import keycodec, suffixes
from dolmen.storage_node.device import DeviceStore
from dolmen.storage_node.entries import (
    ObjectEntry,
    decode_entry,
    encode_entry,
    entry_full_name,
    entry_is_live,
)
from dolmen.storage_node.errors import BadRequest, Conflict, NotEmpty, NotFound
from dolmen.storage_node.listings import (
    ListingQuery,
    MergedNames,
    Row,
    Subdir,
    in_name_order,
    list_names,
    seek_high,
    seek_low,
)
from dolmen.storage_node.lmdb_values import stored_bytes
from dolmen.storage_node.records import CONTENT_TYPE_BYTES_MAX, ObjectRecord, check_metadata
from dolmen.storage_node.timestamps import ZERO, Timestamp
from dolmen.storage_node.updates import (
    JournaledUpdate,
    PendingUpdate,
    QueuedUpdate,
    Replica,
    decode_journal,
    decode_pending,
    due_key,
    due_micros,
    encode_journal,
    encode_pending,
    journal_due_micros,
    journal_key,
    journal_size,
    pending_due_s,
    split_due_key,
)

from dolmen.limits import (
    CONTAINER_NAME_BYTES_MAX,
    ETAG_BYTES_MAX,
    LMDB_KEY_BYTES_MAX,
    METADATA_REMOVALS_KEPT_MAX,
    OBJECT_NAME_BYTES_MAX,
)

CONTAINER = "container"
ACCOUNT = "account"
SIZE_MAX = 2**63 - 1  # object sizes and stats fit a signed 64-bit integer (as Swift's SQLite)


def is_system_account(account: str) -> bool:
    """System accounts hold the platform's own records; they auto-create (see the module docstring)."""
    return account.startswith(".")


# --- values ---------------------------------------------------------------------------


Metadata = dict[str, tuple[str, Timestamp]]


@dataclass(frozen=True, slots=True)
class Info:
    """A container or an account: timestamps, metadata with per-item timestamps, exact stats."""

    account: str
    container: str | None
    created: Timestamp
    put_timestamp: Timestamp
    delete_timestamp: Timestamp = ZERO
    metadata: Metadata = field(default_factory=dict)
    object_count: int = 0
    bytes_used: int = 0
    container_count: int = 0  # accounts: live container rows
    policy_index: int = 0  # containers
    account_replica: Replica | None = None  # containers: where their stats are reported
    changes: int = 0  # containers: bumped by every change a stats report carries

    @property
    def live(self) -> bool:
        return self.put_timestamp > self.delete_timestamp

    @property
    def newest(self) -> Timestamp:
        """The newest timestamp of anything in the record (X-Backend-Timestamp)."""
        return max([self.put_timestamp, self.delete_timestamp, *(ts for _, ts in self.metadata.values())])

    def public_metadata(self) -> dict[str, str]:
        return {name: value for name, (value, _ts) in self.metadata.items() if value}

    def state(self) -> bytes:
        """What the suffix hash covers: every timestamp a newer write can change."""
        items = b"".join(
            name.encode("utf-8") + b"\0" + ts.packed for name, (_value, ts) in sorted(self.metadata.items())
        )
        return (
            self.put_timestamp.packed
            + self.delete_timestamp.packed
            + struct.pack(">I", self.policy_index)
            + items
        )


def encode_info(info: Info) -> bytes:
    return orjson.dumps(
        {
            "a": info.account,
            "c": info.container,
            "created": info.created.internal,
            "put": info.put_timestamp.internal,
            "delete": info.delete_timestamp.internal,
            "meta": {name: [value, ts.internal] for name, (value, ts) in info.metadata.items()},
            "objects": info.object_count,
            "bytes": info.bytes_used,
            "containers": info.container_count,
            "policy": info.policy_index,
            "report_to": None if info.account_replica is None else info.account_replica.as_json(),
            "changes": info.changes,
        }
    )


def decode_info(value: bytes) -> Info:
    data = orjson.loads(value)
    return Info(
        account=data["a"],
        container=data["c"],
        created=Timestamp.parse(data["created"]),
        put_timestamp=Timestamp.parse(data["put"]),
        delete_timestamp=Timestamp.parse(data["delete"]),
        metadata={name: (value, Timestamp.parse(ts)) for name, (value, ts) in data["meta"].items()},
        object_count=data["objects"],
        bytes_used=data["bytes"],
        container_count=data["containers"],
        policy_index=data["policy"],
        account_replica=None if data["report_to"] is None else Replica.from_json(data["report_to"]),
        changes=data["changes"],
    )


def merge_metadata(stored: Metadata, incoming: dict[str, str], timestamp: Timestamp) -> Metadata:
    """Item by item, the newest timestamp wins; an empty value removes the item (remembered).

    Live items must stay within Swift's limits (InvalidMetadata); only the newest
    METADATA_REMOVALS_KEPT_MAX removals are remembered.
    """
    merged = dict(stored)
    for name, value in incoming.items():
        current = merged.get(name)
        if current is None or current[1] < timestamp:
            merged[name] = (value, timestamp)
    check_metadata({name: value for name, (value, _ts) in merged.items() if value})
    removals = sorted((ts, name) for name, (value, ts) in merged.items() if not value)
    for _ts, name in removals[: max(len(removals) - METADATA_REMOVALS_KEPT_MAX, 0)]:
        del merged[name]
    return merged


_ROW = struct.Struct(">16s16sQQ")


@dataclass(frozen=True, slots=True)
class ContainerRow:
    """A container as its account lists it: the timestamps and stats its replica last reported."""

    name: str
    put_timestamp: Timestamp
    delete_timestamp: Timestamp
    object_count: int
    bytes_used: int

    @property
    def live(self) -> bool:
        return self.put_timestamp > self.delete_timestamp

    @property
    def timestamp(self) -> Timestamp:
        return max(self.put_timestamp, self.delete_timestamp)


def encode_row(row: ContainerRow) -> bytes:
    return _ROW.pack(row.put_timestamp.packed, row.delete_timestamp.packed, row.object_count, row.bytes_used)


def decode_row(name: bytes, value: bytes) -> ContainerRow:
    return ContainerRow(name.decode("utf-8"), *row_fields(value))


def row_fields(value: bytes) -> tuple[Timestamp, Timestamp, int, int]:
    """(put timestamp, delete timestamp, object count, bytes used) of a stored container row."""
    put, delete, count, used = _ROW.unpack(value)
    return Timestamp.unpack(put), Timestamp.unpack(delete), count, used


def _stored_in(txn: lmdb.Transaction, key: bytes, live_db: Any, deleted_db: Any) -> tuple[Any, Any]:
    """(the keyspace, the value) of a child: live or deleted, it is in one of the two (a deleted
    one of format 1 or 2 may be among the live ones); (None, None) if in neither."""
    value = txn.get(key, db=live_db)
    if value is not None:
        return live_db, value
    value = txn.get(key, db=deleted_db)
    return (None, None) if value is None else (deleted_db, value)


def _store_in(txn: lmdb.Transaction, key: bytes, value: bytes, db: Any, old_db: Any) -> None:
    """Store a child's new value in `db`, leaving `old_db` (where it was, if anywhere) if that differs."""
    if old_db is not None and old_db is not db:
        txn.delete(key, db=old_db)
    txn.put(key, value, db=db)


def child_key(role: str, parent_key: bytes, name: str) -> bytes:
    """The key of a container's object entry or an account's container row; InvalidName if illegal."""
    if role == CONTAINER:
        encoded = keycodec.encode_name(
            name, what="object", bytes_max=OBJECT_NAME_BYTES_MAX, slash_allowed=True
        )
        return parent_key + keycodec.name_part(encoded)
    return parent_key + keycodec.encode_name(
        name, what="container", bytes_max=CONTAINER_NAME_BYTES_MAX, slash_allowed=False
    )


def _row_name(part: bytes, value: bytes) -> bytes:
    return part  # container names (at most 256 bytes) always fit in the key


def row_is_live(value: bytes) -> bool:
    return value[:16] > value[16:32]  # packed timestamps sort as bytes


# --- the store ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Role:
    name: str
    info_db: bytes
    children_db: bytes  # live children: a container's objects, an account's containers
    deleted_children_db: bytes  # deleted ones, kept apart
    namespace: bytes
    child_name: Callable[[bytes, bytes], bytes]  # a child's full name from its key part and value
    child_is_live: Callable[[bytes], bool]  # whether a stored child value is live


_ROLES = {
    CONTAINER: _Role(
        CONTAINER,
        b"containers",
        b"container_objects",
        b"container_tombstones",
        suffixes.NAMESPACE_CONTAINERS,
        entry_full_name,
        entry_is_live,
    ),
    ACCOUNT: _Role(
        ACCOUNT,
        b"accounts",
        b"account_containers",
        b"account_tombstones",
        suffixes.NAMESPACE_ACCOUNTS,
        _row_name,
        row_is_live,
    ),
}


def info_key(partition: int, account: str, container: str | None) -> bytes:
    if container is None:
        return keycodec.account_prefix(partition, account)
    return keycodec.container_prefix(partition, account, container)


class Keyspaces:
    """The container and account records of one device (and its pending container updates).

    Every method is a coroutine that runs one whole step in the device's pool or committer;
    the errors are the engine's (InvalidName, NotFound, Conflict, NotEmpty, InvalidMetadata,
    InsufficientStorage).
    """

    def __init__(self, store: DeviceStore) -> None:
        self.store = store
        self._batch = store.batch_writer(RecordBatch)  # the store's one, shared by its Keyspaces
        self._journal = store.batch_writer(UpdateJournal)  # likewise

    # ---------------------------------------------------------------- containers and accounts

    async def put(
        self,
        role: str,
        partition: int,
        account: str,
        container: str | None,
        timestamp: Timestamp,
        *,
        metadata: dict[str, str],
        policy_index: int = 0,
        account_replica: Replica | None = None,
    ) -> bool:
        """Create (True) or update (False) a container or account: the put timestamp and metadata merge.

        Raises Conflict if a live container has another policy index, or if the record stays
        deleted (a PUT older than its delete).
        """
        key = info_key(partition, account, container)
        merge_metadata({}, metadata, timestamp)  # refuse bad metadata before queueing

        def apply(txn: lmdb.Transaction) -> tuple[bool, list[str]]:
            stored = self._get_info(txn, role, key)
            if stored is None:
                info = Info(
                    account,
                    container,
                    created=timestamp,
                    put_timestamp=timestamp,
                    metadata=merge_metadata({}, metadata, timestamp),
                    policy_index=policy_index,
                    account_replica=account_replica,
                )
                self._put_info(txn, role, key, None, info)
                return True, []
            if stored.live and stored.policy_index != policy_index:
                raise Conflict("the container exists with another storage policy", timestamp=stored.newest)
            info = replace(
                stored,
                put_timestamp=max(stored.put_timestamp, timestamp),
                metadata=merge_metadata(stored.metadata, metadata, timestamp),
                account_replica=account_replica or stored.account_replica,
            )
            if not info.live:
                raise Conflict("deleted at a later timestamp", timestamp=stored.delete_timestamp)
            created = not stored.live
            if created:
                info = replace(info, created=timestamp, policy_index=policy_index)
            self._put_info(txn, role, key, stored, info)
            return created, []

        return await self.store.submit(apply)

    async def post(
        self,
        role: str,
        partition: int,
        account: str,
        container: str | None,
        timestamp: Timestamp,
        *,
        metadata: dict[str, str],
    ) -> Info:
        """Merge metadata into a live container or account; NotFound if none."""
        key = info_key(partition, account, container)
        merge_metadata({}, metadata, timestamp)

        def apply(txn: lmdb.Transaction) -> tuple[Info, list[str]]:
            stored = self._live_info(txn, role, key)
            info = replace(stored, metadata=merge_metadata(stored.metadata, metadata, timestamp))
            self._put_info(txn, role, key, stored, info)
            return info, []

        return await self.store.submit(apply)

    async def delete(
        self, role: str, partition: int, account: str, container: str | None, timestamp: Timestamp
    ) -> Info:
        """Mark a live, empty container or account deleted at `timestamp`.

        Raises NotFound (none live), NotEmpty (it lists objects / containers), Conflict (the
        record was put at or after `timestamp`).
        """
        key = info_key(partition, account, container)

        def apply(txn: lmdb.Transaction) -> tuple[Info, list[str]]:
            stored = self._live_info(txn, role, key)
            count = stored.object_count if role == CONTAINER else stored.container_count
            if count:
                header = "X-Container-Object-Count" if role == CONTAINER else "X-Account-Container-Count"
                raise NotEmpty(
                    f"the {role} is not empty", timestamp=stored.newest, count=count, count_header=header
                )
            if stored.put_timestamp >= timestamp:
                raise Conflict(f"the {role} was put at or after this delete", timestamp=stored.put_timestamp)
            info = replace(stored, delete_timestamp=timestamp)
            self._put_info(txn, role, key, stored, info)
            return info, []

        return await self.store.submit(apply)

    async def head(self, role: str, partition: int, account: str, container: str | None) -> Info:
        """The live container or account; NotFound (with the delete timestamp if deleted)."""
        key = info_key(partition, account, container)
        return await self.store.read(lambda txn: self._live_info(txn, role, key))

    async def listing(
        self,
        role: str,
        partition: int,
        account: str,
        container: str | None,
        query: ListingQuery,
        *,
        tombstones: bool,
    ) -> tuple[Info, list[Row[bytes] | Subdir]]:
        """The record and the rows `query` selects: (full name, stored value) or roll-ups.

        The values stay as stored (listing_formats.py renders them without building objects:
        listings are the hot read path). `tombstones` lists deleted children too. NotFound if
        the container or account is not live.
        """
        key = info_key(partition, account, container)
        live, full_name = _ROLES[role].child_is_live, _ROLES[role].child_name
        dbs = self._children_dbs(role)[: 2 if tombstones else 1]

        def read(txn: lmdb.Transaction) -> tuple[Info, list[Row[bytes] | Subdir]]:
            info = self._live_info(txn, role, key)
            with contextlib.ExitStack() as cursors:
                sources = [
                    _CursorNames(cursors.enter_context(txn.cursor(db=db)), key, full_name) for db in dbs
                ]
                source = sources[0] if len(sources) == 1 else MergedNames(*sources)
                return info, list_names(source, query, listed=None if tombstones else live)

        return await self.store.scan(read)

    async def children(
        self, role: str, partition: int, account: str, container: str | None, names: list[str]
    ) -> tuple[Info, list[Row[bytes]]]:
        """The record and the stored children of `names`, live or deleted, in the order asked:
        (full name, stored value); a name with neither is left out. Point reads, for the cluster
        client's merge (PROTOCOL.md, LOOKUP). InvalidName for an illegal name; NotFound if the
        container or account is not live.
        """
        key = info_key(partition, account, container)
        keys = [child_key(role, key, name) for name in names]  # (InvalidName before anything else)
        wanted = [(name.encode("utf-8"), child) for name, child in zip(names, keys, strict=True)]
        full_name = _ROLES[role].child_name
        live_db, deleted_db = self._children_dbs(role)
        skip = len(key)

        def read(txn: lmdb.Transaction) -> tuple[Info, list[Row[bytes]]]:
            info = self._live_info(txn, role, key)
            rows = []
            for name, child in wanted:
                _db, value = _stored_in(txn, child, live_db, deleted_db)
                if value is not None and full_name(child[skip:], value := stored_bytes(value)) == name:
                    rows.append((name, value))  # (a long name's digest key may hold another name)
            return info, rows

        return await self.store.scan(read)

    # ---------------------------------------------------------------- entries and rows

    async def update_object(self, partition: int, account: str, container: str, entry: ObjectEntry) -> bool:
        """Apply an object entry update: True if applied, False if a newer (or the same) entry is stored.

        NotFound if the container is not live (system accounts create it).
        """
        (applied,) = await self.update_objects(partition, account, container, [entry])
        return applied

    async def update_objects(
        self, partition: int, account: str, container: str, entries: list[ObjectEntry]
    ) -> list[bool]:
        """Apply several entry updates of one container in one change (all or none); see update_object."""
        change = self._entries_change(partition, account, container, entries)
        return await self.store.submit(lambda txn: (change(txn), []), weight=len(entries))

    def _entries_change(
        self, partition: int, account: str, container: str, entries: list[ObjectEntry]
    ) -> Callable[[lmdb.Transaction], list[bool]]:
        """The change that applies `entries` to a container (update_objects); it raises NotFound,
        before changing anything, if the container is not live."""
        container_key = info_key(partition, account, container)
        prepared = []
        for entry in entries:
            check_entry(entry)
            key = child_key(CONTAINER, container_key, entry.name)
            prepared.append((entry, key, encode_entry(entry, hashed_key=keycodec.is_hashed(key))))
        live_db, deleted_db = self._children_dbs(CONTAINER)
        skip = len(container_key)

        def apply(txn: lmdb.Transaction) -> list[bool]:
            newest = max((entry.timestamp for entry in entries), default=ZERO)
            stored = self._info_for_child(txn, CONTAINER, container_key, account, container, newest)
            count, used = stored.object_count, stored.bytes_used
            applied = []
            for entry, key, value in prepared:
                old_db, old_value = _stored_in(txn, key, live_db, deleted_db)
                old = None
                if old_value is not None:
                    old_bytes = stored_bytes(old_value)
                    old = decode_entry(entry_full_name(key[skip:], old_bytes), old_bytes)
                    assert old.name == entry.name, "two long names share a digest key"
                    if old.timestamp >= entry.timestamp:
                        applied.append(False)
                        continue
                _store_in(txn, key, value, deleted_db if entry.deleted else live_db, old_db)
                if old is not None and not old.deleted:
                    count, used = count - 1, used - old.size
                if not entry.deleted:
                    count, used = count + 1, used + entry.size
                self.store.update_suffix(
                    txn,
                    suffixes.NAMESPACE_CONTAINERS,
                    key,
                    remove=None if old is None else suffixes.entry_hash(key, old.timestamp, old.deleted),
                    add=suffixes.entry_hash(key, entry.timestamp, entry.deleted),
                )
                applied.append(True)
            info = replace(stored, object_count=count, bytes_used=used)
            self._put_info(txn, CONTAINER, container_key, stored, info)
            return applied

        return apply

    async def update_container_row(self, partition: int, account: str, row: ContainerRow) -> None:
        """Merge a container replica's report: timestamps by maximum, stats as reported.

        NotFound if the account is not live (system accounts create it).
        """
        account_key = info_key(partition, account, None)
        key = child_key(ACCOUNT, account_key, row.name)
        if not 0 <= row.object_count <= SIZE_MAX or not 0 <= row.bytes_used <= SIZE_MAX:
            raise BadRequest("container stats out of range")
        live_db, deleted_db = self._children_dbs(ACCOUNT)

        def apply(txn: lmdb.Transaction) -> tuple[None, list[str]]:
            stored = self._info_for_child(txn, ACCOUNT, account_key, account, None, row.timestamp)
            old_db, old_value = _stored_in(txn, key, live_db, deleted_db)
            old = None if old_value is None else decode_row(key[len(account_key) :], stored_bytes(old_value))
            new = row
            if old is not None:
                new = replace(
                    row,
                    put_timestamp=max(old.put_timestamp, row.put_timestamp),
                    delete_timestamp=max(old.delete_timestamp, row.delete_timestamp),
                )
            _store_in(txn, key, encode_row(new), live_db if new.live else deleted_db, old_db)
            containers, count, used = stored.container_count, stored.object_count, stored.bytes_used
            if old is not None and old.live:
                containers, count, used = containers - 1, count - old.object_count, used - old.bytes_used
            if new.live:
                containers, count, used = containers + 1, count + new.object_count, used + new.bytes_used
            info = replace(stored, container_count=containers, object_count=count, bytes_used=used)
            self._put_info(txn, ACCOUNT, account_key, stored, info)
            self.store.update_suffix(
                txn,
                suffixes.NAMESPACE_ACCOUNTS,
                key,
                remove=None if old is None else _row_hash(key, old),
                add=_row_hash(key, new),
            )
            return None, []

        await self.store.submit(apply)

    # ---------------------------------------------------------------- pending container updates

    async def due_updates(self, *, now_s: float, limit: int) -> list[QueuedUpdate]:
        """Up to `limit` pending updates due at `now_s`, the longest due first.

        Reads the due-time index up to `now_s`, so a pass costs what is due, not the length of
        the queue (a container node down for a while leaves many updates backing off). Stale
        index entries met on the way (their update was replaced or dropped since) are removed.
        """
        _, index = self._queue_dbs()
        now_us = due_micros(now_s)

        def read(txn: lmdb.Transaction) -> tuple[list[QueuedUpdate], list[bytes]]:
            due: list[QueuedUpdate] = []
            stale: list[bytes] = []
            for stored_key in txn.cursor(db=index).iternext(keys=True, values=False):
                index_key = bytes(stored_key)
                due_us, key = split_due_key(index_key)
                if due_us > now_us or len(due) >= limit or len(stale) >= limit:
                    break
                stored = self._indexed_update(txn, index_key)
                if stored is None:
                    stale.append(index_key)
                else:
                    due.append(QueuedUpdate(key, decode_pending(stored), stored))
            return due, stale

        due, stale = await self.store.read(read)
        if stale:
            await self.store.submit(self._drop_stale(stale), weight=len(stale))
        return due

    def _drop_stale(self, index_keys: list[bytes]) -> Callable[[lmdb.Transaction], tuple[None, list[str]]]:
        """The change removing index entries that are still stale when it applies."""
        _, index = self._queue_dbs()

        def apply(txn: lmdb.Transaction) -> tuple[None, list[str]]:
            for index_key in index_keys:
                if self._indexed_update(txn, index_key) is None:
                    txn.delete(index_key, db=index)
            return None, []

        return apply

    def _indexed_update(self, txn: lmdb.Transaction, index_key: bytes) -> bytes | None:
        """The stored update a due-time index entry stands for; None if the entry is stale (its
        update was dropped, or replaced by one due at another time)."""
        pending, _ = self._queue_dbs()
        _, key = split_due_key(index_key)
        value = txn.get(key, db=pending)
        if value is None:
            return None
        stored = stored_bytes(value)
        return stored if due_key(pending_due_s(stored), key) == index_key else None

    async def index_pending(self) -> int:
        """Index the pending updates of a device written before the due-time index existed (its
        index then has fewer entries than the queue); how many. Costs a look at both sizes
        when there is nothing to do."""
        pending, index = self._queue_dbs()

        def apply(txn: lmdb.Transaction) -> tuple[int, list[str]]:
            if txn.stat(index)["entries"] >= txn.stat(pending)["entries"]:
                return 0, []
            added = 0
            for key, value in txn.cursor(db=pending):
                index_key = due_key(pending_due_s(stored_bytes(value)), bytes(key))
                added += txn.put(index_key, b"", db=index, overwrite=False)
            return added, []

        return await self.store.submit(apply)

    async def pending_count(self) -> int:
        """Updates waiting: in the queue, and in journal records (acknowledged or not, until
        their record goes)."""
        pending = self.store.db(b"pending")

        def read(txn: lmdb.Transaction) -> int:
            return int(txn.stat(pending)["entries"]) + self._journal.size(txn)

        return await self.store.read(read)

    def forget_updates(self, acknowledged: list[QueuedUpdate | JournaledUpdate]) -> None:
        """Drop pending updates their container replicas acknowledged, in one change: a queued
        one unless replaced since (by a newer write, or a retry); a journaled one from its
        record's unacknowledged ones (UpdateJournal.settle).

        Not awaited: it rides on the next commit (a crash before it only means one idempotent resend).
        """

        def apply(txn: lmdb.Transaction) -> tuple[None, list[str]]:
            for queued in acknowledged:
                if isinstance(queued, JournaledUpdate):
                    self._journal.settle(txn, queued)
                else:
                    self._settle(txn, queued, None)
            return None, []

        self.store.submit_nowait(apply, weight=len(acknowledged))

    async def expand_due_journals(self, *, now_s: float, limit: int) -> int:
        """Move what is left of the journal records due at `now_s` into the queue, for the
        updater: the updates their request paths' tries did not get acknowledged (all of a
        record written before this process started). A record goes whole, and records go until
        `limit` updates were read; how many moved.

        An update joins the queue under its object key, due at once, unless an update of the
        same object at least as new is queued there already.
        """
        now_us = due_micros(now_s)

        def apply(txn: lmdb.Transaction) -> tuple[int, list[str]]:
            left = self._journal.take_due(txn, now_us, limit)
            return sum(self._requeue(txn, key, update) for key, update in left), []

        return await self.store.submit(apply)

    def _requeue(self, txn: lmdb.Transaction, key: bytes, update: PendingUpdate) -> int:
        """Queue `update` for the object at `key` unless one as new is queued for it: 1 if queued."""
        stored = txn.get(key, db=self.store.db(b"pending"))
        if stored is not None and decode_pending(stored_bytes(stored)).timestamp >= update.timestamp:
            return 0
        self.queue_update(txn, key, update)
        return 1

    async def retry_later(self, queued: QueuedUpdate, retried: PendingUpdate) -> None:
        """Replace `queued` by `retried` (more attempts, later due), unless it was replaced since."""

        def apply(txn: lmdb.Transaction) -> tuple[None, list[str]]:
            self._settle(txn, queued, retried)
            return None, []

        await self.store.submit(apply)

    def _settle(self, txn: lmdb.Transaction, queued: QueuedUpdate, retried: PendingUpdate | None) -> None:
        """Drop `queued` from the queue, or replace it by `retried`; unless it was replaced since."""
        key = queued.key
        pending, index = self._queue_dbs()
        if txn.get(key, db=pending) != queued.value:
            return  # replaced (or gone) since: what stands now stays
        txn.delete(due_key(queued.update.next_attempt_s, key), db=index)
        if retried is None:
            txn.delete(key, db=pending)
        else:
            self.queue_update(txn, key, retried)

    def queue_for_try(
        self, txn: lmdb.Transaction, key: bytes, update: PendingUpdate
    ) -> QueuedUpdate | JournaledUpdate:
        """Queue `update` of the object at `key` for the request path's try: in its batch's
        journal record (UpdateJournal), or in the queue if the change is applied on its own."""
        return self._journal.add(txn, key, update) or self.queue_update(txn, key, update)

    def queue_update(self, txn: lmdb.Transaction, key: bytes, update: PendingUpdate) -> QueuedUpdate:
        """Write `update` for the object at `key` into the pending queue and its due-time index
        (replacing the object's older pending update, whose index entry is left stale)."""
        pending, index = self._queue_dbs()
        value = encode_pending(update)
        txn.put(key, value, db=pending)
        txn.put(due_key(update.next_attempt_s, key), b"", db=index)
        return QueuedUpdate(key, update, value)

    def _queue_dbs(self) -> tuple[Any, Any]:
        """The pending queue's sub-databases: the updates by object key, and their due-time index."""
        return self.store.db(b"pending"), self.store.db(b"pending_due")

    # ---------------------------------------------------------------- stats reports

    async def due_reports(self, *, limit: int, after: bytes | None = None) -> list[tuple[bytes, Info]]:
        """Up to `limit` containers whose stats their account replica has not acknowledged yet,
        in key order from the first key past `after` (None: from the start), going round to the
        start. A caller that passes the last key it got each time visits them all in turn,
        however many wait behind an account replica that does not answer."""
        reports, containers = self.store.db(b"reports"), self.store.db(b"containers")

        def read(txn: lmdb.Transaction) -> list[tuple[bytes, Info]]:
            due: list[tuple[bytes, Info]] = []
            cursor = txn.cursor(db=reports)

            def take(positioned: bool, last: bytes | None) -> None:
                """From the cursor's key on, until `limit` or past `last` (None: the end)."""
                if not positioned:
                    return
                for stored_key in cursor.iternext(values=False):
                    key = bytes(stored_key)
                    if len(due) >= limit or (last is not None and key > last):
                        return
                    value = txn.get(key, db=containers)
                    if value is not None:
                        due.append((key, decode_info(stored_bytes(value))))

            if after is None:
                take(cursor.first(), None)
            else:
                past = cursor.set_range(after)
                if past and bytes(cursor.key()) == after:
                    past = cursor.next()
                take(past, None)
                take(cursor.first(), after)  # round to the start
            return due

        return await self.store.read(read)

    async def pending_report(self, partition: int, account: str, container: str) -> tuple[bytes, Info] | None:
        """The container's stats report if its account replica has not acknowledged them yet."""
        key = info_key(partition, account, container)
        reports = self.store.db(b"reports")

        def read(txn: lmdb.Transaction) -> tuple[bytes, Info] | None:
            info = self._get_info(txn, CONTAINER, key)
            return None if info is None or txn.get(key, db=reports) is None else (key, info)

        return await self.store.read(read)

    async def reported(self, key: bytes, info: Info) -> None:
        """The account replica acknowledged `info`: done unless the container changed since."""
        reports = self.store.db(b"reports")

        def apply(txn: lmdb.Transaction) -> tuple[None, list[str]]:
            current = self._get_info(txn, CONTAINER, key)
            if current is None or current.changes == info.changes:
                txn.delete(key, db=reports)
            return None, []

        await self.store.submit(apply)

    # ---------------------------------------------------------------- in the committer or a read

    def _children_dbs(self, role: str) -> tuple[Any, Any]:
        """The handles of `role`'s keyspaces of live children and of deleted ones."""
        meta = _ROLES[role]
        return self.store.db(meta.children_db), self.store.db(meta.deleted_children_db)

    def _get_info(self, txn: lmdb.Transaction, role: str, key: bytes) -> Info | None:
        kept = self._batch.kept(txn, key)
        if kept is not None:
            return kept
        value = txn.get(key, db=self.store.db(_ROLES[role].info_db))
        return None if value is None else decode_info(stored_bytes(value))

    def _live_info(self, txn: lmdb.Transaction, role: str, key: bytes) -> Info:
        info = self._get_info(txn, role, key)
        if info is None:
            raise NotFound(f"no such {role}")
        if not info.live:
            raise NotFound(f"{role} deleted", timestamp=info.delete_timestamp)
        return info

    def _info_for_child(
        self,
        txn: lmdb.Transaction,
        role: str,
        key: bytes,
        account: str,
        container: str | None,
        timestamp: Timestamp,
    ) -> Info:
        """The live record an entry or row goes into; created first in system accounts."""
        info = self._get_info(txn, role, key)
        if info is not None and info.live:
            return info
        if not is_system_account(account):
            raise NotFound(f"no live {role}", timestamp=None if info is None else info.delete_timestamp)
        if info is None:
            created = Info(account, container, created=timestamp, put_timestamp=timestamp)
        elif timestamp > info.delete_timestamp:
            created = replace(info, created=timestamp, put_timestamp=timestamp)
        else:
            raise NotFound(f"{role} deleted later", timestamp=info.delete_timestamp)
        self._put_info(txn, role, key, info, created)
        return created

    def _put_info(self, txn: lmdb.Transaction, role: str, key: bytes, old: Info | None, new: Info) -> None:
        """Store `new` in place of `old`; within a batch, once, before its commit (RecordBatch)."""
        if not self._batch.keep(txn, role, key, old, new):
            write_info(self.store, txn, role, key, old, new)


class RecordBatch:
    """The container and account records the changes of one batch rewrite, kept decoded and
    written once when the batch is done (each object entry rewrote its container's record,
    JSON and all, and its stats report). The store's batch writer, shared by its Keyspaces:
    only while the committer applies a batch straight into one transaction."""

    def __init__(self, store: DeviceStore) -> None:
        self.store = store
        self._txn: lmdb.Transaction | None = None
        self._records: dict[bytes, tuple[str, Info | None, Info]] = {}  # key: role, stored, now

    def begin_batch(self, txn: lmdb.Transaction) -> None:
        self._txn, self._records = txn, {}

    def flush_batch(self, txn: lmdb.Transaction) -> None:
        assert txn is self._txn
        records, self._txn, self._records = self._records, None, {}
        for key, (role, old, new) in records.items():
            write_info(self.store, txn, role, key, old, new)

    def end_batch(self) -> None:
        self._txn, self._records = None, {}

    def kept(self, txn: lmdb.Transaction, key: bytes) -> Info | None:
        """The record under `key` as the batch left it, if `txn` is the batch's and it rewrote it."""
        if txn is not self._txn or key not in self._records:
            return None
        return self._records[key][2]

    def keep(self, txn: lmdb.Transaction, role: str, key: bytes, old: Info | None, new: Info) -> bool:
        """Keep `new` to be written when the batch is done; False if `txn` is not the batch's."""
        if txn is not self._txn:
            return False
        earlier = self._records.get(key)
        self._records[key] = (role, old if earlier is None else earlier[1], new)
        return True


class UpdateJournal:
    """The updates a batch's changes queue for the request path's tries (ContainerUpdateChange),
    written as one `pending_batches` record when the batch is done: one put per commit, where
    the queue costs two puts per update and, once it is acknowledged, a get and two deletes.
    The store's batch writer, shared by its Keyspaces; its memory is the committer thread's only.

    Which updates of each record are not acknowledged yet is kept in memory (`settle`); the
    record is deleted with the last. What is left of a record when it is due moves into the
    queue (Keyspaces.expand_due_journals): all of it if the process restarted meanwhile, or
    if a change that settled some of it failed after it ran (an acknowledged update is then
    sent once more, which changes nothing: updates are idempotent). So nothing unacknowledged
    is ever dropped.
    """

    def __init__(self, store: DeviceStore) -> None:
        self.db = store.db(b"pending_batches")
        self._txn: lmdb.Transaction | None = None
        self._key: bytes | None = None  # the batch's record key, from its first update
        self._updates: list[tuple[bytes, PendingUpdate]] = []  # (object key, update)
        self._unacknowledged: dict[bytes, set[int]] = {}  # by record key: positions not acknowledged

    def begin_batch(self, txn: lmdb.Transaction) -> None:
        self._txn, self._key, self._updates = txn, None, []

    def add(self, txn: lmdb.Transaction, key: bytes, update: PendingUpdate) -> JournaledUpdate | None:
        """Journal `update` of the object at `key` in the batch's record; None if `txn` is not
        the batch's (a change applied on its own: the caller queues the update instead). The
        record is due when its first update is (the others were made in the same batch)."""
        if txn is not self._txn:
            return None
        if self._key is None:
            self._key = journal_key(update.next_attempt_s, txn.id())
        self._updates.append((key, update))
        return JournaledUpdate(self._key, len(self._updates) - 1, update)

    def flush_batch(self, txn: lmdb.Transaction) -> None:
        assert txn is self._txn
        if self._key is not None:
            txn.put(self._key, encode_journal(self._updates), db=self.db)
            self._unacknowledged[self._key] = set(range(len(self._updates)))
        self.end_batch()

    def end_batch(self) -> None:
        self._txn, self._key, self._updates = None, None, []

    def settle(self, txn: lmdb.Transaction, journaled: JournaledUpdate) -> None:
        """`journaled` was acknowledged: the last of its record takes the record with it."""
        unacknowledged = self._unacknowledged.get(journaled.record_key)
        if unacknowledged is None:
            return  # moved into the queue (it is settled there), or never committed
        unacknowledged.discard(journaled.position)
        if not unacknowledged:
            del self._unacknowledged[journaled.record_key]
            txn.delete(journaled.record_key, db=self.db)

    def take_due(self, txn: lmdb.Transaction, now_us: int, limit: int) -> list[tuple[bytes, PendingUpdate]]:
        """Delete the records due at `now_us`, whole, until `limit` updates were read; the
        (object key, update) pairs of theirs not acknowledged (all of a record written before
        this process started). Records due that are not stored (their batch did not commit)
        are forgotten."""
        left: list[tuple[bytes, PendingUpdate]] = []
        taken: list[bytes] = []
        read = 0
        for stored_key, value in txn.cursor(db=self.db):
            record_key = bytes(stored_key)
            if journal_due_micros(record_key) > now_us or read >= limit:
                break
            unacknowledged = self._unacknowledged.pop(record_key, None)
            journaled = decode_journal(stored_bytes(value))
            left += [
                pair
                for position, pair in enumerate(journaled)
                if unacknowledged is None or position in unacknowledged
            ]
            read += len(journaled)
            taken.append(record_key)
        for record_key in taken:
            txn.delete(record_key, db=self.db)
        for record_key in [key for key in self._unacknowledged if journal_due_micros(key) <= now_us]:
            if txn.get(record_key, db=self.db) is None:
                del self._unacknowledged[record_key]
        return left

    def size(self, txn: lmdb.Transaction) -> int:
        """How many updates the stored records hold, acknowledged or not."""
        return sum(journal_size(stored_bytes(value)) for value in txn.cursor(db=self.db).iternext(keys=False))


def write_info(
    store: DeviceStore, txn: lmdb.Transaction, role: str, key: bytes, old: Info | None, new: Info
) -> None:
    """Store record `new` in place of `old`, with its stats report when they changed and its
    suffix hash when its state did (stats alone are not in the state the suffix hash covers)."""
    meta = _ROLES[role]
    if (
        role == CONTAINER
        and new.account_replica is not None
        and _reported_fields(old) != _reported_fields(new)
    ):
        new = replace(new, changes=new.changes + 1)
        txn.put(key, b"", db=store.db(b"reports"))
    txn.put(key, encode_info(new), db=store.db(meta.info_db))
    old_state, new_state = None if old is None else old.state(), new.state()
    if old_state != new_state:
        store.update_suffix(
            txn,
            meta.namespace,
            key,
            remove=None if old_state is None else suffixes.state_hash(key, old_state),
            add=suffixes.state_hash(key, new_state),
        )


def _reported_fields(info: Info | None) -> tuple[Any, ...]:
    if info is None:
        return ()
    return (info.put_timestamp, info.delete_timestamp, info.object_count, info.bytes_used)


def _row_hash(key: bytes, row: ContainerRow) -> int:
    return suffixes.state_hash(key, row.put_timestamp.packed + row.delete_timestamp.packed)


class ContainerUpdateChange:
    """An object write's container update, as a change in the object record's transaction.

    `in_place`: the container replica is on this very device (`keyspaces`). Then the entry is
    applied right there: the object and its listing entry commit together, and the write
    answers `done` without a second and third commit (the entry's, then the queue's clean-up).
    Otherwise, or if that container is not live, the update is queued in the same transaction
    (Keyspaces.queue_for_try), for the request path's one try (updater.send_update) and then
    the updater. Called again if the commit is retried; after the commit, `applied` tells
    whether the entry was applied in place, else `queued` is the update as queued.
    """

    __slots__ = ("keyspaces", "make", "in_place", "applied", "queued")

    queued: QueuedUpdate | JournaledUpdate | None

    def __init__(
        self, keyspaces: Keyspaces, make: Callable[[ObjectRecord], PendingUpdate], *, in_place: bool
    ) -> None:
        self.keyspaces = keyspaces
        self.make = make
        self.in_place = in_place
        self.applied = False
        self.queued = None

    def __call__(self, txn: lmdb.Transaction, record: ObjectRecord) -> None:
        update = self.make(record)
        replica = update.replica
        self.applied, self.queued = False, None
        if self.in_place:
            change = self.keyspaces._entries_change(
                replica.partition, update.account, update.container, [listed_entry(update)]
            )
            try:
                change(txn)
            except NotFound:
                pass  # not live here (yet): queued like any other, the updater retries
            else:
                self.applied = True
                return
        self.queued = self.keyspaces.queue_for_try(txn, record.key, update)


def listed_entry(update: PendingUpdate) -> ObjectEntry:
    """The container entry a container update asks for."""
    return ObjectEntry(
        update.obj, update.timestamp, update.deleted, update.size, update.etag, update.content_type
    )


def check_entry(entry: ObjectEntry) -> None:
    """BadRequest unless an entry update's fields are within bounds."""
    if not 0 <= entry.size <= SIZE_MAX:
        raise BadRequest("X-Backend-Object-Size out of range")
    if len(entry.etag.encode("utf-8")) > ETAG_BYTES_MAX:
        raise BadRequest(f"X-Backend-Object-Etag over {ETAG_BYTES_MAX} bytes")
    if len(entry.content_type.encode("utf-8")) > CONTENT_TYPE_BYTES_MAX:
        raise BadRequest(f"X-Backend-Object-Content-Type over {CONTENT_TYPE_BYTES_MAX} bytes")


class _CursorNames:
    """A NameSource over one container's or account's children: a cursor under `key_prefix`.

    Keys are in name order except for long-name runs (keycodec.py), which go through
    `in_name_order`; the common case reads each key and value once, with no extra layer.
    """

    def __init__(
        self, cursor: lmdb.Cursor, key_prefix: bytes, full_name: Callable[[bytes, bytes], bytes]
    ) -> None:
        self.cursor = cursor
        self.key_prefix = key_prefix
        self.skip = len(key_prefix)
        self.full_name = full_name

    def _names(
        self, items: Iterator[tuple[bytes, bytes]], *, descending: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        prefix, skip = self.key_prefix, self.skip
        run_bytes = keycodec.NAME_PREFIX_BYTES
        run: list[tuple[bytes, bytes]] = []  # keys sharing one long-name prefix, sorted when complete
        for key, value in items:
            if not key.startswith(prefix):
                break
            part = key[skip:]
            if run and (len(part) < run_bytes or part[:run_bytes] != run[0][0][:run_bytes]):
                yield from in_name_order(iter(run), self.full_name, descending=descending)
                run = []
            if len(part) < run_bytes:
                yield part, value
            else:
                run.append((part, value))
        yield from in_name_order(iter(run), self.full_name, descending=descending)

    def ascending(self, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        if not self.cursor.set_range(self.key_prefix + seek_low(start)):
            return iter(())
        names = self._names(cast(Iterator[tuple[bytes, bytes]], self.cursor.iternext()), descending=False)
        if len(start) < keycodec.NAME_PREFIX_BYTES:
            # The seek went to `start` itself: every name from there on is >= start (a long
            # name's key starts with its first 474 bytes, which are >= start), so no filter.
            return names
        return (pair for pair in names if pair[0] >= start)

    def descending(self, stop: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        tail = seek_high(stop) if stop is not None else b"\xff" * (LMDB_KEY_BYTES_MAX - self.skip)
        upper = self.key_prefix + tail
        if self.cursor.set_range(upper):
            if self.cursor.key() != upper and not self.cursor.prev():
                return
        elif not self.cursor.last():
            return
        items = cast(Iterator[tuple[bytes, bytes]], self.cursor.iterprev())
        for name, value in self._names(items, descending=True):
            if stop is None or name < stop:
                yield name, value
