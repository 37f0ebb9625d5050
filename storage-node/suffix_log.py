"""Suffix hashes kept as stored sums plus a log of each commit's changes to them.

A suffix hash (suffixes.py) is a sum over the records of a suffix, so each record change adds
one term and takes one away. Writing that sum in the commit of every change cost each commit
one random page of the `suffixes` sub-database per suffix it touched: about 20 scattered 4 KiB
pages for a batch of 20 small PUTs, and every one of them waits for the batch's fdatasync.

Instead, a transaction's suffix changes are summed in memory (`SuffixLog.change`) and written
as one record of `suffix_deltas` (`write`), next to the records they describe, in the same
commit: one small value per commit at the end of the sub-database. Once the pending records
hold FOLD_ROWS_MIN rows, the committer folds them all into the stored sums (`fold`), within
the transaction of the batch at hand (or in one of its own when it is idle): many commits'
changes to a suffix then cost one write of its page. A suffix hash is always the stored sum
plus the pending deltas (`hashes`), so what a reader sees is exact whatever has been folded; a
crash loses nothing, the deltas and the records committing together.

Only the changes of busy partitions are logged (LOG_PARTITION_CHANGES_MIN): those of a
container's entries (all in the container's partition), or of objects written into one
partition in a row. Object records spread over a device's partitions by their hash, and the
change of a quiet partition rewrites a page of its own whenever it is written: at once, in its
own commit, as before (logged, a fold would gather hundreds of such pages into one long synced
write, and 4 KiB PUTs spread over 1,024 partitions lost 3-10%). A suffix with deltas pending
is always logged, so that its stored sum waits for the fold.

Delta record (sub-database "suffix_deltas"): key `>QI`, the id of the LMDB write transaction
(unique among committed ones, increasing) and a position (0 for a batch, 1.. for the changes a
batch applied one by one in nested transactions after one of them failed); value, one row per
suffix changed, `>7s16sq`: the suffix's key in "suffixes", the change of its sum (modulo
2**128, 16 bytes) and of its record count (signed 8 bytes).

Used by the committer thread only, apart from `hashes`, which reads in any transaction.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import lmdb
from dolmen.storage_node import suffixes
from dolmen.storage_node.lmdb_values import stored_bytes

_RECORD_KEY = struct.Struct(">QI")
_ROW = struct.Struct(">7s16sq")
# Fold once the pending deltas hold this many rows (a suffix changed by a commit): a fold writes
# each suffix they touch once, about 2 µs each, while it holds the event loop.
FOLD_ROWS_MIN = 1024
FOLD_IDLE_S = 1.0  # a committer idle this long folds what is pending
# A partition's suffix changes go to the log once it has had this many within the last
# FOLD_ROWS_MIN changes of the device (or since the last fold): only there do they share pages.
# Objects spread over a device's partitions by their hash, so a commit's changes of a quiet
# partition each rewrite a page of their own wherever they go; written at once, they cost no
# more, and a fold does not gather them into one long synced write.
LOG_PARTITION_CHANGES_MIN = 8


def _changed_value(stored: bytes | memoryview | None, total: int, count: int) -> bytes | None:
    """The stored value of a suffix after a change of its sum by `total` and of its record count
    by `count`; None once it holds no record."""
    current = None if stored is None else suffixes.decode_value(stored_bytes(stored))
    updated = suffixes.apply_delta(current, total=total, count=count)
    return None if updated is None else suffixes.encode_value(*updated)


def encode_deltas(deltas: dict[bytes, list[int]]) -> bytes:
    """The rows of `deltas` ({suffix key: [sum change, count change]}) that change anything."""
    rows = []
    for key, (total, count) in deltas.items():
        total %= suffixes.MODULUS
        if total or count:
            rows.append(_ROW.pack(key, total.to_bytes(16, "big"), count))
    return b"".join(rows)


def decode_deltas(value: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(suffix key, sum change, count change) of each row of a delta record."""
    for key, total, count in _ROW.iter_unpack(value):
        yield key, int.from_bytes(total, "big"), count


def add_delta(deltas: dict[bytes, list[int]], key: bytes, total: int, count: int) -> None:
    delta = deltas.get(key)
    if delta is None:
        deltas[key] = [total, count]
    else:
        delta[0] += total
        delta[1] += count


def add_deltas(deltas: dict[bytes, list[int]], more: list[dict[bytes, list[int]]]) -> None:
    """Add every delta of `more` (collected deltas of several transactions) to `deltas`."""
    for collected in more:
        for key, (total, count) in collected.items():
            add_delta(deltas, key, total, count)


