"""Asynchronous updates between roles, pure: what to send where, and when to retry.

Two kinds, both durable before they are first tried and dropped only after a 2xx answer:

* an object replica's **container update** (PROTOCOL.md, "Container updates"): a
  `PendingUpdate`, written in the same LMDB commit as the object record (sub-database
  `pending`, keyed by the object key, so a newer write of the same object replaces an older
  pending update: the queue holds at most one update per object on the device), and indexed
  by when it is due (`pending_due`, `due_key`), so that finding the due ones costs what is due,
  not the length of the queue. The request path's own tries go through a cheaper door: the
  updates one group commit queues for them are written as one record (`pending_batches`, a
  `journal_key` per commit, `encode_journal`), settled in memory as they are acknowledged and
  deleted once all are; what is left of it when it is due (their tries failed, or the node
  restarted) moves into `pending` for the updater;
* a container replica's **stats report** to its account replica (containers.py).

A failed try is retried after `backoff_s(attempts)`; the updater (updater.py) does the I/O.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple
from urllib.parse import quote

import orjson
from dolmen.storage_node.config import DEVICE_NAME
from dolmen.storage_node.errors import BadRequest
from dolmen.storage_node.records import ObjectRecord
from dolmen.storage_node.request_paths import is_partition
from dolmen.storage_node.timestamps import Timestamp

from dolmen.limits import ETAG_BYTES_MAX, PARTITION_MAX
from dolmen.values import value_class

_PORT = re.compile(r"[1-9][0-9]{0,4}")


@dataclass(frozen=True, slots=True)
class Replica:
    """Where a replica of another role lives: `ip:port` of its node, its device and partition."""

    host: str
    device: str
    partition: int

    def path(self, *names: str) -> str:
        """`/<device>/<partition>/<names percent-encoded>`: the raw path of a request to it."""
        return "/" + "/".join([self.device, str(self.partition), *(quote(name, safe="") for name in names)])

    def as_json(self) -> list[object]:
        return [self.host, self.device, self.partition]

    @classmethod
    def from_json(cls, value: list[object]) -> Replica:
        host, device, partition = value
        assert isinstance(host, str) and isinstance(device, str) and isinstance(partition, int)
        return cls(host, device, partition)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def split_host(host: str) -> tuple[IPAddress, int] | None:
    """(ip, port) of `ip:port`, or of `[ipv6]:port` (IPv6 only in brackets, as the rings write
    it: ring/devices.py); None if `host` is neither."""
    address, colon, port_text = host.rpartition(":")
    if not colon or _PORT.fullmatch(port_text) is None or int(port_text) > 65_535:
        return None
    bracketed = address.startswith("[") and address.endswith("]")
    try:
        ip = ipaddress.ip_address(address[1:-1] if bracketed else address)
    except ValueError:
        return None
    if bracketed != (ip.version == 6):
        return None
    return ip, int(port_text)


def parse_replica(headers: Mapping[str, str], prefix: str) -> Replica | None:
    """The replica named by `<prefix>Host`, `-Device`, `-Partition`: all three or none (BadRequest)."""
    host = headers.get(prefix + "Host")
    device = headers.get(prefix + "Device")
    partition = headers.get(prefix + "Partition")
    if host is None and device is None and partition is None:
        return None
    if host is None or device is None or partition is None:
        raise BadRequest(f"{prefix}Host, -Device and -Partition go together")
    return _replica(prefix, host, device, partition)


# A cluster has few nodes, so a node's writes name few replicas: each is parsed once (an
# address alone costs ~10 µs). A malformed one raises, and is not remembered.
@functools.lru_cache(maxsize=4096)
def _replica(prefix: str, host: str, device: str, partition: str) -> Replica:
    if split_host(host) is None:
        raise BadRequest(f"{prefix}Host must be ip:port")
    if not DEVICE_NAME.fullmatch(device):
        raise BadRequest(f"{prefix}Device is not a device name")
    if not is_partition(partition):
        raise BadRequest(f"{prefix}Partition must be a decimal 0..{PARTITION_MAX}")
    return Replica(host, device, int(partition))


@value_class
class PendingUpdate:
    """One object write that its container replica has not acknowledged yet."""

    replica: Replica
    account: str
    container: str
    obj: str
    timestamp: Timestamp
    deleted: bool
    size: int = 0
    etag: str = ""
    content_type: str = ""
    attempts: int = 0
    next_attempt_s: float = 0.0

    def failed(self, *, now_s: float, base_s: float, max_s: float) -> PendingUpdate:
        """This update after one more failed try: due again after the back-off."""
        attempts = self.attempts + 1
        return replace(self, attempts=attempts, next_attempt_s=now_s + backoff_s(attempts, base_s, max_s))


# Footer metadata items that make the container entry show other values than the stored body's
# (a large object's manifest lists as the whole object: its total size and its own ETag).
LISTING_SIZE_OVERRIDE = "X-Object-Sysmeta-Container-Update-Override-Size"
LISTING_ETAG_OVERRIDE = "X-Object-Sysmeta-Container-Update-Override-Etag"


def listed_size_and_etag(record: ObjectRecord) -> tuple[int, str]:
    """What the container entry of `record` shows: its length and ETag, or the footer's overrides
    (a size that is not a decimal in range, or an empty or overlong ETag, is ignored)."""
    size, etag = record.content_length, record.etag
    if not record.extra:  # (most records)
        return size, etag
    size_text = record.extra.get(LISTING_SIZE_OVERRIDE, "")
    if size_text.isascii() and size_text.isdecimal() and int(size_text) < 2**63:
        size = int(size_text)
    etag_text = record.extra.get(LISTING_ETAG_OVERRIDE, "")
    if 0 < len(etag_text) <= ETAG_BYTES_MAX and '"' not in etag_text:
        etag = etag_text
    return size, etag


def update_for(
    replica: Replica, account: str, container: str, obj: str, record: ObjectRecord, *, due_s: float
) -> PendingUpdate:
    """The container update an object record calls for; the updater takes it over from `due_s`
    (after the request path had its try)."""
    size, etag = listed_size_and_etag(record)
    return PendingUpdate(
        replica,
        account,
        container,
        obj,
        record.timestamp,
        record.tombstone,
        size,
        etag,
        record.content_type,
        next_attempt_s=due_s,
    )


class QueuedUpdate(NamedTuple):
    """A pending update as it stands in the queue: its object key, the update, and its stored
    encoding. A settle compares the stored bytes with `value`, so that an update replaced
    since (a newer write of the object, or a retry) is told apart without decoding it."""

    key: bytes
    update: PendingUpdate
    value: bytes


class JournaledUpdate(NamedTuple):
    """A request path's update as its commit wrote it: in the journal record under
    `record_key` (pending_batches), at `position` there."""

    record_key: bytes
    position: int
    update: PendingUpdate


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Seconds to wait after `attempts` failed tries: doubling from `base_s`, at most `max_s`."""
    assert attempts >= 1 and 0 < base_s <= max_s
    return min(base_s * 2 ** min(attempts - 1, 62), max_s)


