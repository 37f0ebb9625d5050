"""Multipart uploads' pure rules: names, Complete's checks and ETag, paging, and the request XML."""

from __future__ import annotations

import hashlib

import pytest
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.requestxml import parse_complete_multipart
from dolmen.proxy.s3.uploads import (
    KEY_BYTES_MAX,
    RequestedPart,
    StoredPart,
    UploadRecord,
    check_part_number,
    check_upload_id,
    check_upload_key,
    choose_parts,
    common_prefix,
    initiated_s,
    latest_parts,
    multipart_etag,
    new_upload_id,
    page_parts,
    parse_part_entry,
    parse_record_name,
    part_name,
    record_name,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from dolmen.limits import OBJECT_NAME_BYTES_MAX, S3_PART_BYTES_MIN

MIB = 2**20


def stored(number: int, size: int, etag: str | None = None, at: float = 1.0) -> StoredPart:
    name = part_name("a" * 32, number, f"{int(at * 1000):08x}")
    return StoredPart(
        number, name, etag or hashlib.md5(str(number).encode()).hexdigest(), size, at, (at, name)
    )


@given(key=st.text(min_size=1, max_size=200).filter(lambda k: "\x00" not in k), now_s=st.floats(1e9, 4e9))
def test_record_names_give_back_their_key_and_upload_id(key, now_s):
    upload_id = new_upload_id(now_s, b"12345678")
    assert check_upload_id(upload_id) == upload_id and abs(initiated_s(upload_id) - now_s) < 1e-5
    assert parse_record_name(record_name(key, upload_id)) == (key, upload_id)


def test_the_longest_key_still_makes_a_valid_record_name():
    key = "k" * KEY_BYTES_MAX
    assert len(record_name(check_upload_key(key), "0" * 32).encode()) == OBJECT_NAME_BYTES_MAX
    with pytest.raises(errors.KeyTooLongError):
        check_upload_key(key + "k")


def test_upload_ids_and_part_numbers_outside_their_form_are_refused():
    for bad in (None, "", "x" * 32, "0" * 31):
        with pytest.raises(errors.NoSuchUpload):
            check_upload_id(bad)
    for bad in (None, "0", "10001", "-1", "1.5", "٣"):
        with pytest.raises(errors.InvalidArgument):
            check_part_number(bad)
    assert check_part_number("10000") == 10_000


def test_the_newest_part_of_a_number_wins_and_older_ones_are_unused():
    old, new, other = stored(2, 5, at=1.0), stored(2, 6, at=2.0), stored(1, 7)
    newest, older = latest_parts([new, other, old])
    assert newest == {1: other, 2: new} and older == [old]
    entry = parse_part_entry(new.name, new.etag, 6, 2.0)
    assert entry is not None and entry.number == 2
    assert parse_part_entry("u/key\x01" + "0" * 32, "e", 1, 0.0) is None


def test_complete_checks_order_etags_and_sizes():
    parts = {1: stored(1, 5 * MIB), 2: stored(2, 5 * MIB), 3: stored(3, 1)}
    asked = [RequestedPart(n, f'"{parts[n].etag}"') for n in (1, 2, 3)]
    assert choose_parts(asked, parts) == [parts[1], parts[2], parts[3]]
    assert choose_parts(asked[:1], parts) == [parts[1]]
    with pytest.raises(errors.InvalidPartOrder):
        choose_parts([asked[1], asked[0]], parts)
    with pytest.raises(errors.InvalidPart):
        choose_parts([RequestedPart(1, "0" * 32)], parts)
    with pytest.raises(errors.InvalidPart):
        choose_parts([RequestedPart(4, "0" * 32)], parts)
    small = {1: stored(1, S3_PART_BYTES_MIN - 1), 2: stored(2, 1)}
    with pytest.raises(errors.EntityTooSmall):
        choose_parts([RequestedPart(1, small[1].etag), RequestedPart(2, small[2].etag)], small)


def test_the_multipart_etag_is_the_md5_of_the_binary_md5s_and_the_count():
    etags = [hashlib.md5(b"a").hexdigest(), hashlib.md5(b"b").hexdigest()]
    expected = hashlib.md5(hashlib.md5(b"a").digest() + hashlib.md5(b"b").digest()).hexdigest() + "-2"
    assert multipart_etag(etags) == expected


def test_parts_page_after_the_marker():
    parts = {n: stored(n, 1) for n in (1, 2, 5)}
    shown, truncated = page_parts(parts, marker=1, max_parts=1)
    assert [part.number for part in shown] == [2] and truncated
    shown, truncated = page_parts(parts, marker=2, max_parts=5)
    assert [part.number for part in shown] == [5] and not truncated


def test_common_prefixes_roll_up_after_the_prefix():
    assert common_prefix("a/b/c", "a/", "/") == "a/b/"
    assert common_prefix("a/b", "a/", "/") is None
    assert common_prefix("a/b", "", "") is None


def test_upload_records_round_trip():
    record = UploadRecord(
        key="k", upload_id="0" * 32, content_type="t", metadata={"a": "b"}, checksum_algorithm="crc32"
    )
    assert UploadRecord.decode(record.encode()) == record


def test_complete_xml_names_parts_in_its_order():
    body = (
        b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b'<Part><PartNumber>1</PartNumber><ETag>"e1"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>'
        b"<Part><ETag>e2</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>"
    )
    assert parse_complete_multipart(body) == [
        RequestedPart(1, '"e1"', {"crc32": "AAAAAA=="}),
        RequestedPart(2, "e2", {}),
    ]
    for bad in (
        b"<CompleteMultipartUpload/>",
        b"<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
        b"<Other/>",
        b'<!DOCTYPE x [<!ENTITY a "b">]><CompleteMultipartUpload/>',
    ):
        with pytest.raises(errors.MalformedXML):
            parse_complete_multipart(bad)


PART = st.builds(
    lambda number, etag, extra: f"<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag>{extra}</Part>",
    st.one_of(st.integers(-2, 10_002).map(str), st.text(max_size=6)),
    st.text(max_size=40),
    st.sampled_from(["", "<ChecksumCRC32>x</ChecksumCRC32>", "<PartNumber>3</PartNumber>", "<Part/>"]),
)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(PART, max_size=5),
    root=st.sampled_from(["CompleteMultipartUpload", "Complete", "x:CompleteMultipartUpload"]),
    noise=st.binary(max_size=30),
    cut=st.integers(0, 400),
)
def test_any_complete_body_parses_or_is_an_s3_error(parts, root, noise, cut):
    body = f"<{root}>{''.join(parts)}</{root}>".encode("utf-8", "surrogatepass") + noise
    for candidate in (body, body[:cut]):
        try:
            parse_complete_multipart(candidate)
        except errors.S3Error as error:
            assert error.status < 500


def test_sweep_entries_round_trip_and_garbage_is_refused():
    from dolmen.proxy.s3.cleaner import Sweep, due_of, entry_name

    sweep = Sweep(account="AUTH_p", bucket="b", key="k", upload_id=new_upload_id(1e9, b"12345678"))
    assert Sweep.decode(sweep.encode()) == sweep
    assert due_of(entry_name(1234.5, sweep.upload_id)) == 1234
    for garbage in (b"{}", b"[]", b'{"account":"a","bucket":"b","key":"k","upload_id":"zz"}', b"\xff"):
        with pytest.raises((ValueError, TypeError)):
            Sweep.decode(garbage)