class SuffixLog:
    """The suffix changes of the transaction being applied, the delta records, their folding.

    The committer's thread keeps the sum of every committed delta record (`_pending`), so a
    fold reads no record: it adds those sums to the stored ones and drops every record at once.
    """

    def __init__(self, suffixes_db: Any, deltas_db: Any) -> None:
        self._suffixes_db = suffixes_db
        self._deltas_db = deltas_db
        self._pending: dict[bytes, list[int]] = {}  # the committed delta records, summed
        self.pending_rows = 0  # their rows
        self._txn: lmdb.Transaction | None = None
        self._key = b""
        self._deltas: dict[bytes, list[int]] = {}  # the changes of the transaction being applied
        self._written: list[dict[bytes, list[int]]] = []  # deltas written, not committed yet
        self._changes: dict[bytes, int] = {}  # changes by partition (key[:5]) in the transaction
        self._written_changes: list[dict[bytes, int]] = []  # those of transactions not committed yet
        self._recent: dict[bytes, int] = {}  # changes by partition in the window, committed
        self._recent_total = 0

    def load(self, txn: lmdb.Transaction) -> None:
        """Sum the delta records there are (at open: those a previous process left)."""
        self._pending, self.pending_rows = {}, 0
        with txn.cursor(db=self._deltas_db) as cursor:
            for _record_key, value in cursor:
                for key, total, count in decode_deltas(stored_bytes(value)):
                    add_delta(self._pending, key, total, count)
                    self.pending_rows += 1

    def begin(self, txn: lmdb.Transaction, *, txn_id: int | None = None, position: int = 0) -> None:
        """Collect the suffix changes made in `txn`: a batch's, or (with the id of the batch's
        transaction and a position from 1) the nested one of a change applied on its own."""
        record_id = txn.id() if txn_id is None else txn_id
        self._txn, self._key, self._deltas = txn, _RECORD_KEY.pack(record_id, position), {}
        self._changes = {}

    def change(self, txn: lmdb.Transaction, key: bytes, *, remove: int | None, add: int | None) -> None:
        """Entry hash `remove` leaves the suffix stored under `key`, `add` joins it (either None):
        logged if the suffix has deltas pending (its stored sum must then wait for the fold) or
        its partition is busy, else written to the stored sum at once."""
        assert txn is self._txn, "suffix hashes change only in a change the committer applies"
        total, count = suffixes.entry_delta(add=add, remove=remove)
        partition = key[:5]
        changes = self._changes[partition] = self._changes.get(partition, 0) + 1
        if self._written_changes:  # (changes applied one by one, in nested transactions)
            changes += sum(earlier.get(partition, 0) for earlier in self._written_changes)
        if (
            self._recent.get(partition, 0) + changes > LOG_PARTITION_CHANGES_MIN
            or key in self._deltas
            or key in self._pending
            or (self._written and any(key in written for written in self._written))
        ):
            add_delta(self._deltas, key, total, count)
        else:
            self._add_to_stored(txn, key, total, count)

    def _add_to_stored(self, txn: lmdb.Transaction, key: bytes, total: int, count: int) -> None:
        """Change the stored sum under `key` by `total` and its record count by `count`."""
        stored = txn.get(key, db=self._suffixes_db)
        updated = _changed_value(stored, total, count)
        if updated is not None:
            txn.put(key, updated, db=self._suffixes_db)
        elif stored is not None:
            txn.delete(key, db=self._suffixes_db)

    def write(self) -> None:
        """Put the collected changes as the transaction's delta record (if it changed any)."""
        assert self._txn is not None
        value = encode_deltas(self._deltas)
        if value:
            self._txn.put(self._key, value, db=self._deltas_db)
            self._written.append(self._deltas)
        self._written_changes.append(self._changes)
        self.end()

    def end(self) -> None:
        self._txn, self._deltas, self._changes = None, {}, {}

    @property
    def rows_to_fold(self) -> int:
        """The rows a fold now would fold: committed ones and those written since."""
        return self.pending_rows + sum(len(deltas) for deltas in self._written)

    def fold(self, txn: lmdb.Transaction) -> None:
        """Add every delta record there is, committed or written in `txn`, to the stored sums
        and delete them all. `committed` then learns whether `txn` committed."""
        deltas: dict[bytes, list[int]] = {key: list(delta) for key, delta in self._pending.items()}
        add_deltas(deltas, self._written)
        keys = sorted(deltas)  # in key order: neighbours share pages
        with txn.cursor(db=self._suffixes_db) as cursor:
            # One call reads them all and one writes them, about 30% faster than a get and a put
            # for each: a fold runs while the event loop is held (device.py).
            stored = dict(cursor.getmulti(keys))
            updated = [(key, _changed_value(stored.get(key), *deltas[key])) for key in keys]
            cursor.putmulti([(key, value) for key, value in updated if value is not None])
        for key, value in updated:
            if value is None and key in stored:  # the suffix holds no record any more
                txn.delete(key, db=self._suffixes_db)
        txn.drop(self._deltas_db, delete=False)

    def committed(self, *, folded: bool) -> None:
        """The transaction that wrote (and, if `folded`, folded) committed."""
        if folded:
            self._pending, self.pending_rows = {}, 0
        else:
            add_deltas(self._pending, self._written)
            self.pending_rows = self.rows_to_fold
        for changes in self._written_changes:
            for partition, count in changes.items():
                self._recent[partition] = self._recent.get(partition, 0) + count
                self._recent_total += count
        if folded or self._recent_total >= FOLD_ROWS_MIN:  # a new window
            self._recent, self._recent_total = {}, 0
        self.discard()

    def discard(self) -> None:
        """The transaction that wrote did not commit: what it wrote is gone."""
        self._written, self._written_changes = [], []

    def hashes(self, txn: lmdb.Transaction, prefix: bytes) -> dict[int, int]:
        """{suffix: sum} of every suffix under `prefix` (namespace and partition) that holds
        records: the stored sums plus the pending deltas (read from `txn`: any thread)."""
        sums: dict[bytes, list[int]] = {}
        with txn.cursor(db=self._suffixes_db) as cursor:
            if cursor.set_range(prefix):
                for stored_key, value in cursor:
                    key = stored_bytes(stored_key)
                    if not key.startswith(prefix):
                        break
                    total, count = suffixes.decode_value(stored_bytes(value))
                    sums[key] = [total, count]
        with txn.cursor(db=self._deltas_db) as cursor:
            for _record_key, value in cursor:
                for key, total, count in decode_deltas(stored_bytes(value)):
                    if key.startswith(prefix):
                        add_delta(sums, key, total, count)
        return {
            suffixes.suffix_from_key(key): total % suffixes.MODULUS
            for key, (total, count) in sums.items()
            if count > 0
        }
