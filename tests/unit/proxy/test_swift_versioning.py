"""Versioning's pure parts: container settings, Swift's legacy names, archive names and the versions listing."""

from __future__ import annotations

import pytest
from dolmen.proxy.errors import BadRequest, InvalidName
from dolmen.proxy.swift.versioning import (
    ENABLED_ITEM,
    LOCATION_ITEM,
    MODE_ITEM,
    VersionRow,
    archive_name,
    container_headers,
    container_items,
    legacy_name,
    parse_version_id,
    split_archive_name,
    version_id,
    versions_rows,
)
from hypothesis import given
from hypothesis import strategies as st

from dolmen.cluster import Timestamp

timestamps = st.integers(0, 10**15 - 1).map(Timestamp)
names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x01"), min_size=1, max_size=40
)


def test_container_settings_for_both_modes():
    assert container_items({"X-Versions-Location": "old"}) == {LOCATION_ITEM: "old", MODE_ITEM: "stack"}
    assert container_items({"X-History-Location": "h%20s"}) == {LOCATION_ITEM: "h s", MODE_ITEM: "history"}
    assert container_items({"X-Remove-Versions-Location": "x"}) == {LOCATION_ITEM: "", MODE_ITEM: ""}
    assert container_items({"X-Versions-Enabled": "true"}) == {ENABLED_ITEM: "true"}
    assert container_items({"X-Versions-Enabled": "no"}) == {ENABLED_ITEM: "false"}
    with pytest.raises(BadRequest):
        container_items({"X-Versions-Location": "a", "X-History-Location": "b"})
    with pytest.raises(BadRequest):
        container_items({"X-Versions-Location": "a", "X-Versions-Enabled": "true"})
    with pytest.raises(InvalidName):
        container_items({"X-Versions-Location": ".dolmen+versions+c"})
    assert container_headers({LOCATION_ITEM: "h", MODE_ITEM: "history", ENABLED_ITEM: "false"}) == {
        "X-History-Location": "h",
        "X-Versions-Enabled": "False",
    }


def test_legacy_names_are_swifts():
    stamp = Timestamp.parse("1700000000.12345")
    assert legacy_name("photo.jpg", stamp) == "009photo.jpg/1700000000.12345"
    assert legacy_name("é", stamp) == "002é/1700000000.12345"


@given(names, timestamps)
def test_version_ids_and_archive_names_round_trip(name, stamp):
    assert parse_version_id(version_id(stamp)) == stamp
    assert split_archive_name(archive_name(name, stamp)) == (name, stamp)


@given(names, timestamps, timestamps)
def test_newer_versions_of_a_name_sort_first(name, one, other):
    if one.ticks != other.ticks:
        newer, older = max(one, other), min(one, other)
        assert archive_name(name, newer).encode() < archive_name(name, older).encode()


@pytest.mark.parametrize(
    "text", ["", "1", "1700000000", "1700000000.1234", "17000000001.12345", "x700000000.12345"]
)
def test_malformed_version_ids_are_refused(text):
    with pytest.raises(BadRequest):
        parse_version_id(text)


def test_the_versions_listing_orders_names_then_newest_and_marks_the_latest():
    def row(name, ticks, content_type="text/plain"):
        return VersionRow(name, Timestamp(ticks), 1, "e", content_type)

    rows = versions_rows(
        [row("b", 300)],
        [row("a", 200, "application/x-deleted;swift_versions_deleted=1"), row("a", 100), row("b", 50)],
        limit=10,
    )
    assert [(r["name"], r["version_id"], r["is_latest"]) for r in rows] == [
        ("a", "0000000000.00200", True),
        ("a", "0000000000.00100", False),
        ("b", "0000000000.00300", True),
        ("b", "0000000000.00050", False),
    ]
    assert len(versions_rows([row("b", 300)], [row("a", 1), row("a", 2)], limit=2)) == 2


def test_a_short_page_lists_nothing_past_its_last_row_and_a_continued_name_is_not_latest():
    def row(name, ticks):
        return VersionRow(name, Timestamp(ticks), 1, "e", "text/plain")

    # The current page stopped at "b": "c"'s archived versions wait for the next page.
    rows = versions_rows(
        [row("a", 9), row("b", 9)], [row("a", 5), row("c", 3)], limit=10, current_complete=False
    )
    assert [(r["name"], r["version_id"][-3:]) for r in rows] == [("a", "009"), ("a", "005"), ("b", "009")]
    # The archived page stopped inside "a": "b" waits too.
    rows = versions_rows([row("a", 9), row("b", 9)], [row("a", 5)], limit=10, archived_complete=False)
    assert [r["name"] for r in rows] == ["a", "a"]
    rows = versions_rows([], [row("a", 4), row("b", 2)], limit=10, continued="a")
    assert [(r["name"], r["is_latest"]) for r in rows] == [("a", False), ("b", True)]
