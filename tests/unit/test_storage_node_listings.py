"""Listing logic against a naive oracle: the pure algorithm, and the same over a real LMDB cursor.

The LMDB half stores names under keycodec's keys (long names hashed), so the seek arithmetic
and the long-name run fix-up are checked together with the algorithm.
"""

from __future__ import annotations

import bisect
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import lmdb
import pytest
from dolmen.storage_node import keycodec
from dolmen.storage_node.containers import _CursorNames
from dolmen.storage_node.entries import ObjectEntry, encode_entry, entry_full_name, entry_is_live
from dolmen.storage_node.errors import BadRequest, ListingLimitTooLarge
from dolmen.storage_node.listings import (
    ListingQuery,
    MergedNames,
    Row,
    Subdir,
    in_name_order,
    list_names,
    parse_listing_query,
)
from dolmen.storage_node.timestamps import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LONG = "p" * 470  # names built on it cross the 474-byte long-name boundary

# Name pieces that make delimiter, boundary and long-name cases likely.
pieces = st.sampled_from(["a", "b", "/", "ab", "é", "\U0001f600", "z", "-", LONG, "x" * 20])
names = (
    st.lists(pieces, min_size=1, max_size=4)
    .map("".join)
    .filter(lambda name: len(name.encode()) <= keycodec.OBJECT_NAME_BYTES_MAX)
)
bounds = st.one_of(st.just(""), names, st.sampled_from(["a", "a/", "b", LONG, LONG + "b", "é"]))


@st.composite
def queries(draw: st.DrawFn) -> ListingQuery:
    return ListingQuery(
        prefix=draw(st.sampled_from(["", "a", "a/", "p", LONG, "é"])).encode(),
        delimiter=draw(st.sampled_from(["", "/", "b", "ab"])).encode(),
        marker=draw(bounds).encode(),
        end_marker=draw(bounds).encode(),
        limit=draw(st.integers(1, 12)),
        reverse=draw(st.booleans()),
    )


def oracle(all_names: dict[bytes, bool], query: ListingQuery) -> list[bytes | tuple[str, bytes]]:
    """Filter every name, then roll up: what a listing means, without seeks."""
    answer: list[bytes | tuple[str, bytes]] = []
    emitted: set[bytes] = set()
    for name in sorted(all_names, reverse=query.reverse):
        if not all_names[name] or not name.startswith(query.prefix):
            continue
        if query.marker and (name <= query.marker if not query.reverse else name >= query.marker):
            continue
        if query.end_marker and (name >= query.end_marker if not query.reverse else name <= query.end_marker):
            continue
        found = name.find(query.delimiter, len(query.prefix)) if query.delimiter else -1
        if found >= 0:
            subdir = name[: found + len(query.delimiter)]
            if subdir in emitted or subdir == query.marker:
                continue
            emitted.add(subdir)
            answer.append(("subdir", subdir))
        else:
            answer.append(name)
    return answer[: query.limit]


def flatten(rows: list[Row[object] | Subdir]) -> list[bytes | tuple[str, bytes]]:
    return [("subdir", row.name) if isinstance(row, Subdir) else row[0] for row in rows]


class SortedSource:
    """The simplest NameSource: a sorted list."""

    def __init__(self, entries: dict[bytes, bool]) -> None:
        self.names = sorted(entries)
        self.entries = entries

    def ascending(self, start: bytes) -> Iterator[tuple[bytes, bool]]:
        for name in self.names[bisect.bisect_left(self.names, start) :]:
            yield name, self.entries[name]

    def descending(self, stop: bytes | None) -> Iterator[tuple[bytes, bool]]:
        end = len(self.names) if stop is None else bisect.bisect_left(self.names, stop)
        for name in reversed(self.names[:end]):
            yield name, self.entries[name]


@given(entries=st.dictionaries(names.map(str.encode), st.booleans(), max_size=30), query=queries())
@settings(max_examples=150, deadline=None)
def test_listing_over_a_sorted_source_matches_the_oracle(
    entries: dict[bytes, bool], query: ListingQuery
) -> None:
    rows = list_names(SortedSource(entries), query, listed=bool)
    assert flatten(rows) == oracle(entries, query)


@pytest.fixture(scope="module")
def environment() -> Iterator[lmdb.Environment]:
    with tempfile.TemporaryDirectory() as directory:
        env = lmdb.open(str(Path(directory) / "db"), max_dbs=2, map_size=2**28, sync=False)
        yield env
        env.close()


PREFIX = keycodec.container_prefix(7, "AUTH_test", "listing")


def load(env: lmdb.Environment, entries: dict[bytes, bool], db_name: bytes = b"entries") -> object:
    db = env.open_db(db_name)
    with env.begin(write=True) as txn:
        txn.drop(db, delete=False)
        # Neighbouring containers' keys, which a listing must never reach.
        txn.put(PREFIX[:-1] + bytes([PREFIX[-1] - 1]) + b"zz", b"", db=db)
        txn.put(PREFIX[:-1] + bytes([PREFIX[-1] + 1]) + b"", b"", db=db)
        for name, live in entries.items():
            key = PREFIX + keycodec.name_part(name)
            entry = ObjectEntry(name.decode(), Timestamp(1), deleted=not live)
            txn.put(key, encode_entry(entry, hashed_key=keycodec.is_hashed(key)), db=db)
    return db


@given(entries=st.dictionaries(names.map(str.encode), st.booleans(), max_size=30), query=queries())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_listing_over_lmdb_keys_matches_the_oracle(
    environment: lmdb.Environment, entries: dict[bytes, bool], query: ListingQuery
) -> None:
    db = load(environment, entries)
    with environment.begin(buffers=False) as txn, txn.cursor(db=db) as cursor:
        rows = list_names(_CursorNames(cursor, PREFIX, entry_full_name), query, listed=entry_is_live)
    assert flatten(rows) == oracle(entries, query)


