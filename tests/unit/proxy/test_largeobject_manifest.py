"""The large-object manifest: stored form, SLO ETag, and the range arithmetic the reader relies on."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import pytest
from dolmen.proxy.errors import ManifestInvalid
from dolmen.proxy.largeobjects import (
    Segment,
    is_large_object,
    manifest_body,
    parse_manifest,
    pieces,
    slo_etag,
    total_length,
)
from hypothesis import given
from hypothesis import strategies as st

names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=12
)
etags = st.text("0123456789abcdef", min_size=32, max_size=32)


@st.composite
def segments(draw: st.DrawFn) -> Segment:
    size = draw(st.integers(1, 50))
    byte_range = None
    length = size
    if draw(st.booleans()):
        first = draw(st.integers(0, size - 1))
        last = draw(st.integers(first, size - 1))
        byte_range, length = (first, last), last - first + 1
    obj = draw(names) + draw(st.sampled_from(["", "/sub/part"]))
    return Segment(draw(names), obj, draw(etags), length, byte_range, draw(st.booleans()), "text/plain", "")


@given(st.lists(segments(), max_size=8))
def test_the_stored_form_reads_back_unchanged(entries):
    assert parse_manifest(manifest_body(entries)) == entries


def test_the_stored_form_is_swifts_entry_format():
    segment = Segment("c", "o/1", "a" * 32, 5, (2, 6), sub_slo=True, content_type="x/y", last_modified="t")
    (entry,) = json.loads(manifest_body([segment]))
    assert entry == {
        "name": "/c/o/1",
        "hash": "a" * 32,
        "bytes": 5,
        "content_type": "x/y",
        "last_modified": "t",
        "range": "2-6",
        "sub_slo": True,
    }


def test_the_slo_etag_follows_swifts_rule():
    plain = Segment("c", "a", "1" * 32, 10, None)
    ranged = Segment("c", "b", "2" * 32, 3, (4, 6))
    expected = hashlib.md5(("1" * 32 + "2" * 32 + ":4-6;").encode()).hexdigest()
    assert slo_etag([plain, ranged]) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b"[1]",
        b'[{"name": "/c/o", "hash": "x"}]',
        b'[{"name": "/c/o", "hash": "x", "bytes": -1}]',
        b'[{"name": "/c/o", "hash": "x", "bytes": true}]',
        b'[{"name": "nocontainer", "hash": "x", "bytes": 1}]',
        b'[{"name": "/c/o", "hash": "x", "bytes": 2, "range": "0-2"}]',
        b'[{"name": "/c/o", "hash": "x", "bytes": 2, "range": "3-2"}]',
        b'[{"name": "/c/o", "hash": "x", "bytes": 1, "sub_slo": "yes"}]',
        b"\xff",
    ],
)
def test_what_is_not_a_manifest_is_refused(body):
    with pytest.raises(ManifestInvalid):
        parse_manifest(body)


def test_a_manifest_object_is_told_by_its_item():
    assert is_large_object(SimpleNamespace(metadata={"dolmen-sys-slo": "e"}))
    assert not is_large_object(SimpleNamespace(metadata={"color": "red"}))


def _bytes_of(entries: list[Segment]) -> bytes:
    """A naive oracle of the large object: byte k of segment i's object is (7i + k) mod 251."""
    out = bytearray()
    for index, segment in enumerate(entries):
        first = segment.range[0] if segment.range else 0
        out += bytes((index * 7 + first + offset) % 251 for offset in range(segment.length))
    return bytes(out)


@given(st.lists(segments(), max_size=8), st.data())
def test_pieces_select_exactly_the_requested_bytes(entries, data):
    total = total_length(entries)
    start = data.draw(st.integers(0, total))
    stop = data.draw(st.integers(start, total))
    got = bytearray()
    for segment, first, stop_in_segment in pieces(entries, start, stop):
        assert first < stop_in_segment
        if segment.range is not None:
            assert segment.range[0] <= first and stop_in_segment <= segment.range[1] + 1
        else:
            assert stop_in_segment <= segment.length
        index = next(i for i, s in enumerate(entries) if s is segment)
        got += bytes((index * 7 + offset) % 251 for offset in range(first, stop_in_segment))
    assert bytes(got) == _bytes_of(entries)[start:stop]
