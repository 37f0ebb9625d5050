"""LMDB key encoding for object records: every legal name fits, names sort within a container.

Object key, byte for byte (the key encoding is part of the replication contract:
suffixes and suffix hashes are computed over these bytes, see suffixes.py):

    partition        4 bytes, unsigned big-endian
    container_digest 16 bytes, BLAKE2b-128(person=b"dolmen-acct-cont", account UTF-8 || 0x00 || container UTF-8)
    name part        either
                     - the object name, UTF-8, when it is at most NAME_INLINE_BYTES_MAX (491) bytes:
                       the key is 20 + len(name) <= 511 bytes; or
                     - for longer names ("hashed" keys): the first NAME_PREFIX_BYTES (474) bytes of the
                       name, the byte 0xFF, then BLAKE2b-128(person=b"dolmen-long-name", whole name):
                       exactly 511 bytes. The record's value keeps the full name.

Properties (tested with hypothesis in tests/unit/test_keycodec.py):
- every key is at most LMDB_KEY_BYTES_MAX (511) bytes;
- the encoding is injective: 0xFF never occurs in UTF-8, so a hashed key never equals an
  inline one, and two long names share a key only if their 128-bit digests collide (the
  store compares the full name kept in the value and treats a mismatch as a programmer error);
- all keys of one (partition, account, container) share a 20-byte prefix, and for names that
  fit, key order is name order (UTF-8 byte order, which is code point order);
- a hashed key sorts after every name sharing its first 474 bytes that fits, and hashed keys with
  the same 474-byte prefix sort by digest. So every key whose name starts with one 474-byte prefix
  P lies in one contiguous run of keys `prefix || P ...`; a listing restores exact name order by
  reading that run whole and sorting it by the full names (only names of 474 bytes or more are
  affected). Listings are the next issue's job; this layout keeps that a local fix-up.

Account and container names are hashed because they are bounded (256 bytes each) but would
leave too little room for the object name; the digest is fixed-size so prefix scans over one
container stay possible. The digest is not keyed: names are already placed by the keyed ring hash,
and a collision needs about 2**64 work.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from dataclasses import dataclass

from dolmen.storage_node.errors import InvalidName, InvalidPartition

from dolmen.limits import (
    ACCOUNT_NAME_BYTES_MAX,
    CONTAINER_NAME_BYTES_MAX,
    LMDB_KEY_BYTES_MAX,
    OBJECT_NAME_BYTES_MAX,
    PARTITION_MAX,
)

PARTITION_BYTES = 4
CONTAINER_DIGEST_BYTES = 16
PREFIX_BYTES = PARTITION_BYTES + CONTAINER_DIGEST_BYTES  # 20
NAME_INLINE_BYTES_MAX = LMDB_KEY_BYTES_MAX - PREFIX_BYTES  # 491
LONG_NAME_MARKER = b"\xff"  # never occurs in UTF-8
LONG_NAME_DIGEST_BYTES = 16
NAME_PREFIX_BYTES = NAME_INLINE_BYTES_MAX - len(LONG_NAME_MARKER) - LONG_NAME_DIGEST_BYTES  # 474

_PARTITION = struct.Struct(">I")

assert PREFIX_BYTES + NAME_PREFIX_BYTES + 1 + LONG_NAME_DIGEST_BYTES == LMDB_KEY_BYTES_MAX
assert PARTITION_MAX < 2 ** (8 * PARTITION_BYTES)


def check_partition(partition: int) -> int:
    """`partition` if it is a legal partition number; InvalidPartition otherwise."""
    if not isinstance(partition, int) or isinstance(partition, bool) or not 0 <= partition <= PARTITION_MAX:
        raise InvalidPartition(f"partition must be 0..{PARTITION_MAX}, not {partition!r}")
    return partition


def encode_name(name: str, *, what: str, bytes_max: int, slash_allowed: bool) -> bytes:
    """`name` in UTF-8 if it is legal: non-empty, at most `bytes_max` bytes, no NUL, no lone surrogate."""
    if not isinstance(name, str) or not name:
        raise InvalidName(f"{what} name must be a non-empty string")
    if "\0" in name:
        raise InvalidName(f"{what} name contains NUL")
    if not slash_allowed and "/" in name:
        raise InvalidName(f"{what} name contains '/'")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidName(f"{what} name is not valid Unicode (lone surrogate)") from None
    if len(encoded) > bytes_max:
        raise InvalidName(f"{what} name is {len(encoded)} bytes; at most {bytes_max}")
    return encoded


# Digests of the containers and accounts seen lately: a node writes many objects of few
# containers, and every object key starts with one (1.3 µs to make, 0.2 µs from the cache).
# An illegal name raises, and raising is never cached.
DIGESTS_CACHED_MAX = 4096


@functools.lru_cache(maxsize=DIGESTS_CACHED_MAX)
def container_digest(account: str, container: str) -> bytes:
    """The 16-byte digest that stands for (account, container) in keys; InvalidName if illegal."""
    account_bytes = encode_name(
        account, what="account", bytes_max=ACCOUNT_NAME_BYTES_MAX, slash_allowed=False
    )
    container_bytes = encode_name(
        container, what="container", bytes_max=CONTAINER_NAME_BYTES_MAX, slash_allowed=False
    )
    return hashlib.blake2b(
        account_bytes + b"\0" + container_bytes,
        digest_size=CONTAINER_DIGEST_BYTES,
        person=b"dolmen-acct-cont",
    ).digest()


@functools.lru_cache(maxsize=DIGESTS_CACHED_MAX)
def account_digest(account: str) -> bytes:
    """The 16-byte digest that stands for an account in keys; InvalidName if illegal."""
    account_bytes = encode_name(
        account, what="account", bytes_max=ACCOUNT_NAME_BYTES_MAX, slash_allowed=False
    )
    return hashlib.blake2b(
        account_bytes, digest_size=CONTAINER_DIGEST_BYTES, person=b"dolmen-account"
    ).digest()


def account_prefix(partition: int, account: str) -> bytes:
    """The 20 bytes every key of this account's records in this partition starts with."""
    return _PARTITION.pack(check_partition(partition)) + account_digest(account)


