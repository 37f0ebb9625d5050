"""Listing bodies rendered straight from stored entries: what they decode to (pure)."""

from __future__ import annotations

import json
import time
from xml.etree import ElementTree

from dolmen.storage_node.containers import CONTAINER
from dolmen.storage_node.entries import ObjectEntry, encode_entry
from dolmen.storage_node.listing_formats import render
from dolmen.storage_node.listings import Row, Subdir
from dolmen.storage_node.timestamps import TICKS_PER_S, Timestamp, internal_text
from hypothesis import given
from hypothesis import strategies as st

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # any UTF-8 text
names = texts.filter(lambda name: name and "\0" not in name)
timestamps = st.builds(Timestamp, st.integers(0, 10**15 - 1), st.integers(0, 2**64 - 1))
entries = st.builds(ObjectEntry, names, timestamps, st.booleans(), st.integers(0, 2**40), texts, texts)


def last_modified(timestamp: Timestamp) -> str:
    seconds, fraction = divmod(timestamp.ticks, TICKS_PER_S)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction * 10:06d}"


@given(timestamps)
def test_the_internal_text_is_the_timestamps_and_parses_back(timestamp):
    text = internal_text(timestamp.ticks, timestamp.offset)
    assert text == timestamp.internal and Timestamp.parse(text) == timestamp


@given(st.lists(entries, max_size=8), st.booleans(), st.sampled_from(['d"ir/', "dir/"]))
def test_json_listings_decode_to_their_entries(listed, internal, subdir):
    rows: list[Row[bytes] | Subdir] = [
        (entry.name.encode("utf-8"), encode_entry(entry, hashed_key=False)) for entry in listed
    ]
    body = render([*rows, Subdir(subdir.encode())], "json", internal=internal, role=CONTAINER, name="c")
    expected = []
    for entry in listed:
        if entry.deleted:  # (public listings leave tombstones out before they are rendered)
            expected.append({"name": entry.name, "timestamp": entry.timestamp.internal, "deleted": True})
            continue
        item = {
            "name": entry.name,
            "bytes": entry.size,
            "hash": entry.etag,
            "content_type": entry.content_type,
            "last_modified": last_modified(entry.timestamp),
        }
        if internal:
            item["timestamp"] = entry.timestamp.internal
        expected.append(item)
    assert json.loads(body) == [*expected, {"subdir": subdir}]


def test_xml_and_plain_listings_name_every_entry():
    entry = ObjectEntry('a<b>&"c', Timestamp.from_seconds(1_700_000_000.5), False, 5, "e", "text/plain")
    rows = [(entry.name.encode("utf-8"), encode_entry(entry, hashed_key=False)), Subdir(b"d/")]
    document = ElementTree.fromstring(render(rows, "xml", internal=False, role=CONTAINER, name="c&"))
    assert document.get("name") == "c&"
    assert document.find("object/name").text == entry.name
    assert document.find("object/last_modified").text == "2023-11-14T22:13:20.500000"
    assert document.find("subdir").get("name") == "d/"
    assert render(rows, "plain", internal=False, role=CONTAINER, name="c") == b'a<b>&"c\nd/\n'


def test_a_public_json_listing_of_names_without_escapes_takes_the_stored_members():
    live = ObjectEntry("a/b é", Timestamp(1_700_000_000_00000), False, 7, "etag", "text/plain")
    hashed = ObjectEntry("l" * 600, Timestamp(1_700_000_000_00001), False, 0, "e2", "a/b")
    gone = ObjectEntry("c", Timestamp(5), True)
    rows: list[Row[bytes] | Subdir] = [
        (entry.name.encode("utf-8"), encode_entry(entry, hashed_key=entry is hashed))
        for entry in (live, hashed, gone)
    ]
    body = render([*rows, Subdir(b"d/")], "json", internal=False, role=CONTAINER, name="c")
    assert json.loads(body) == [
        {
            "name": live.name,
            "bytes": 7,
            "hash": "etag",
            "content_type": "text/plain",
            "last_modified": "2023-11-14T22:13:20.000000",
        },
        {
            "name": hashed.name,
            "bytes": 0,
            "hash": "e2",
            "content_type": "a/b",
            "last_modified": "2023-11-14T22:13:20.000010",
        },
        {"name": "c", "timestamp": gone.timestamp.internal, "deleted": True},
        {"subdir": "d/"},
    ]
