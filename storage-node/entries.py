"""Object entries as a container stores them: a binary head, then text. Pure.

    head      >16sBQHHH: timestamp (packed), flags, size, etag length, content type length,
              listed length (big-endian; 31 bytes)
    listed    the entry's members of a JSON listing, ready to send:
              `"bytes":4096,"hash":"...","content_type":"...","last_modified":"..."`
              (empty for a tombstone)
    etag      UTF-8
    type      the content type, UTF-8
    name      the full object name, UTF-8, only under a hashed key (flag NAME; keycodec.py)

A listing is the hot read path of a container: with the listed members stored right after the
head, a JSON listing of 1,000 entries is mostly their concatenation (a fraction of a millisecond)
instead of 1,000 renderings (1.8 ms). Entries cost about 110 bytes more; they are written once
per object change, and the rendering moves there. Entries stored before the listed members
were (flag LISTED clear, a head without the listed length) are still read: their members are
rendered when listed.
"""

from __future__ import annotations

import struct
from json.encoder import encode_basestring
from typing import NamedTuple

from dolmen.storage_node.timestamps import Timestamp, iso_8601

_HEAD = struct.Struct(">16sBQHHH")
_HEAD_FIELDS = struct.Struct(">QQBQHHH")  # the same, with the timestamp as ticks and offset
_OLD_HEAD = struct.Struct(">16sBQHH")  # entries stored before the listed members
_OLD_HEAD_FIELDS = struct.Struct(">QQBQHH")
_TIMESTAMP = struct.Struct(">QQ")  # the packed timestamp at the start of every head
assert _HEAD.size == _HEAD_FIELDS.size == 31 and _OLD_HEAD.size == _OLD_HEAD_FIELDS.size == 29
FLAGS_OFFSET = 16
LISTED_AT = _HEAD.size  # where the listed members start; their length is the head's last field
DELETED = 1
NAME = 2
LISTED = 4


class ObjectEntry(NamedTuple):
    """An object as its container lists it; `deleted` entries are tombstones."""

    name: str
    timestamp: Timestamp
    deleted: bool
    size: int = 0
    etag: str = ""
    content_type: str = ""


def listed_members(size: int, etag: str, content_type: str, ticks: int) -> bytes:
    """A live entry's members of a JSON listing (Swift's fields, without the name)."""
    return (
        f'"bytes":{size},"hash":{encode_basestring(etag)},'
        f'"content_type":{encode_basestring(content_type)},"last_modified":"{iso_8601(ticks)}"'
    ).encode()


def encode_entry(entry: ObjectEntry, *, hashed_key: bool) -> bytes:
    etag, content_type = entry.etag.encode("utf-8"), entry.content_type.encode("utf-8")
    listed = (
        b""
        if entry.deleted
        else listed_members(entry.size, entry.etag, entry.content_type, entry.timestamp.ticks)
    )
    flags = LISTED | (DELETED if entry.deleted else 0) | (NAME if hashed_key else 0)
    head = _HEAD.pack(entry.timestamp.packed, flags, entry.size, len(etag), len(content_type), len(listed))
    return head + listed + etag + content_type + (entry.name.encode("utf-8") if hashed_key else b"")


def decode_entry(name: bytes, value: bytes) -> ObjectEntry:
    """The entry stored as `value`; `name` is its full name (as in_name_order yields it)."""
    ticks, offset, deleted, size, etag, content_type = entry_fields(value)
    return ObjectEntry(name.decode("utf-8"), Timestamp(ticks, offset), deleted, size, etag, content_type)


def _texts(value: bytes) -> tuple[int, int, int, int, int, int]:
    """(ticks, offset, flags, size, where the etag starts, where the content type starts) and,
    implied, the content type's end: the shape of the entry's layout."""
    if value[FLAGS_OFFSET] & LISTED:
        ticks, offset, flags, size, etag_bytes, _type_bytes, listed_bytes = _HEAD_FIELDS.unpack_from(value)
        etag_at = LISTED_AT + listed_bytes
    else:
        ticks, offset, flags, size, etag_bytes, _type_bytes = _OLD_HEAD_FIELDS.unpack_from(value)
        etag_at = _OLD_HEAD.size
    return ticks, offset, flags, size, etag_at, etag_at + etag_bytes


def _type_bytes(value: bytes) -> int:
    return int.from_bytes(value[27:29], "big")  # the content type length: at 27 in both heads


def entry_fields(value: bytes) -> tuple[int, int, bool, int, str, str]:
    """(timestamp ticks, timestamp offset, deleted, size, etag, content type) of a stored entry."""
    ticks, offset, flags, size, etag_at, type_at = _texts(value)
    etag = value[etag_at:type_at].decode("utf-8")
    content_type = value[type_at : type_at + _type_bytes(value)].decode("utf-8")
    return ticks, offset, bool(flags & DELETED), size, etag, content_type


def entry_listed(value: bytes) -> bytes:
    """The members of a live entry in a JSON listing (stored; rendered for older entries)."""
    if value[FLAGS_OFFSET] & LISTED:
        # The listed length is the head's last field (big-endian): read it without a call.
        return value[LISTED_AT : LISTED_AT + (value[LISTED_AT - 2] << 8 | value[LISTED_AT - 1])]
    ticks, _offset, _deleted, size, etag, content_type = entry_fields(value)
    return listed_members(size, etag, content_type, ticks)


def entry_timestamp(value: bytes) -> tuple[int, int]:
    """(ticks, offset) of a stored entry's timestamp."""
    ticks, offset = _TIMESTAMP.unpack_from(value)
    return ticks, offset


def entry_is_live(value: bytes) -> bool:
    return not value[FLAGS_OFFSET] & DELETED


def entry_full_name(part: bytes, value: bytes) -> bytes:
    """The full name of the entry under key name part `part` (hashed keys keep it in the value)."""
    if not value[FLAGS_OFFSET] & NAME:
        return part
    _ticks, _offset, _flags, _size, _etag_at, type_at = _texts(value)
    return bytes(value[type_at + _type_bytes(value) :])
