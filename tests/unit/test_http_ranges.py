"""Range parsing and multipart framing: what is served, what is ignored, what is 416."""

from __future__ import annotations

import pytest
from dolmen.storage_node.http_ranges import (
    PART_SEPARATOR,
    ByteRange,
    RangeNotSatisfiable,
    multipart_length,
    multipart_part_head,
    multipart_tail,
    parse_range,
)
from hypothesis import given
from hypothesis import strategies as st

from dolmen.limits import BYTE_RANGES_MAX


@pytest.mark.parametrize(
    "header,length,expected",
    [
        ("bytes=0-0", 10, [(0, 1)]),
        ("bytes=2-5", 10, [(2, 6)]),
        ("bytes=5-", 10, [(5, 10)]),
        ("bytes=-3", 10, [(7, 10)]),
        ("bytes=-30", 10, [(0, 10)]),
        ("bytes=8-100", 10, [(8, 10)]),
        ("bytes=0-1, 4-5 ,-1", 10, [(0, 2), (4, 6), (9, 10)]),
        ("bytes=20-30,1-2", 10, [(1, 3)]),
        ("BYTES=1-2", 10, [(1, 3)]),
    ],
)
def test_satisfiable_ranges(header, length, expected):
    assert parse_range(header, length) == [ByteRange(start, stop) for start, stop in expected]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "bytes",
        "items=0-1",
        "bytes=",
        "bytes=-",
        "bytes=5-2",
        "bytes=a-b",
        "bytes=1-2,x",
        "bytes=+1-2",
        "bytes=1",
    ],
)
def test_malformed_headers_are_ignored(header):
    assert parse_range(header, 10) is None


def test_too_many_ranges_are_ignored():
    header = "bytes=" + ",".join(["0-0"] * (BYTE_RANGES_MAX + 1))
    assert parse_range(header, 10) is None
    assert len(parse_range("bytes=" + ",".join(["0-0"] * BYTE_RANGES_MAX), 10)) == BYTE_RANGES_MAX


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0", "bytes=11-12,-0"])
def test_ranges_beyond_the_end_are_not_satisfiable(header):
    with pytest.raises(RangeNotSatisfiable) as raised:
        parse_range(header, 10)
    assert raised.value.length == 10


def test_an_empty_body_ignores_ranges():
    assert parse_range("bytes=0-0", 0) is None


@given(length=st.integers(1, 10_000), first=st.integers(0, 20_000), size=st.integers(0, 20_000))
def test_every_satisfiable_range_lies_inside_the_body(length, first, size):
    try:
        ranges = parse_range(f"bytes={first}-{first + size}", length)
    except RangeNotSatisfiable:
        assert first >= length
        return
    (byte_range,) = ranges
    assert 0 <= byte_range.start < byte_range.stop <= length
    assert byte_range.start == first


def test_multipart_length_is_exact():
    ranges = [ByteRange(0, 2), ByteRange(5, 9)]
    body = b"0123456789"
    parts = []
    for index, byte_range in enumerate(ranges):
        if index:
            parts.append(PART_SEPARATOR)
        parts.append(multipart_part_head("b0undary", "text/plain", byte_range, len(body)))
        parts.append(body[byte_range.start : byte_range.stop])
    parts.append(multipart_tail("b0undary"))
    whole = b"".join(parts)
    assert len(whole) == multipart_length("b0undary", "text/plain", ranges, len(body))
    assert b"Content-Range: bytes 5-8/10\r\n\r\n5678\r\n--b0undary--\r\n" in whole
