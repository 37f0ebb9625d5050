"""The object record stored under each object key, and its compact versioned serialization.

One record per object key: the newest write (PUT, POST or DELETE) wins. A record is either
a tombstone or describes a body held inline (in the record) or in a file under the device.

Serialization (format version 1), all integers big-endian:

    version           1 byte  = 1
    flags             1 byte  bit 0 tombstone, bit 1 inline body, bit 2 has delete_at,
                              bit 3 full name present (hashed key)
    timestamp         16 bytes (Timestamp.packed) of this record (PUT, POST or DELETE)
    data_timestamp    16 bytes of the PUT that wrote the body (equals timestamp unless POSTed)
    content_length    8 bytes
    body_xxh3         8 bytes
    delete_at         8 bytes (seconds since the epoch; 0 when absent)
    block count N     4 bytes, then N x 8 bytes of block xxh3s
    6 strings         each a 4-byte length then UTF-8 bytes: content_type, etag, body_file, name,
                      metadata (compact JSON object, sorted keys), extra (same)
    inline body       the rest of the value (empty unless the inline flag is set)

Unknown versions are refused (assertion: a store never opens a newer format, see the device stamp).
The block list grows 8 bytes per 64 KiB (1/8192 of the body); a 5 GiB body carries 640 KiB of it.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from dataclasses import field

from dolmen.storage_node.checksums import block_count
from dolmen.storage_node.errors import InvalidMetadata
from dolmen.storage_node.timestamps import Timestamp

from dolmen.limits import (
    METADATA_COUNT_MAX,
    METADATA_NAME_BYTES_MAX,
    METADATA_TOTAL_BYTES_MAX,
    METADATA_VALUE_BYTES_MAX,
)
from dolmen.values import value_class

RECORD_FORMAT_VERSION = 1
EXTRA_TOTAL_BYTES_MAX = 8192  # footer metadata (S3 checksums, encryption parameters)
CONTENT_TYPE_BYTES_MAX = 256

_FLAG_TOMBSTONE = 1
_FLAG_INLINE = 2
_FLAG_DELETE_AT = 4
_FLAG_NAME = 8
_HEADER = struct.Struct(">BB16s16sQQQI")
_LENGTH = struct.Struct(">I")


@value_class
class ObjectRecord:
    """What the store knows about one object name.

    `inline_body` is set for bodies stored in the record; `body_file` (relative to the device
    directory) for bodies in files; neither for tombstones and empty bodies stored inline as b"".
    `name` is the full object name, kept only for names too long to fit in the key.
    `key` is the LMDB key the record was read from or written to (not serialized).
    """

    timestamp: Timestamp
    data_timestamp: Timestamp
    tombstone: bool = False
    content_type: str = ""
    content_length: int = 0
    etag: str = ""
    body_xxh3: int = 0
    block_xxh3s: tuple[int, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    delete_at: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    inline_body: bytes | None = None
    body_file: str | None = None
    name: str | None = None
    key: bytes = field(default=b"", compare=False)

    def __post_init__(self) -> None:
        if self.tombstone:
            assert self.inline_body is None and self.body_file is None, "a tombstone has no body"
        else:
            assert (self.inline_body is None) != (self.body_file is None), "a body is inline xor in a file"
            assert len(self.block_xxh3s) == block_count(self.content_length)
            if self.inline_body is not None:
                assert len(self.inline_body) == self.content_length

    def is_expired(self, now_s: float) -> bool:
        """Whether X-Delete-At has passed (an expired object reads as not found)."""
        return self.delete_at is not None and self.delete_at <= now_s

    def is_live(self, now_s: float) -> bool:
        """Whether this is an object that reads as found: neither a tombstone nor expired."""
        return not self.tombstone and not self.is_expired(now_s)

    def same_content(self, other: ObjectRecord) -> bool:
        """Whether `other` is the same write (an idempotent retry): all but where the body lives."""
        return (
            self.timestamp == other.timestamp
            and self.data_timestamp == other.data_timestamp
            and self.tombstone == other.tombstone
            and self.content_type == other.content_type
            and self.content_length == other.content_length
            and self.etag == other.etag
            and self.body_xxh3 == other.body_xxh3
            and self.metadata == other.metadata
            and self.delete_at == other.delete_at
            and self.extra == other.extra
        )

    def replace(self, **changes: object) -> ObjectRecord:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """`metadata` if within Swift's default limits (dolmen.limits); InvalidMetadata otherwise.

    Names are the part after `X-Object-Meta-`, compared as given (the server lower-cases them).
    """
    if len(metadata) > METADATA_COUNT_MAX:
        raise InvalidMetadata(f"{len(metadata)} metadata items; at most {METADATA_COUNT_MAX}")
    total = 0
    for name, value in metadata.items():
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            raise InvalidMetadata("metadata names and values must be strings; names non-empty")
        name_bytes, value_bytes = _utf8(name), _utf8(value)
        if len(name_bytes) > METADATA_NAME_BYTES_MAX:
            raise InvalidMetadata(f"metadata name over {METADATA_NAME_BYTES_MAX} bytes")
        if len(value_bytes) > METADATA_VALUE_BYTES_MAX:
            raise InvalidMetadata(f"metadata value over {METADATA_VALUE_BYTES_MAX} bytes")
        total += len(name_bytes) + len(value_bytes)
    if total > METADATA_TOTAL_BYTES_MAX:
        raise InvalidMetadata(f"metadata totals {total} bytes; at most {METADATA_TOTAL_BYTES_MAX}")
    return metadata


def check_extra(extra: dict[str, str]) -> dict[str, str]:
    """Footer metadata: string to string, at most EXTRA_TOTAL_BYTES_MAX bytes in all."""
    total = 0
    for name, value in extra.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidMetadata("extra metadata names and values must be strings")
        total += len(_utf8(name)) + len(_utf8(value))
    if total > EXTRA_TOTAL_BYTES_MAX:
        raise InvalidMetadata(f"extra metadata totals {total} bytes; at most {EXTRA_TOTAL_BYTES_MAX}")
    return extra


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMetadata("metadata is not valid Unicode") from None


def _json(mapping: dict[str, str]) -> bytes:
    if not mapping:
        return b"{}"  # most records: 2 us of json.dumps saved per encoding
    return json.dumps(mapping, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def _mapping(text: str) -> dict[str, str]:
    return {} if text == "{}" else json.loads(text)


def encode_record(record: ObjectRecord) -> bytes:
    """The bytes stored as the LMDB value of `record`."""
    flags = (
        (_FLAG_TOMBSTONE if record.tombstone else 0)
        | (_FLAG_INLINE if record.inline_body is not None else 0)
        | (_FLAG_DELETE_AT if record.delete_at is not None else 0)
        | (_FLAG_NAME if record.name is not None else 0)
    )
    parts = [
        _HEADER.pack(
            RECORD_FORMAT_VERSION,
            flags,
            record.timestamp.packed,
            record.data_timestamp.packed,
            record.content_length,
            record.body_xxh3,
            record.delete_at or 0,
            len(record.block_xxh3s),
        ),
        struct.pack(f">{len(record.block_xxh3s)}Q", *record.block_xxh3s),
    ]
    for text in (
        record.content_type.encode("utf-8"),
        record.etag.encode("utf-8"),
        (record.body_file or "").encode("utf-8"),
        (record.name or "").encode("utf-8"),
        _json(record.metadata),
        _json(record.extra),
    ):
        parts.append(_LENGTH.pack(len(text)))
        parts.append(text)
    if record.inline_body is not None:
        parts.append(record.inline_body)
    return b"".join(parts)


def decode_record(value: bytes, *, key: bytes = b"") -> ObjectRecord:
    """Inverse of `encode_record`."""
    version, flags, timestamp, data_timestamp, length, body_xxh3, delete_at, blocks = _HEADER.unpack_from(
        value
    )
    assert version == RECORD_FORMAT_VERSION, f"record format {version} is not supported"
    offset = _HEADER.size
    block_xxh3s = struct.unpack_from(f">{blocks}Q", value, offset)
    offset += 8 * blocks
    texts = []
    for _ in range(6):
        (size,) = _LENGTH.unpack_from(value, offset)
        offset += _LENGTH.size
        texts.append(value[offset : offset + size].decode("utf-8"))
        offset += size
    content_type, etag, body_file, name, metadata, extra = texts
    return ObjectRecord(
        timestamp=Timestamp.unpack(timestamp),
        data_timestamp=Timestamp.unpack(data_timestamp),
        tombstone=bool(flags & _FLAG_TOMBSTONE),
        content_type=content_type,
        content_length=length,
        etag=etag,
        body_xxh3=body_xxh3,
        block_xxh3s=tuple(block_xxh3s),
        metadata=_mapping(metadata),
        delete_at=delete_at if flags & _FLAG_DELETE_AT else None,
        extra=_mapping(extra),
        inline_body=bytes(value[offset:]) if flags & _FLAG_INLINE else None,
        body_file=body_file or None,
        name=name if flags & _FLAG_NAME else None,
        key=key,
    )


def inline_body_offset(value: bytes) -> int:
    """Where the inline body starts in a serialized record (tests use it to corrupt a body)."""
    (blocks,) = struct.unpack_from(">I", value, _HEADER.size - 4)
    offset = _HEADER.size + 8 * blocks
    for _ in range(6):
        (size,) = _LENGTH.unpack_from(value, offset)
        offset += _LENGTH.size + size
    return offset