def due_key(due_s: float, key: bytes) -> bytes:
    """The `pending_due` index key of a pending update due at `due_s` for object `key`: the due
    time in microseconds (8 bytes, big-endian, so that keys sort by it), then the object key."""
    return _DUE.pack(due_micros(due_s)) + key


def due_micros(due_s: float) -> int:
    """A due time as the index orders it: whole microseconds, within 8 unsigned bytes."""
    return min(max(0, round(due_s * 1e6)), 2**64 - 1)


def split_due_key(index_key: bytes) -> tuple[int, bytes]:
    """(due time in microseconds, object key) of a `pending_due` index key."""
    return _DUE.unpack_from(index_key)[0], index_key[_DUE.size :]


_DUE = struct.Struct(">Q")


def encode_pending(update: PendingUpdate) -> bytes:
    return orjson.dumps(pending_fields(update))


def pending_fields(update: PendingUpdate) -> list[object]:
    """An update as the JSON array its encodings store (`encode_pending`, `encode_journal`)."""
    return [
        update.replica.as_json(),
        update.account,
        update.container,
        update.obj,
        update.timestamp.internal,
        update.deleted,
        update.size,
        update.etag,
        update.content_type,
        update.attempts,
        update.next_attempt_s,
    ]


def pending_due_s(value: bytes) -> float:
    """The due time of an encoded pending update, without decoding the rest: where its index
    entry is."""
    due_s = orjson.loads(value)[10]
    assert isinstance(due_s, (int, float))
    return float(due_s)


def decode_pending(value: bytes) -> PendingUpdate:
    return _from_fields(orjson.loads(value))


def _from_fields(fields: list[Any]) -> PendingUpdate:
    replica, account, container, obj, timestamp, deleted, size, etag, content_type, attempts, due = fields
    return PendingUpdate(
        Replica.from_json(replica),
        account,
        container,
        obj,
        Timestamp.parse(timestamp),
        deleted,
        size,
        etag,
        content_type,
        attempts,
        due,
    )


def journal_key(due_s: float, txn_id: int) -> bytes:
    """The `pending_batches` key of the journal record that LMDB write transaction `txn_id`
    (unique among committed ones) writes for updates due at `due_s`: keys sort by due time."""
    return _JOURNAL_KEY.pack(due_micros(due_s), txn_id)


def journal_due_micros(record_key: bytes) -> int:
    """When the updates of the journal record under `record_key` are due (microseconds)."""
    due_us: int = _JOURNAL_KEY.unpack(record_key)[0]
    return due_us


_JOURNAL_KEY = struct.Struct(">QQ")


def encode_journal(updates: list[tuple[bytes, PendingUpdate]]) -> bytes:
    """One commit's updates for the request path's tries, with their object keys: one JSON
    array of `[object key in hex, *pending_fields]`, in the order of their positions."""
    rows = [[key.hex(), *pending_fields(update)] for key, update in updates]
    return orjson.dumps(rows)


def journal_size(value: bytes) -> int:
    """How many updates a journal record holds, without decoding them."""
    return len(orjson.loads(value))


def decode_journal(value: bytes) -> list[tuple[bytes, PendingUpdate]]:
    """The (object key, update) pairs of a journal record, in the order of their positions."""
    return [(bytes.fromhex(row[0]), _from_fields(row[1:])) for row in orjson.loads(value)]