@given(entries=st.dictionaries(names.map(str.encode), st.booleans(), max_size=30), query=queries())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_tombstones_kept_apart_list_alone_or_merged_in_order(
    environment: lmdb.Environment, entries: dict[bytes, bool], query: ListingQuery
) -> None:
    """A container's live entries in one keyspace and its tombstones in another (containers.py):
    a public listing reads the live ones alone, an internal one both, merged in name order."""
    live_db = load(environment, {name: True for name, live in entries.items() if live})
    deleted_db = load(environment, {name: False for name, live in entries.items() if not live}, b"tombstones")
    with environment.begin(buffers=False) as txn:
        with txn.cursor(db=live_db) as cursor:
            rows = list_names(_CursorNames(cursor, PREFIX, entry_full_name), query, listed=entry_is_live)
        assert flatten(rows) == oracle(entries, query)
        with txn.cursor(db=live_db) as live, txn.cursor(db=deleted_db) as deleted:
            merged = MergedNames(
                _CursorNames(live, PREFIX, entry_full_name), _CursorNames(deleted, PREFIX, entry_full_name)
            )
            rows = list_names(merged, query)
        assert flatten(rows) == oracle(dict.fromkeys(entries, True), query)


def test_long_names_sharing_474_bytes_list_in_byte_order() -> None:
    base = b"q" * 474
    names = [base + b"a" * 600, base + b"b", base + b"a", base + b"\xc3\xa9" * 300, base + b"c" * 20]
    keyed = sorted((keycodec.name_part(name), name) for name in names)
    assert [name for _part, name in keyed] != sorted(names)  # the keys alone get it wrong
    ordered = in_name_order(iter(keyed), lambda part, name: name, descending=False)
    assert [name for name, _ in ordered] == sorted(names)


def test_query_parsing_follows_swift() -> None:
    query = parse_listing_query("prefix=a%2Fb&delimiter=%2F&marker=%C3%A9&limit=5&reverse=true&format=json")
    assert query == ListingQuery(
        prefix=b"a/b", delimiter=b"/", marker="é".encode(), limit=5, reverse=True, format="json"
    )
    assert parse_listing_query("").limit == 10_000
    with pytest.raises(ListingLimitTooLarge):
        parse_listing_query("limit=10001")
    for bad in (
        "limit=-1",
        "limit=abc",
        "limit=0",
        "format=yaml",
        "marker=%FF",
        "prefix=%00",
        "reverse=maybe",
    ):
        with pytest.raises(BadRequest):
            parse_listing_query(bad)


def hundred_thousand_names() -> dict[bytes, bool]:
    """100,000 names of every shape: paths with the delimiter, unicode, 1,024-byte names; some deleted."""
    entries: dict[bytes, bool] = {}
    for index in range(100_000):
        shape = index % 5
        if shape == 0:
            name = f"photos/{index % 97:02d}/{index % 7}/img-{index:06d}.jpg"
        elif shape == 1:
            name = f"é日本/{index:06d}-\U0001f600"
        elif shape == 2:
            name = f"{index:06d}".rjust(1024, "L")  # the longest legal name: hashed LMDB keys
        elif shape == 3:
            name = f"a/b/c/{index:06d}/"
        else:
            name = f"plain-{index:06d}"
        assert len(name.encode()) <= keycodec.OBJECT_NAME_BYTES_MAX
        entries[name.encode()] = index % 13 != 0  # every 13th is a tombstone
    return entries


@pytest.fixture(scope="module")
def hundred_thousand() -> Iterator[tuple[lmdb.Environment, object, dict[bytes, bool]]]:
    entries = hundred_thousand_names()
    with tempfile.TemporaryDirectory() as directory:
        env = lmdb.open(str(Path(directory) / "db"), max_dbs=2, map_size=2**30, sync=False)
        yield env, load(env, entries), entries
        env.close()


@pytest.mark.parametrize(
    "query",
    [
        ListingQuery(),  # the first full page of 10,000
        ListingQuery(reverse=True),
        ListingQuery(delimiter=b"/"),  # top-level roll-up over all 100,000
        ListingQuery(prefix=b"photos/", delimiter=b"/", limit=50),
        ListingQuery(prefix="é日本/".encode(), marker="é日本/050001".encode(), limit=1000),
        ListingQuery(marker=b"L" * 1018, end_marker=b"a/b/c/050003/", limit=10_000),  # inside the long names
        ListingQuery(marker=b"photos/50", reverse=True, delimiter=b"/", limit=10_000),
        ListingQuery(prefix=b"a/b/c/", delimiter=b"/", marker=b"a/b/c/099998/"),  # a marker on a roll-up
        ListingQuery(
            end_marker=b"plain-050000", marker=b"plain-049990", reverse=True
        ),  # empty: reversed bounds
    ],
    ids=lambda query: repr(query)[:60],
)
def test_listings_of_a_hundred_thousand_names_are_right_and_each_takes_well_under_a_second(
    hundred_thousand: tuple[lmdb.Environment, object, dict[bytes, bool]], query: ListingQuery
) -> None:
    env, db, entries = hundred_thousand
    # The query's own CPU time: what it costs, whatever else the (shared, 2-core) machine runs.
    started_s = time.thread_time()
    with env.begin(buffers=False) as txn, txn.cursor(db=db) as cursor:
        rows = list_names(_CursorNames(cursor, PREFIX, entry_full_name), query, listed=entry_is_live)
    cpu_s = time.thread_time() - started_s
    assert flatten(rows) == oracle(entries, query)
    assert cpu_s < 1.0, f"{cpu_s:.3f} CPU seconds for {len(rows)} rows"
