"""Completed multipart uploads as S3 objects, pure: ETags, lengths, parts and the manifest's items."""

from __future__ import annotations

import pytest
from dolmen.proxy.largeobjects import SLO_ITEM, SLO_SIZE_ITEM
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.mpobjects import (
    manifest_items,
    metadata_checksum,
    part_range,
    part_sizes,
    s3_etag,
    s3_length,
    upload_id_of,
)
from dolmen.storage_node.timestamps import Timestamp

from dolmen.cluster.objects import ObjectInfo


def info(metadata: dict[str, str], *, etag: str = "m" * 32, length: int = 100) -> ObjectInfo:
    return ObjectInfo(
        "t", length, etag, Timestamp.parse("1700000000.00000"), 1_700_000_000, metadata, None, {}
    )


def test_a_completed_upload_shows_its_s3_etag_length_parts_and_checksum():
    items = manifest_items(
        etag="abc-2", part_sizes=[5, 7], upload_id="u" * 32, checksum=("crc32", "AAAAAA==-2", "COMPOSITE")
    )
    stored = info({**items, SLO_ITEM: "slo", SLO_SIZE_ITEM: "12"})
    assert s3_etag(stored) == "abc-2" and s3_length(stored) == 12 and part_sizes(stored) == [5, 7]
    assert upload_id_of(stored) == "u" * 32
    assert metadata_checksum(stored.metadata) == ("crc32", "AAAAAA==-2", "COMPOSITE")


def test_plain_objects_and_slos_keep_their_own_etag_and_length():
    assert s3_etag(info({})) == "m" * 32 and s3_length(info({})) == 100 and part_sizes(info({})) is None
    assert s3_etag(info({SLO_ITEM: "slo", SLO_SIZE_ITEM: "9"})) == "slo"


def test_part_ranges_are_inclusive_and_past_the_last_part_is_invalid():
    assert part_range([5, 7], 1, 12) == (0, 4) and part_range([5, 7], 2, 12) == (5, 11)
    assert part_range(None, 1, 10) == (0, 9)  # a plain object is its one part
    assert part_range(None, 1, 0) is None
    for number in (0, 3):
        with pytest.raises(errors.InvalidPart):
            part_range([5, 7], number, 12)
