"""Listing merge, pure: replicas that disagree, tombstones, paging, reverse order and roll-ups, against an oracle."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from dolmen.cluster.listing import ListingQuery, merge_pages, merged_listing, rollup, safe_bound

NAMES = st.text(alphabet="ab/é\ue000\U0001f600", min_size=1, max_size=4)  # (orders as UTF-8 bytes)


def sort_key(name: str) -> bytes:
    """The listing order as the replicas define it: byte order of the UTF-8 names."""
    return name.encode("utf-8")


def entry(name: str, ticks: int, deleted: bool = False) -> dict:
    text = f"{1_700_000_000 + ticks}.00000"
    return (
        {"name": name, "timestamp": text, "deleted": True} if deleted else {"name": name, "timestamp": text}
    )


# A replica: for each name it knows, (timestamp, deleted). Replicas may miss names or hold older records.
replicas_strategy = st.lists(
    st.dictionaries(NAMES, st.tuples(st.integers(0, 5), st.booleans()), max_size=25), min_size=1, max_size=3
)


def oracle(replicas: list[dict], query: ListingQuery) -> list[tuple[str, bool]]:
    newest: dict[str, tuple[int, bool]] = {}
    for replica in replicas:
        for name, (ticks, deleted) in replica.items():
            if name not in newest or (ticks, deleted) > newest[name]:
                newest[name] = (ticks, deleted)
    names = sorted(
        (name for name, (_, deleted) in newest.items() if not deleted), key=sort_key, reverse=query.reverse
    )
    names = [name for name in names if name.startswith(query.prefix)]
    if query.marker:
        names = [
            n
            for n in names
            if (
                sort_key(n) < sort_key(query.marker)
                if query.reverse
                else sort_key(n) > sort_key(query.marker)
            )
        ]
    return rollup(names, prefix=query.prefix, delimiter=query.delimiter)[: query.limit]


def replica_pages(replica: dict, query: ListingQuery, page_entries: int):
    """A replica's live listing: its live entries alone, as X-Backend-Listing: live."""
    ordered = sorted(
        (name for name, (_, deleted) in replica.items() if not deleted), key=sort_key, reverse=query.reverse
    )

    async def page(marker: str) -> list[dict]:
        after = [
            name
            for name in ordered
            if name.startswith(query.prefix)
            and (
                not marker
                or (sort_key(name) < sort_key(marker) if query.reverse else sort_key(name) > sort_key(marker))
            )
        ]
        return [entry(name, *replica[name]) for name in after[:page_entries]]

    return page


@settings(max_examples=200, deadline=None)
@given(
    replicas=replicas_strategy,
    limit=st.integers(0, 30),
    page_entries=st.integers(1, 6),
    reverse=st.booleans(),
    prefix=st.sampled_from(["", "a", "b/"]),
    delimiter=st.sampled_from(["", "/"]),
    marker=st.sampled_from(["", "a", "b"]),
)
def test_paged_merge_of_replicas_equals_the_merge_of_everything(
    replicas, limit, page_entries, reverse, prefix, delimiter, marker
):
    query = ListingQuery(prefix=prefix, delimiter=delimiter, marker=marker, limit=limit, reverse=reverse)
    fetchers = [replica_pages(replica, query, page_entries) for replica in replicas]

    async def fetch(index: int, after: str) -> list[dict]:
        return await fetchers[index](after)

    asked: list[tuple[int, str]] = []

    async def lookup(disputes: dict[int, list[str]]) -> dict[int, list[dict]]:
        asked.extend((index, name) for index, names in disputes.items() for name in names)
        return {
            index: [entry(name, *replicas[index][name]) for name in names if name in replicas[index]]
            for index, names in disputes.items()
        }

    items, truncated = asyncio.run(
        merged_listing(fetch, lookup, len(replicas), query, page_entries=page_entries, pages_max=10_000)
    )
    expected = oracle(replicas, query)
    assert [(name, entry_ is None) for name, entry_ in items] == expected
    everything = oracle(
        replicas,
        ListingQuery(prefix=prefix, delimiter=delimiter, marker=marker, limit=10_000, reverse=reverse),
    )
    if len(everything) > limit:
        assert truncated
    # Only what some replica lists live and another does not is looked up, each name once per replica.
    assert len(asked) == len(set(asked))
    for index, name in asked:
        assert not (name in replicas[index] and not replicas[index][name][1])
        assert any(name in other and not other[name][1] for other in replicas)


def test_replicas_that_agree_are_merged_without_a_lookup_whatever_their_tombstones():
    live = {f"n{i:03}": (i % 5, False) for i in range(0, 300, 3)}
    replica = {**{f"n{i:03}": (7, True) for i in range(300)}, **live}  # 200 tombstones among 100 live
    query = ListingQuery(limit=50)
    fetchers = [replica_pages(replica, query, 20) for _ in range(2)]
    rounds = []

    async def fetch(index: int, after: str) -> list[dict]:
        rounds.append(index)
        return await fetchers[index](after)

    async def lookup(disputes: dict[int, list[str]]) -> dict[int, list[dict]]:
        raise AssertionError(f"replicas that agree need no lookup: {disputes}")

    items, truncated = asyncio.run(merged_listing(fetch, lookup, 2, query, page_entries=20, pages_max=8))
    assert [name for name, _ in items] == sorted(live)[:50]
    assert truncated
    assert len(rounds) == 2 * 3  # three pages of 20 live entries each, none of them read for tombstones


def test_a_name_listed_by_one_replica_is_hidden_by_the_other_replicas_newer_tombstone():
    a = {"x": (1, False), "y": (3, False), "z": (1, False)}
    b = {"x": (2, True), "y": (2, True)}  # x deleted after a's copy; y put again after b's delete; z unknown
    query = ListingQuery()
    fetchers = [replica_pages(r, query, 10) for r in (a, b)]

    async def fetch(index: int, after: str) -> list[dict]:
        return await fetchers[index](after)

    async def lookup(disputes: dict[int, list[str]]) -> dict[int, list[dict]]:
        assert disputes == {1: ["x", "y", "z"]}
        return {1: [entry(name, *b[name]) for name in disputes[1] if name in b]}

    items, truncated = asyncio.run(merged_listing(fetch, lookup, 2, query, page_entries=10, pages_max=8))
    assert [name for name, _ in items] == ["y", "z"]
    assert not truncated


def test_the_newest_record_wins_and_a_tombstone_hides_an_older_live_copy():
    merged = merge_pages(
        [[entry("a", 1), entry("b", 3)], [entry("a", 2, deleted=True), entry("b", 2)]], reverse=False
    )
    assert [(e["name"], bool(e.get("deleted")), e["timestamp"]) for e in merged] == [
        ("a", True, "1700000002.00000"),
        ("b", False, "1700000003.00000"),
    ]


def test_a_full_page_bounds_what_is_complete():
    pages = [[entry("a", 1), entry("c", 1)], [entry("b", 1)]]
    assert safe_bound(pages, [True, False], reverse=False) == "c"
    assert safe_bound(pages, [True, True], reverse=False) == "b"
    assert safe_bound(pages, [False, False], reverse=False) is None


def test_roll_ups_keep_one_subdir_per_run():
    assert rollup(["a", "b/1", "b/2", "c/x/y"], prefix="", delimiter="/") == [
        ("a", False),
        ("b/", True),
        ("c/", True),
    ]
    assert rollup(["p/a/1", "p/b"], prefix="p/", delimiter="/") == [("p/a/", True), ("p/b", False)]
