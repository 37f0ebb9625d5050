"""A record's container entry: its own length and ETag, or the footer's listing overrides."""

from __future__ import annotations

import pytest
from dolmen.storage_node.checksums import block_count
from dolmen.storage_node.records import ObjectRecord
from dolmen.storage_node.timestamps import Timestamp
from dolmen.storage_node.updates import LISTING_ETAG_OVERRIDE, LISTING_SIZE_OVERRIDE, listed_size_and_etag

NOW = Timestamp.from_seconds(1_700_000_000.0)


def record(**extra: str) -> ObjectRecord:
    body_blocks = (0,) * block_count(310)
    return ObjectRecord(
        timestamp=NOW, data_timestamp=NOW, content_length=310, etag="a" * 32, extra=extra,
        body_file="objects/1/b.data", block_xxh3s=body_blocks,
    )  # fmt: skip


def test_without_overrides_the_entry_is_the_body() -> None:
    assert listed_size_and_etag(record()) == (310, "a" * 32)


def test_overrides_make_a_manifest_list_as_the_whole_object() -> None:
    overridden = record(**{LISTING_SIZE_OVERRIDE: "12595507", LISTING_ETAG_OVERRIDE: "0f1e-3"})
    assert listed_size_and_etag(overridden) == (12_595_507, "0f1e-3")


@pytest.mark.parametrize(
    ("size", "etag"), [("-1", ""), ("1e3", 'with"quote'), ("٣", "x" * 257), (str(2**63), "")]
)
def test_malformed_overrides_are_ignored(size: str, etag: str) -> None:
    assert listed_size_and_etag(record(**{LISTING_SIZE_OVERRIDE: size, LISTING_ETAG_OVERRIDE: etag})) == (
        310,
        "a" * 32,
    )
