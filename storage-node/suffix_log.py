"""Suffix hashes kept as stored sums plus a log of each commit's changes to them.

A suffix hash (suffixes.py) is a sum over the records of a suffix, so each record change adds
one term and takes one away. Writing that sum in the commit of every change cost each commit
one random page of the `suffixes` sub-database per suffix it touched: about 20 scattered 4 KiB
pages for a batch of 20 small PUTs, and every one of them waits for the batch's fdatasync.

Instead, a transaction's suffix changes are summed in memory (`SuffixLog.change`) and written
as one record of `suffix_deltas` (`write`), next to the records they describe, in the same
commit: one small value per commit at the end of the sub-database. Every so often the committer
folds the oldest delta records into the stored sums, in a transaction of its own (`fold`): many
commits' changes to a suffix then cost one write of its page. A suffix hash is always the stored
sum plus the pending deltas (`hashes`), so what a reader sees is exact whatever has been folded;
a crash loses nothing, the deltas and the records committing together.

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

_RECORD_KEY = struct.Struct(">QI")
_ROW = struct.Struct(">7s16sq")
# Fold once this many delta records wait; a fold takes whole records, oldest first, until it has
# this many suffixes to write (a bound on how long it holds the event loop: about 2 µs each).
FOLD_RECORDS_MIN = 64
FOLD_SUFFIXES_MAX = 1024
FOLD_IDLE_S = 1.0  # a committer idle this long folds what is pending


def _stored(value: bytes | memoryview) -> bytes:
    assert isinstance(value, bytes)  # the device opens LMDB with buffers off (device.stored_bytes)
    return value


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


class SuffixLog:
    """The suffix changes of the transaction being applied, the delta records, their folding."""

    def __init__(self, suffixes_db: Any, deltas_db: Any, pending_records: int) -> None:
        self._suffixes_db = suffixes_db
        self._deltas_db = deltas_db
        self.pending_records = pending_records  # committed delta records not folded yet
        self._txn: lmdb.Transaction | None = None
        self._key = b""
        self._deltas: dict[bytes, list[int]] = {}

    def begin(self, txn: lmdb.Transaction, *, txn_id: int | None = None, position: int = 0) -> None:
        """Collect the suffix changes made in `txn`: a batch's, or (with the id of the batch's
        transaction and a position from 1) the nested one of a change applied on its own."""
        record_id = txn.id() if txn_id is None else txn_id
        self._txn, self._key, self._deltas = txn, _RECORD_KEY.pack(record_id, position), {}

    def change(self, txn: lmdb.Transaction, key: bytes, *, remove: int | None, add: int | None) -> None:
        """Entry hash `remove` leaves the suffix stored under `key`, `add` joins it (either None)."""
        assert txn is self._txn, "suffix hashes change only in a change the committer applies"
        total = (add or 0) - (remove or 0)
        count = (add is not None) - (remove is not None)
        add_delta(self._deltas, key, total, count)

    def write(self) -> bool:
        """Put the collected changes as the transaction's delta record; whether there was one."""
        assert self._txn is not None
        value = encode_deltas(self._deltas)
        if value:
            self._txn.put(self._key, value, db=self._deltas_db)
        self.end()
        return bool(value)

    def end(self) -> None:
        self._txn, self._deltas = None, {}

    def fold(self, txn: lmdb.Transaction) -> int:
        """Fold the oldest delta records into the stored sums, whole, until FOLD_SUFFIXES_MAX
        suffixes are to be written; delete them. How many records it folded."""
        suffixes_max = FOLD_SUFFIXES_MAX
        folded: list[bytes] = []
        deltas: dict[bytes, list[int]] = {}
        with txn.cursor(db=self._deltas_db) as cursor:
            for record_key, value in cursor:
                if len(deltas) >= suffixes_max:
                    break
                folded.append(_stored(record_key))
                for key, total, count in decode_deltas(_stored(value)):
                    add_delta(deltas, key, total, count)
        for key in sorted(deltas):  # in key order: neighbours share pages
            total, count = deltas[key]
            stored = txn.get(key, db=self._suffixes_db)
            updated = suffixes.apply_delta(
                None if stored is None else suffixes.decode_value(_stored(stored)), total=total, count=count
            )
            if updated is not None:
                txn.put(key, suffixes.encode_value(*updated), db=self._suffixes_db)
            elif stored is not None:
                txn.delete(key, db=self._suffixes_db)
        for record_key in folded:
            txn.delete(record_key, db=self._deltas_db)
        return len(folded)

    def hashes(self, txn: lmdb.Transaction, prefix: bytes) -> dict[int, int]:
        """{suffix: sum} of every suffix under `prefix` (namespace and partition) that holds
        records: the stored sums plus the pending deltas."""
        sums: dict[bytes, list[int]] = {}
        with txn.cursor(db=self._suffixes_db) as cursor:
            if cursor.set_range(prefix):
                for stored_key, value in cursor:
                    key = _stored(stored_key)
                    if not key.startswith(prefix):
                        break
                    total, count = suffixes.decode_value(_stored(value))
                    sums[key] = [total, count]
        with txn.cursor(db=self._deltas_db) as cursor:
            for _record_key, value in cursor:
                for key, total, count in decode_deltas(_stored(value)):
                    if key.startswith(prefix):
                        add_delta(sums, key, total, count)
        return {
            suffixes.suffix_from_key(key): total % suffixes.MODULUS
            for key, (total, count) in sums.items()
            if count > 0
        }
