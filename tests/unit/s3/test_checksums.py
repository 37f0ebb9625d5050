"""S3's flexible checksums: known values, botocore's own computation, multipart combinations."""

from __future__ import annotations

import hashlib
import zlib

import pytest
from botocore.httpchecksum import CrtCrc32cChecksum, CrtCrc64NvmeChecksum
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.attributes import PartAttributes, attributes_xml, parse_attributes_request
from dolmen.proxy.s3.checksums import (
    ALGORITHMS,
    b64,
    check_digest,
    check_multipart_type,
    check_sdk_algorithm,
    composite,
    footer_items,
    full_object,
    new_checksum,
    response_headers,
    stored_checksum,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def checksum_of(algorithm: str, data: bytes) -> bytes:
    checksum = new_checksum(algorithm)
    checksum.update(data)
    return checksum.digest()


def test_the_crcs_give_their_published_check_values():
    assert checksum_of("crc32", b"123456789").hex() == "cbf43926"
    assert checksum_of("crc32c", b"123456789").hex() == "e3069283"
    assert checksum_of("crc64nvme", b"123456789").hex() == "ae8b14860a799888"


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=5000), cut=st.integers(0, 5000))
def test_incremental_checksums_equal_botocores_and_hashlibs(data, cut):
    expected = {
        "crc32": zlib.crc32(data).to_bytes(4, "big"),
        "sha1": hashlib.sha1(data).digest(),
        "sha256": hashlib.sha256(data).digest(),
    }
    for algorithm, botocore_class in (("crc32c", CrtCrc32cChecksum), ("crc64nvme", CrtCrc64NvmeChecksum)):
        reference = botocore_class()
        reference.update(data)
        expected[algorithm] = reference.digest()
    for algorithm in ALGORITHMS:
        checksum = new_checksum(algorithm)
        checksum.update(data[:cut])
        checksum.update(data[cut:])
        assert checksum.digest() == expected[algorithm], algorithm


@settings(max_examples=50, deadline=None)
@given(parts=st.lists(st.binary(max_size=300), min_size=1, max_size=6))
def test_a_full_object_crc_combined_from_parts_is_the_crc_of_the_whole(parts):
    for algorithm in ("crc32", "crc32c", "crc64nvme"):
        combined = full_object(algorithm, [(checksum_of(algorithm, part), len(part)) for part in parts])
        assert combined == b64(checksum_of(algorithm, b"".join(parts)))


def test_a_composite_checksum_is_the_checksum_of_the_part_checksums_and_the_count():
    digests = [hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()]
    assert composite("sha256", digests) == b64(hashlib.sha256(b"".join(digests)).digest()) + "-2"


def test_multipart_checksum_types_follow_s3s_pairings():
    assert check_multipart_type("crc32", None) == "COMPOSITE"
    assert check_multipart_type("crc64nvme", None) == "FULL_OBJECT"
    assert check_multipart_type("crc32c", "full_object") == "FULL_OBJECT"
    for algorithm, checksum_type in (("sha256", "FULL_OBJECT"), ("crc64nvme", "COMPOSITE"), ("crc32", "X")):
        with pytest.raises(errors.InvalidRequest):
            check_multipart_type(algorithm, checksum_type)


def test_a_digest_is_checked_and_a_malformed_one_is_invalid():
    digest = checksum_of("crc64nvme", b"x")
    check_digest("crc64nvme", b64(digest), digest)
    with pytest.raises(errors.BadDigest):
        check_digest("crc64nvme", b64(bytes(8)), digest)
    for malformed in ("not base64!", b64(bytes(4))):  # a CRC32-sized value for a CRC64
        with pytest.raises(errors.BadDigest):
            check_digest("crc64nvme", malformed, digest)


def test_the_sdk_algorithm_header_must_name_the_checksum_sent():
    check_sdk_algorithm({"x-amz-sdk-checksum-algorithm": "CRC32C"}, "crc32c")
    check_sdk_algorithm({}, None)
    for claimed in (None, "crc32"):
        with pytest.raises(errors.InvalidRequest):
            check_sdk_algorithm({"x-amz-sdk-checksum-algorithm": "CRC32C"}, claimed)


def test_stored_checksums_come_back_whatever_the_case_of_the_footer_names():
    items = footer_items({"crc32c": "yZRlqg=="})
    shouted = {name.title(): value for name, value in items.items()}
    assert stored_checksum(shouted) == ("crc32c", "yZRlqg==", "FULL_OBJECT")
    assert response_headers(stored_checksum(shouted)) == {
        "x-amz-checksum-crc32c": "yZRlqg==",
        "x-amz-checksum-type": "FULL_OBJECT",
    }
    assert stored_checksum({}) is None and footer_items({}) == {}


def test_object_attributes_render_only_what_was_asked():
    asked = parse_attributes_request({"x-amz-object-attributes": "ETag, ObjectSize,Checksum"})
    xml = attributes_xml(
        asked, etag='"abc"', size=5, checksum=("crc32", "AAAAAA==", "FULL_OBJECT"), parts=None
    )
    assert b"<ETag>abc</ETag>" in xml and b"<ObjectSize>5</ObjectSize>" in xml
    assert b"<ChecksumCRC32>AAAAAA==</ChecksumCRC32><ChecksumType>FULL_OBJECT</ChecksumType>" in xml
    assert b"StorageClass" not in xml
    for bad in ("", "ETag,Colour"):
        with pytest.raises(errors.InvalidArgument):
            parse_attributes_request({"x-amz-object-attributes": bad})


def test_object_parts_page_from_the_marker():
    asked = parse_attributes_request(
        {"x-amz-object-attributes": "ObjectParts", "x-amz-max-parts": "2", "x-amz-part-number-marker": "1"}
    )
    parts = [PartAttributes(number, 10 * number) for number in (1, 2, 3, 4)]
    xml = attributes_xml(asked, etag="e-4", size=100, checksum=None, parts=parts).decode()
    assert "<PartsCount>4</PartsCount>" in xml and "<IsTruncated>true</IsTruncated>" in xml
    assert "<PartNumber>2</PartNumber>" in xml and "<PartNumber>3</PartNumber>" in xml
    assert "<PartNumber>4</PartNumber>" not in xml and "<NextPartNumberMarker>3</NextPartNumberMarker>" in xml
