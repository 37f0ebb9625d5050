"""Object entries as containers store them (pure): what goes in comes out, in both layouts."""

from __future__ import annotations

import json
import struct

from dolmen.storage_node.entries import (
    ObjectEntry,
    decode_entry,
    encode_entry,
    entry_fields,
    entry_full_name,
    entry_is_live,
    entry_listed,
    entry_timestamp,
)
from dolmen.storage_node.timestamps import Timestamp, iso_8601
from hypothesis import given
from hypothesis import strategies as st

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
names = texts.filter(lambda name: name and "\0" not in name)
timestamps = st.builds(Timestamp, st.integers(0, 10**15 - 1), st.integers(0, 2**64 - 1))
entries = st.builds(ObjectEntry, names, timestamps, st.booleans(), st.integers(0, 2**40), texts, texts)


def old_layout(entry: ObjectEntry, *, hashed_key: bool) -> bytes:
    """An entry as builds before the listed members stored it (still on disks)."""
    etag, content_type = entry.etag.encode("utf-8"), entry.content_type.encode("utf-8")
    flags = (1 if entry.deleted else 0) | (2 if hashed_key else 0)
    head = struct.pack(">16sBQHH", entry.timestamp.packed, flags, entry.size, len(etag), len(content_type))
    return head + etag + content_type + (entry.name.encode("utf-8") if hashed_key else b"")


@given(entries, st.booleans(), st.booleans())
def test_an_entry_reads_back_whole_in_either_layout(entry, hashed_key, old):
    value = (old_layout if old else encode_entry)(entry, hashed_key=hashed_key)
    name = entry.name.encode("utf-8")
    part = b"digest-key-part" if hashed_key else name
    assert entry_full_name(part, value) == name
    assert decode_entry(name, value) == entry
    assert entry_is_live(value) is not entry.deleted
    assert entry_timestamp(value) == (entry.timestamp.ticks, entry.timestamp.offset)
    ticks, offset, deleted, size, etag, content_type = entry_fields(value)
    assert (ticks, offset, deleted, size, etag, content_type) == (
        entry.timestamp.ticks,
        entry.timestamp.offset,
        entry.deleted,
        entry.size,
        entry.etag,
        entry.content_type,
    )


@given(entries.filter(lambda entry: not entry.deleted), st.booleans())
def test_the_listed_members_are_the_entrys_json_fields_in_either_layout(entry, old):
    value = (old_layout if old else encode_entry)(entry, hashed_key=False)
    assert json.loads(b"{" + entry_listed(value) + b"}") == {
        "bytes": entry.size,
        "hash": entry.etag,
        "content_type": entry.content_type,
        "last_modified": iso_8601(entry.timestamp.ticks),
    }


def test_a_tombstone_stores_no_listed_members():
    tombstone = ObjectEntry("gone", Timestamp(5), True, 0, "e", "text/plain")
    assert entry_listed(encode_entry(tombstone, hashed_key=False)) == b""
    assert iso_8601(1_700_000_000_50000) == "2023-11-14T22:13:20.500000"