def container_prefix(partition: int, account: str, container: str) -> bytes:
    """The 20 bytes every object key of this container in this partition starts with."""
    return _PARTITION.pack(check_partition(partition)) + container_digest(account, container)


def partition_prefix(partition: int) -> bytes:
    """The 4 bytes every key of `partition` starts with."""
    return _PARTITION.pack(check_partition(partition))


def object_key(partition: int, account: str, container: str, obj: str) -> bytes:
    """The LMDB key of an object record (at most 511 bytes); InvalidName/InvalidPartition if illegal."""
    prefix = container_prefix(partition, account, container)
    name = encode_name(obj, what="object", bytes_max=OBJECT_NAME_BYTES_MAX, slash_allowed=True)
    return prefix + name_part(name)


def name_part(name: bytes) -> bytes:
    """The part of the key after the 20-byte prefix for an already validated UTF-8 name."""
    if len(name) <= NAME_INLINE_BYTES_MAX:
        return name
    digest = hashlib.blake2b(name, digest_size=LONG_NAME_DIGEST_BYTES, person=b"dolmen-long-name").digest()
    return name[:NAME_PREFIX_BYTES] + LONG_NAME_MARKER + digest


def is_hashed(key: bytes) -> bool:
    """Whether `key` is a long name's digest key (the full name is in the record)."""
    return len(key) == LMDB_KEY_BYTES_MAX and key[PREFIX_BYTES + NAME_PREFIX_BYTES] == LONG_NAME_MARKER[0]


@dataclass(frozen=True, slots=True)
class DecodedKey:
    """An object key taken apart; `name` is None for hashed keys (read it from the record)."""

    partition: int
    container_digest: bytes
    name: str | None
    name_prefix: bytes  # the name bytes that sort: the whole name, or its first 474 bytes


def decode_object_key(key: bytes) -> DecodedKey:
    """Take an object key apart (inverse of `object_key` for names that fit)."""
    assert PREFIX_BYTES < len(key) <= LMDB_KEY_BYTES_MAX, len(key)
    (partition,) = _PARTITION.unpack_from(key)
    digest = key[PARTITION_BYTES:PREFIX_BYTES]
    if is_hashed(key):
        return DecodedKey(partition, digest, None, key[PREFIX_BYTES : PREFIX_BYTES + NAME_PREFIX_BYTES])
    name = key[PREFIX_BYTES:]
    return DecodedKey(partition, digest, name.decode("utf-8"), name)
