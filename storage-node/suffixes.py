"""Per-partition suffix hashes: the summary the replicator compares across nodes.

This is a cross-node contract; changing any byte below is an on-disk and wire format change.

Suffix of a record: the last 3 lowercase hex digits of
    BLAKE2b-128(person=b"dolmen-suffix-v1", object key)
where the object key is the byte string defined in keycodec.py (a deterministic function of
partition, account, container and object name, identical on every node). So a partition has
at most 4096 suffixes, "000" .. "fff".

Entry hash of a record: the 16 bytes
    BLAKE2b-128(person=b"dolmen-entry-v1", object key || timestamp.packed (16 bytes) || kind (1 byte))
read as an unsigned big-endian 128-bit integer; kind is b"d" for a record with a body and b"t"
for a tombstone. (POST writes a full record at its own timestamp, so metadata changes change it.)

Suffix hash: the sum modulo 2**128 of the entry hashes of every record in that suffix,
written as 32 lowercase hex digits. A sum is order-independent, so it is kept current with each
record change (add the new entry, subtract the replaced one) and never recomputed by walking the
disk; two nodes holding the same records at the same timestamps have the same suffix hash
whatever order the writes arrived in. A suffix with no records is absent. The changes commit
with the records they describe: written into the stored sum, or, for a busy partition, as
delta records folded into it later (suffix_log.py). A suffix hash is the stored sum plus the
deltas not folded yet.

Stored value (sub-database "suffixes", key: namespace 1 byte + partition 4 bytes big-endian +
suffix 2 bytes big-endian, namespace b"o" for objects, b"c" for the container keyspace and b"a" for
the account keyspace, each over its own keys: containers.py): sum 16 bytes + record count 8 bytes,
both big-endian. The count lets an emptied suffix disappear instead of lingering as zero.
"""

from __future__ import annotations

import hashlib
import struct

from dolmen.storage_node.keycodec import PARTITION_BYTES
from dolmen.storage_node.timestamps import Timestamp

SUFFIX_COUNT = 4096
MODULUS = 2**128
KIND_DATA = b"d"
KIND_TOMBSTONE = b"t"
NAMESPACE_OBJECTS = b"o"
NAMESPACE_CONTAINERS = b"c"
NAMESPACE_ACCOUNTS = b"a"
NAMESPACES = {"object": NAMESPACE_OBJECTS, "container": NAMESPACE_CONTAINERS, "account": NAMESPACE_ACCOUNTS}

_VALUE = struct.Struct(">16sQ")
_KEY_SUFFIX = struct.Struct(">H")


def suffix_of(key: bytes) -> int:
    """The suffix (0 .. 4095) of the record under object key `key`."""
    digest = hashlib.blake2b(key, digest_size=16, person=b"dolmen-suffix-v1").digest()
    return int.from_bytes(digest[-2:], "big") & 0xFFF


def suffix_text(suffix: int) -> str:
    """ "000" .. "fff"."""
    assert 0 <= suffix < SUFFIX_COUNT
    return f"{suffix:03x}"


def entry_hash(key: bytes, timestamp: Timestamp, tombstone: bool) -> int:
    """The 128-bit contribution of one record to its suffix hash."""
    return state_hash(key, timestamp.packed + (KIND_TOMBSTONE if tombstone else KIND_DATA))


def state_hash(key: bytes, state: bytes) -> int:
    """The contribution of the record under `key` in `state`: bytes that change whenever a newer
    write changes the record (timestamps and kind; containers.py defines its records' states)."""
    digest = hashlib.blake2b(key + state, digest_size=16, person=b"dolmen-entry-v1").digest()
    return int.from_bytes(digest, "big")


def format_hash(total: int) -> str:
    return f"{total % MODULUS:032x}"


def suffixes_key(namespace: bytes, partition_prefix: bytes, suffix: int) -> bytes:
    """Key in the "suffixes" sub-database; `partition_prefix` is keycodec.partition_prefix(partition)."""
    assert len(namespace) == 1 and len(partition_prefix) == 4
    return namespace + partition_prefix + _KEY_SUFFIX.pack(suffix)


def suffix_key_of(namespace: bytes, key: bytes) -> bytes:
    """Key in the "suffixes" sub-database of the suffix holding record key `key` (a key that
    starts with its partition prefix, as keycodec makes them)."""
    return suffixes_key(namespace, key[:PARTITION_BYTES], suffix_of(key))


def suffix_from_key(key: bytes) -> int:
    (suffix,) = _KEY_SUFFIX.unpack_from(key, 5)
    return suffix


def encode_value(total: int, count: int) -> bytes:
    return _VALUE.pack((total % MODULUS).to_bytes(16, "big"), count)


def decode_value(value: bytes) -> tuple[int, int]:
    total, count = _VALUE.unpack(value)
    return int.from_bytes(total, "big"), count


def entry_delta(*, add: int | None, remove: int | None) -> tuple[int, int]:
    """One record's change of a suffix as a delta (sum, count): entry hash `add` joins it,
    `remove` leaves it (either None)."""
    return (add or 0) - (remove or 0), (add is not None) - (remove is not None)


def combine(
    current: tuple[int, int] | None, *, add: int | None = None, remove: int | None = None
) -> tuple[int, int] | None:
    """(sum, count) after adding and/or removing one entry hash; None once the suffix is empty."""
    if remove is not None:
        assert current is not None and current[1] > 0, "removing an entry from an empty suffix"
    total, count = entry_delta(add=add, remove=remove)
    return apply_delta(current, total=total, count=count)


def apply_delta(current: tuple[int, int] | None, *, total: int, count: int) -> tuple[int, int] | None:
    """(sum, count) after a delta of several changes (suffix_log.py); None once the suffix is empty."""
    old_total, old_count = current or (0, 0)
    new_count = old_count + count
    assert new_count >= 0, "a suffix with fewer than no records"
    return ((old_total + total) % MODULUS, new_count) if new_count else None


def suffix_hash_of(entries: list[tuple[bytes, Timestamp, bool]]) -> dict[str, str]:
    """The suffix hashes of a set of records (key, timestamp, tombstone), computed from scratch.

    The oracle the incremental updates are tested against, and what an auditor could use to
    check a partition.
    """
    sums: dict[int, tuple[int, int] | None] = {}
    for key, timestamp, tombstone in entries:
        suffix = suffix_of(key)
        sums[suffix] = combine(sums.get(suffix), add=entry_hash(key, timestamp, tombstone))
    return {suffix_text(suffix): format_hash(value[0]) for suffix, value in sums.items() if value}
