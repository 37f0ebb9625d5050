"""Timestamps, checksums and record serialization: pure round trips."""

from __future__ import annotations

import pytest
import xxhash
from dolmen.storage_node.checksums import (
    BLOCK_BYTES,
    BodyHasher,
    block_checksums,
    body_checksums,
    covering_blocks,
    verify_blocks,
)
from dolmen.storage_node.errors import InvalidMetadata, InvalidTimestamp
from dolmen.storage_node.records import ObjectRecord, check_metadata, decode_record, encode_record
from dolmen.storage_node.timestamps import Timestamp
from hypothesis import given
from hypothesis import strategies as st

timestamps = st.builds(Timestamp, st.integers(0, 10**15 - 1), st.integers(0, 2**64 - 1))


@given(first=timestamps, second=timestamps)
def test_timestamps_round_trip_and_order_as_text_and_bytes(first, second):
    assert Timestamp.parse(first.internal) == first
    assert Timestamp.unpack(first.packed) == first
    assert (first < second) == (first.packed < second.packed)
    if first.offset == 0 and second.offset == 0:
        assert (first < second) == (first.internal < second.internal)


def test_short_forms_parse_and_junk_does_not():
    assert Timestamp.parse("1700000000.1").normal == "1700000000.10000"
    assert Timestamp.parse("1700000000").internal == "1700000000.00000"
    assert Timestamp.parse("1700000000.12345_000000000000000a").offset == 10
    junk_of_canonical_length = [
        "1700000000 12345",
        "170000000.123456",
        "+700000000.12345",
        "17000000٠٠.12345",
    ]
    for junk in ["", "-1", "1e9", " 1", "1700000000.123456", "1.2.3", "17000000000.0", "1_abc", "١٢"] + (
        junk_of_canonical_length
    ):
        with pytest.raises(InvalidTimestamp):
            Timestamp.parse(junk)


@given(
    body=st.binary(max_size=3 * BLOCK_BYTES + 10), cuts=st.lists(st.integers(0, 3 * BLOCK_BYTES), max_size=5)
)
def test_hashing_in_chunks_equals_hashing_at_once(body, cuts):
    hasher = BodyHasher()
    previous = 0
    for cut in sorted(cut for cut in cuts if cut <= len(body)) + [len(body)]:
        hasher.update(body[previous:cut])
        previous = cut
    whole, blocks = hasher.finish()
    assert whole == xxhash.xxh3_64_intdigest(body)
    assert blocks == block_checksums(body)
    assert verify_blocks(body, 0, blocks) is None
    assert body_checksums(body) == (whole, blocks) == body_checksums(bytearray(body))


@pytest.mark.parametrize("length", [0, 1, BLOCK_BYTES - 1, BLOCK_BYTES, BLOCK_BYTES + 1, 2 * BLOCK_BYTES])
def test_a_body_in_memory_has_the_checksums_of_a_body_hashed_in_chunks(length):
    body = bytes(range(256)) * (length // 256) + b"z" * (length % 256)
    hasher = BodyHasher()
    hasher.update(body)
    assert body_checksums(body) == hasher.finish()


def test_a_flipped_byte_is_found_in_its_block():
    body = bytearray(b"x" * (2 * BLOCK_BYTES + 1))
    blocks = block_checksums(body)
    body[BLOCK_BYTES + 3] ^= 1
    assert verify_blocks(body, 0, blocks) == 1
    assert verify_blocks(body[2 * BLOCK_BYTES :], 2, blocks) is None
    assert list(covering_blocks(BLOCK_BYTES - 1, BLOCK_BYTES + 1)) == [0, 1]
    assert list(covering_blocks(5, 5)) == []


@st.composite
def records(draw):
    body = draw(st.binary(max_size=100))
    return ObjectRecord(
        timestamp=draw(timestamps),
        data_timestamp=draw(timestamps),
        content_type=draw(st.text(max_size=20)),
        content_length=len(body),
        etag=draw(st.text(max_size=40)),
        body_xxh3=draw(st.integers(0, 2**64 - 1)),
        block_xxh3s=tuple(block_checksums(body)),
        metadata=draw(st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=4)),
        delete_at=draw(st.none() | st.integers(0, 2**40)),
        extra=draw(st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3)),
        name=draw(st.none() | st.text(min_size=1, max_size=30)),
        inline_body=body,
    )


@given(record=records())
def test_records_round_trip(record):
    assert decode_record(encode_record(record)) == record


def test_tombstones_and_file_records_round_trip():
    tombstone = ObjectRecord(timestamp=Timestamp(5), data_timestamp=Timestamp(5), tombstone=True)
    assert decode_record(encode_record(tombstone)) == tombstone
    file_record = ObjectRecord(
        timestamp=Timestamp(5),
        data_timestamp=Timestamp(4),
        content_length=BLOCK_BYTES + 1,
        block_xxh3s=(1, 2),
        body_file="objects/5/ab.data",
    )
    assert decode_record(encode_record(file_record)) == file_record


def test_metadata_over_the_limits_is_refused():
    with pytest.raises(InvalidMetadata):
        check_metadata({f"k{i}": "v" for i in range(91)})
    with pytest.raises(InvalidMetadata):
        check_metadata({"k": "v" * 257})
    with pytest.raises(InvalidMetadata):
        check_metadata({f"k{i}": "v" * 250 for i in range(20)})
