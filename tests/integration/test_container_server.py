"""The container and account roles of a real storage node: records, entries, listings, stats, reports."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
import time
from pathlib import Path

import pytest
from dolmen.storage_node import keycodec
from dolmen.storage_node.containers import ACCOUNT, CONTAINER, ContainerRow, Keyspaces, info_key, row_is_live
from dolmen.storage_node.device import DeviceConfig, DeviceStore
from dolmen.storage_node.entries import ObjectEntry, encode_entry, entry_is_live
from dolmen.storage_node.errors import Conflict
from dolmen.storage_node.listings import ListingQuery
from dolmen.storage_node.timestamps import Timestamp
from dolmen.storage_node.updates import Replica
from helpers.committer import in_one_batch
from helpers.storage_node import (
    SECRET,
    Answer,
    NodeProcess,
    RoleClient,
    SignedClient,
    timestamp,
    wait_until,
)

from dolmen.keys import key_fingerprint, placement_key

FAST_UPDATES = {
    "account_update_interval_s": 0.4,
    "container_updater_interval_s": 0.2,
    "container_update_backoff_s": 0.1,
    "container_update_backoff_s_max": 0.5,
}
FINGERPRINT = key_fingerprint(placement_key(SECRET))
counter = itertools.count()
clock = itertools.count(1_700_000_000_00000)


def ts() -> str:
    """Strictly increasing timestamps, far from the wall clock's (no two tests collide)."""
    ticks = next(clock)
    return f"{ticks // 100_000:010d}.{ticks % 100_000:05d}"


def fresh(name: str) -> str:
    return f"{name}-{next(counter)}"


BIG_NAMES = [
    [
        "plain-{i:05d}",
        "dir/{i:03d}/leaf",
        "ünï/{i:05d}",
        "a/b/c/{i:05d}",
        "{i:05d}" + "x" * 1000,
        "é{i:05d}/",
    ][index % 6].format(i=index)
    for index in range(10_300)
]


async def preload_big_container(device_root: Path) -> None:
    """Write a container of 10,300 entries into the device before the node serves it (in a few
    commits, where 10,300 HTTP updates would take most of this module's time budget)."""
    store = await DeviceStore.open(
        device_root, DeviceConfig(free_space_reserve_bytes=0), cluster_fingerprint=FINGERPRINT, device="d1"
    )
    try:
        keyspaces = Keyspaces(store)
        await keyspaces.put(CONTAINER, 0, "AUTH_a", "big", Timestamp(1), metadata={})
        entries = [ObjectEntry(name, Timestamp(2), False, 1, "e", "text/plain") for name in BIG_NAMES]
        for start in range(0, len(entries), 5000):
            await keyspaces.update_objects(0, "AUTH_a", "big", entries[start : start + 5000])
    finally:
        await store.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    root = tmp_path_factory.mktemp("container-node")
    (root / "devices" / "d1").mkdir(parents=True)
    asyncio.run(preload_big_container(root / "devices" / "d1"))
    process = NodeProcess(root, settings=FAST_UPDATES).start()
    yield process
    process.stop()


@pytest.fixture
async def client(node):
    async with SignedClient(node.url) as signed:
        yield signed


async def test_a_container_is_created_merged_described_and_deleted_only_when_empty(client):
    containers = RoleClient(client, "container")
    name = fresh("c")
    created = await containers.put(
        "AUTH_a", name, timestamp_text=ts(), headers={"X-Container-Meta-Color": "red"}
    )
    assert created.status == 201
    again = await containers.put("AUTH_a", name, timestamp_text=ts(), headers={"X-Container-Meta-Size": "L"})
    assert again.status == 202
    head = await containers.request("HEAD", "AUTH_a", name)
    assert head.status == 204
    assert head.headers["X-Container-Object-Count"] == "0" and head.headers["X-Container-Bytes-Used"] == "0"
    assert head.headers["X-Container-Meta-Color"] == "red" and head.headers["X-Container-Meta-Size"] == "L"
    assert head.headers["X-Backend-Storage-Policy-Index"] == "0"
    assert head.headers["X-Timestamp"] == created.headers.get("X-Timestamp", head.headers["X-Timestamp"])
    other_policy = await containers.put(
        "AUTH_a", name, timestamp_text=ts(), headers={"X-Backend-Storage-Policy-Index": "1"}
    )
    assert other_policy.status == 409
    stale_meta = ts()
    posted = await containers.request(
        "POST", "AUTH_a", name, headers={"X-Timestamp": ts(), "X-Container-Meta-Color": ""}
    )
    assert posted.status == 204
    older = await containers.request(
        "POST", "AUTH_a", name, headers={"X-Timestamp": stale_meta, "X-Container-Meta-Color": "blue"}
    )
    assert older.status == 204
    head = await containers.request("HEAD", "AUTH_a", name)
    assert "X-Container-Meta-Color" not in head.headers  # the newer removal wins over the older set

    assert (await containers.put_entry("AUTH_a", name, "o", timestamp_text=ts(), size=5)).status == 201
    refused = await containers.delete("AUTH_a", name, timestamp_text=ts())
    assert refused.status == 409 and refused.headers["X-Container-Object-Count"] == "1"
    assert (await containers.delete("AUTH_a", name, "o", timestamp_text=ts())).status == 201
    deleted_at = ts()
    assert (await containers.delete("AUTH_a", name, timestamp_text=deleted_at)).status == 204
    gone = await containers.request("HEAD", "AUTH_a", name)
    assert gone.status == 404 and gone.headers["X-Backend-Timestamp"] == deleted_at
    assert (
        await containers.put("AUTH_a", name, timestamp_text=stale_meta)
    ).status == 409  # older than the delete
    assert (await containers.put_entry("AUTH_a", name, "p", timestamp_text=ts())).status == 404
    assert (await containers.put("AUTH_a", name, timestamp_text=ts())).status == 201  # re-created


async def test_entry_updates_out_of_order_end_in_the_newest_state(client):
    containers = RoleClient(client, "container")
    name = fresh("order")
    assert (await containers.put("AUTH_a", name, timestamp_text=ts())).status == 201
    first, second, third = ts(), ts(), ts()
    assert (await containers.delete("AUTH_a", name, "x", timestamp_text=second)).status == 201
    late_put = await containers.put_entry("AUTH_a", name, "x", timestamp_text=first, size=10)
    assert late_put.status == 202  # superseded: the delete is newer
    assert await containers.listing("AUTH_a", name) == []
    internal = await containers.listing("AUTH_a", name, internal=True)
    assert internal == [{"name": "x", "timestamp": second, "deleted": True}]
    assert (await containers.put_entry("AUTH_a", name, "x", timestamp_text=third, size=10)).status == 201
    [entry] = await containers.listing("AUTH_a", name)
    assert entry["name"] == "x" and entry["bytes"] == 10 and entry["hash"] == "e"
    assert entry["content_type"] == "text/plain" and entry["last_modified"].startswith("2023-11-14T22:13:")
    head = await containers.request("HEAD", "AUTH_a", name)
    assert head.headers["X-Container-Object-Count"] == "1" and head.headers["X-Container-Bytes-Used"] == "10"


async def test_stats_are_exact_after_concurrent_puts_and_deletes(client):
    containers = RoleClient(client, "container")
    name = fresh("stats")
    assert (await containers.put("AUTH_a", name, timestamp_text=ts())).status == 201
    rng = random.Random(6)
    operations = []
    for _ in range(600):
        obj = f"o{rng.randrange(60)}"
        operations.append((obj, ts(), rng.random() < 0.4, rng.randrange(1000)))
    rng.shuffle(operations)  # arrival order differs from timestamp order
    answers = await asyncio.gather(
        *(
            containers.delete("AUTH_a", name, obj, timestamp_text=stamp)
            if deleted
            else containers.put_entry("AUTH_a", name, obj, timestamp_text=stamp, size=size)
            for obj, stamp, deleted, size in operations
        )
    )
    assert {answer.status for answer in answers} <= {201, 202}
    newest: dict[str, tuple[str, bool, int]] = {}
    for obj, stamp, deleted, size in operations:
        if obj not in newest or newest[obj][0] < stamp:
            newest[obj] = (stamp, deleted, size)
    live = {obj: size for obj, (_stamp, deleted, size) in newest.items() if not deleted}
    listing = await containers.listing("AUTH_a", name)
    assert {entry["name"]: entry["bytes"] for entry in listing} == live
    head = await containers.request("HEAD", "AUTH_a", name)
    assert int(head.headers["X-Container-Object-Count"]) == len(live)
    assert int(head.headers["X-Container-Bytes-Used"]) == sum(live.values())


async def test_entries_batched_in_one_commit_keep_exact_stats_even_when_the_batch_is_redone(tmp_path: Path):
    """Entry updates of one batch share their container's record until it is written once at
    the end; a failed change in the batch makes it run again change by change, to the same stats."""
    store = await DeviceStore.open(
        tmp_path, DeviceConfig(free_space_reserve_bytes=0), cluster_fingerprint=FINGERPRINT, device="d1"
    )
    keyspaces, other = Keyspaces(store), Keyspaces(store)
    await keyspaces.put(CONTAINER, 0, "AUTH_a", "c", Timestamp(1), metadata={})

    def refused(txn):
        raise Conflict("refused", timestamp=Timestamp(1))

    async def batch(entries: list[ObjectEntry], *, fail: bool) -> None:
        # Half through a second Keyspaces of the same store: both see what the batch keeps.
        updates = [
            (keyspaces if index % 2 else other).update_object(0, "AUTH_a", "c", entry)
            for index, entry in enumerate(entries)
        ]
        outcomes = await in_one_batch(store, [*updates, *([store.submit(refused)] if fail else [])])
        assert all(outcome is True for outcome in outcomes[: len(entries)])

    try:
        await batch(
            [ObjectEntry(f"o{i}", Timestamp(10 + i), False, 100 + i, "e", "t") for i in range(8)], fail=False
        )
        assert store.stats.isolated_batches == 0
        await batch(
            [
                ObjectEntry("o1", Timestamp(30), True, 0, "", ""),
                ObjectEntry("o9", Timestamp(31), False, 7, "e", "t"),
            ]
            + [ObjectEntry(f"o{i}", Timestamp(40 + i), False, 1, "e", "t") for i in (2, 3)],
            fail=True,
        )
        assert store.stats.isolated_batches == 1
        info = await keyspaces.head(CONTAINER, 0, "AUTH_a", "c")
        live = {f"o{i}": 100 + i for i in range(8)} | {"o9": 7, "o2": 1, "o3": 1}
        del live["o1"]
        assert (info.object_count, info.bytes_used) == (len(live), sum(live.values()))
    finally:
        await store.close()


async def children_stored(store: DeviceStore, prefix: bytes, *db_names: bytes) -> tuple[int, ...]:
    """How many keys under `prefix` each of the store's keyspaces `db_names` holds."""

    def count(txn, db_name: bytes) -> int:
        with txn.cursor(db=store.db(db_name)) as cursor:
            if not cursor.set_range(prefix):
                return 0
            return sum(1 for key in cursor.iternext(values=False) if key.startswith(prefix))

    return await store.read(lambda txn: tuple(count(txn, db_name) for db_name in db_names))


async def test_tombstones_are_kept_apart_so_that_listings_never_step_over_them(tmp_path: Path):
    """A deleted entry lives in a keyspace of its own: a public listing reads the live entries
    alone (as fast among 30,000 tombstones as among none), an internal one merges both in name
    order, and an entry moves between the two as it is deleted and put again. A tombstone that
    a device of format 2 kept among the live entries stays hidden, and moves on its next update."""
    store = await DeviceStore.open(
        tmp_path, DeviceConfig(free_space_reserve_bytes=0), cluster_fingerprint=FINGERPRINT, device="d1"
    )
    keyspaces = Keyspaces(store)
    prefix = info_key(0, "AUTH_a", "c")

    def name(index: int) -> str:
        return f"o-{index:05d}"

    async def stored_in() -> tuple[int, int]:
        return await children_stored(store, prefix, b"container_objects", b"container_tombstones")

    async def listing(*, tombstones: bool, marker: bytes = b"") -> list[tuple[str, bool]]:
        _info, rows = await keyspaces.listing(
            CONTAINER, 0, "AUTH_a", "c", ListingQuery(marker=marker), tombstones=tombstones
        )
        return [(row[0].decode(), entry_is_live(row[1])) for row in rows]

    try:
        await keyspaces.put(CONTAINER, 0, "AUTH_a", "c", Timestamp(1), metadata={})
        lives = [index for index in range(30_500) if index % 61 == 0]  # 500, among the tombstones
        await keyspaces.update_objects(
            0, "AUTH_a", "c", [ObjectEntry(name(i), Timestamp(2), False, 1, "e", "t") for i in lives]
        )
        deleted = [index for index in range(30_500) if index % 61]
        for start in range(0, len(deleted), 5_000):
            entries = [
                ObjectEntry(name(i), Timestamp(3), True, 0, "", "") for i in deleted[start : start + 5_000]
            ]
            await keyspaces.update_objects(0, "AUTH_a", "c", entries)
        assert await stored_in() == (500, 30_000)
        assert await listing(tombstones=False) == [(name(i), True) for i in lives]
        spent_s = []
        for _ in range(5):  # the least of five: a stray fold of the committer's is not the listing's
            started_s = time.process_time()
            await listing(tombstones=False)
            spent_s.append(time.process_time() - started_s)
        assert min(spent_s) < 0.015, f"{min(spent_s):.4f} CPU seconds to list 500 entries"
        everything = sorted([(name(i), True) for i in lives] + [(name(i), False) for i in deleted])
        assert await listing(tombstones=True) == everything[:10_000]
        assert await listing(tombstones=True, marker=everything[-10_001][0].encode()) == everything[-10_000:]

        await keyspaces.update_object(
            0, "AUTH_a", "c", ObjectEntry(name(1), Timestamp(4), False, 5, "e", "t")
        )
        await keyspaces.update_object(0, "AUTH_a", "c", ObjectEntry(name(0), Timestamp(4), True, 0, "", ""))
        assert await stored_in() == (500, 30_000)
        assert (await listing(tombstones=False))[:2] == [(name(1), True), (name(61), True)]

        # As format 2 stored a tombstone: among the live entries.
        key = prefix + keycodec.name_part(b"legacy")
        tombstone = encode_entry(ObjectEntry("legacy", Timestamp(5), True, 0, "", ""), hashed_key=False)
        await store.submit(lambda txn: (txn.put(key, tombstone, db=store.db(b"container_objects")), []))
        assert await stored_in() == (501, 30_000)
        assert "legacy" not in dict(await listing(tombstones=False))
        assert ("legacy", False) in await listing(tombstones=True, marker=b"l")
        asked = [name(61), "nothing", "legacy", name(2), name(0)]
        _info, found = await keyspaces.children(CONTAINER, 0, "AUTH_a", "c", asked)
        assert [(row[0].decode(), entry_is_live(row[1])) for row in found] == [
            (name(61), True),
            ("legacy", False),  # found among the live entries, as format 2 left it
            (name(2), False),
            (name(0), False),
        ]
        assert not await keyspaces.update_object(
            0, "AUTH_a", "c", ObjectEntry("legacy", Timestamp(4), False, 1, "e", "t")
        )
        await keyspaces.update_object(0, "AUTH_a", "c", ObjectEntry("legacy", Timestamp(6), True, 0, "", ""))
        assert await stored_in() == (500, 30_001)
        await keyspaces.update_object(
            0, "AUTH_a", "c", ObjectEntry("legacy", Timestamp(7), False, 9, "e", "t")
        )
        assert await stored_in() == (501, 30_000)
        assert ("legacy", True) in await listing(tombstones=False, marker=b"l")
        info = await keyspaces.head(CONTAINER, 0, "AUTH_a", "c")
        assert (info.object_count, info.bytes_used) == (501, 499 + 5 + 9)
    finally:
        await store.close()


async def test_rows_of_deleted_containers_are_kept_apart_in_their_account(tmp_path: Path):
    """An account lists its live containers without stepping over the rows of deleted ones; an
    internal listing merges both; a row moves as its container is deleted or put again."""
    store = await DeviceStore.open(
        tmp_path, DeviceConfig(free_space_reserve_bytes=0), cluster_fingerprint=FINGERPRINT, device="d1"
    )
    keyspaces = Keyspaces(store)
    prefix = info_key(0, "AUTH_a", None)

    def row(index: int, put: int, delete: int) -> ContainerRow:
        return ContainerRow(f"c{index:04d}", Timestamp(put), Timestamp(delete), 1, 10)

    async def listing(*, tombstones: bool) -> list[tuple[str, bool]]:
        _info, rows = await keyspaces.listing(
            ACCOUNT, 0, "AUTH_a", None, ListingQuery(), tombstones=tombstones
        )
        return [(row[0].decode(), row_is_live(row[1])) for row in rows]

    try:
        await keyspaces.put(ACCOUNT, 0, "AUTH_a", None, Timestamp(1), metadata={})
        rows = [row(i, 2, 1 if i % 20 == 0 else 3) for i in range(2_000)]  # 100 live
        await asyncio.gather(*(keyspaces.update_container_row(0, "AUTH_a", each) for each in rows))
        stored = await children_stored(store, prefix, b"account_containers", b"account_tombstones")
        assert stored == (100, 1_900)
        assert await listing(tombstones=False) == [(each.name, True) for each in rows if each.live]
        assert await listing(tombstones=True) == [(each.name, each.live) for each in rows]

        await keyspaces.update_container_row(0, "AUTH_a", row(1, 4, 3))  # put again after its delete
        await keyspaces.update_container_row(0, "AUTH_a", row(0, 2, 5))  # deleted
        stored = await children_stored(store, prefix, b"account_containers", b"account_tombstones")
        assert stored == (100, 1_900)
        assert (await listing(tombstones=False))[:2] == [("c0001", True), ("c0020", True)]
        info = await keyspaces.head(ACCOUNT, 0, "AUTH_a", None)
        assert (info.container_count, info.object_count, info.bytes_used) == (100, 100, 1_000)
    finally:
        await store.close()


async def test_live_listings_and_lookups_give_the_cluster_client_what_it_merges(client):
    """`X-Backend-Listing: live` lists live entries with their timestamps, no tombstones; LOOKUP
    answers the records of the names asked, tombstones included, in the order asked (long names
    too), for containers and accounts alike, and refuses what is not a signed list of names."""
    containers = RoleClient(client, "container")
    name = fresh("lookup")
    assert (await containers.put("AUTH_a", name, timestamp_text=ts())).status == 201
    long_name = "é" * 300 + "/x"  # 602 bytes: a digest key
    x_put, y_put, long_put, z_put, y_deleted = ts(), ts(), ts(), ts(), ts()
    for obj, stamp in (("x", x_put), ("y", y_put), (long_name, long_put), ("z", z_put)):
        assert (await containers.put_entry("AUTH_a", name, obj, timestamp_text=stamp, size=3)).status == 201
    assert (await containers.delete("AUTH_a", name, "y", timestamp_text=y_deleted)).status == 201
    live = await containers.request(
        "GET", "AUTH_a", name, headers={"X-Backend-Listing": "live"}, query="format=xml&limit=2"
    )
    assert live.status == 200 and live.headers["Content-Type"].startswith("application/json")
    assert [(e["name"], e["timestamp"], e.get("deleted")) for e in json.loads(live.body)] == [
        ("x", x_put, None),
        ("z", z_put, None),
    ]

    async def lookup(
        role_client: RoleClient, names: list[str], *path: str, body: bytes | None = None
    ) -> Answer:
        sent = json.dumps(names).encode() if body is None else body
        headers = {
            "X-Backend-Role": role_client.role,
            "X-Backend-Body-Sha256": hashlib.sha256(sent).hexdigest(),
        }
        return await client.request("LOOKUP", role_client.path(*path), headers=headers, body=sent)

    answer = await lookup(containers, ["y", "nothing", long_name, "x"], "AUTH_a", name)
    assert answer.status == 200 and answer.headers["X-Container-Object-Count"] == "3"
    listed = {entry["name"]: entry for entry in await containers.listing("AUTH_a", name)}
    assert json.loads(answer.body) == [
        {"name": "y", "timestamp": y_deleted, "deleted": True},
        listed[long_name] | {"timestamp": long_put},
        listed["x"] | {"timestamp": x_put},
    ]
    other_long = "é" * 300 + "/y"  # shares the long name's key prefix, not its digest
    assert json.loads((await lookup(containers, [other_long], "AUTH_a", name)).body) == []

    accounts = RoleClient(client, "account")
    account = fresh("AUTH_lookup")
    assert (await accounts.put(account, timestamp_text=ts())).status == 201
    row_headers = {"X-Backend-Container-Object-Count": "2", "X-Backend-Container-Bytes-Used": "7"}
    put, deleted = ts(), ts()
    for container, delete in (("live", "0"), ("gone", deleted)):
        headers = row_headers | {"X-Backend-Put-Timestamp": put, "X-Backend-Delete-Timestamp": delete}
        assert (await accounts.request("PUT", account, container, headers=headers)).status == 201
    rows = json.loads((await lookup(accounts, ["gone", "live", "none"], account)).body)
    assert [(row["name"], row["timestamp"], row.get("deleted", False)) for row in rows] == [
        ("gone", deleted, True),
        ("live", put, False),
    ]

    refused = ([], [f"n{i}" for i in range(1_001)], ["a\0b"], ["\ud800"], [["x"]])  # none, too many,
    for names in refused:  # a NUL, a lone surrogate, not a name
        assert (await lookup(containers, names, "AUTH_a", name)).status == 400, names[:2]
    signed = json.dumps(["x"]).encode()
    path = containers.path("AUTH_a", name)
    tampered = {"X-Backend-Role": "container", "X-Backend-Body-Sha256": hashlib.sha256(signed).hexdigest()}
    assert (await client.request("LOOKUP", path, headers=tampered, body=b'["y"]')).status == 422
    unsigned = {"X-Backend-Role": "container"}
    assert (await client.request("LOOKUP", path, headers=unsigned, body=signed)).status == 400
    assert (await lookup(containers, ["x"], "AUTH_a", name, "x")).status == 405
    assert (await lookup(containers, ["x"], "AUTH_a", fresh("missing"))).status == 404


async def test_listings_of_more_than_a_page_follow_markers_to_the_end(client):
    containers = RoleClient(client, "container")
    expected = sorted(BIG_NAMES, key=lambda obj: obj.encode())
    first = await containers.listing("AUTH_a", "big")
    assert len(first) == 10_000  # the default and largest page
    assert [entry["name"] for entry in await containers.list_all("AUTH_a", "big")] == expected
    reverse = await containers.list_all("AUTH_a", "big", reverse="true", limit=9000)
    assert [entry["name"] for entry in reverse] == expected[::-1]

    # Small pages over about 3,000 names: prefix, delimiter and end_marker, forward and reverse.
    nested = [obj for obj in expected if obj.startswith("a/b/c/")]
    assert len(nested) > 1500
    by_sevens = await containers.list_all("AUTH_a", "big", prefix="a/b/c/", limit=7)
    assert [entry["name"] for entry in by_sevens] == nested
    rolled = await containers.list_all("AUTH_a", "big", delimiter="/", limit=50)
    subdirs = {obj[: obj.index("/") + 1] for obj in BIG_NAMES if "/" in obj}
    flat = [obj for obj in BIG_NAMES if "/" not in obj]
    assert [entry.get("subdir", entry.get("name")) for entry in rolled] == sorted(
        [*subdirs, *flat], key=str.encode
    )
    window = await containers.listing("AUTH_a", "big", marker=nested[100], end_marker=nested[113], limit=5)
    assert [entry["name"] for entry in window] == nested[101:106]
    backwards = await containers.listing(
        "AUTH_a", "big", marker=nested[113], end_marker=nested[100], reverse="true"
    )
    assert [entry["name"] for entry in backwards] == nested[101:113][::-1]
    head = await containers.request("HEAD", "AUTH_a", "big")
    assert head.headers["X-Container-Object-Count"] == "10300"


async def test_listing_formats_and_bad_queries(client):
    containers = RoleClient(client, "container")
    name = fresh("fmt")
    assert (await containers.put("AUTH_a", name, timestamp_text=ts())).status == 201
    empty = await containers.request("GET", "AUTH_a", name)
    assert empty.status == 204
    for obj in ("a/1", "a/2", "b & <c>"):
        assert (await containers.put_entry("AUTH_a", name, obj, timestamp_text=ts(), size=3)).status == 201
    plain = await containers.request("GET", "AUTH_a", name)
    assert plain.status == 200 and plain.body == b"a/1\na/2\nb & <c>\n"
    xml = await containers.request("GET", "AUTH_a", name, query="format=xml&delimiter=/")
    assert xml.headers["Content-Type"].startswith("application/xml")
    assert b'<subdir name="a/"><name>a/</name></subdir>' in xml.body
    assert b"<name>b &amp; &lt;c&gt;</name><bytes>3</bytes>" in xml.body
    for query, status in (("limit=10001", 412), ("limit=x", 400), ("format=csv", 400), ("marker=%ff", 400)):
        assert (await containers.request("GET", "AUTH_a", name, query=query)).status == status, query
    internal_delimiter = await containers.request(
        "GET", "AUTH_a", name, headers={"X-Backend-Listing": "internal"}, query="delimiter=/"
    )
    assert internal_delimiter.status == 400
    assert (await containers.request("GET", "AUTH_a", fresh("missing"))).status == 404
    assert (
        await containers.request("POST", "AUTH_a", name, "a/1", headers={"X-Timestamp": ts()})
    ).status == 405
    assert (await containers.put("AUTH_a", name, "x", headers={"X-Backend-Object-Size": "-1"})).status == 400
    assert (
        await client.request("GET", "/d1/0/AUTH_a", headers={"X-Backend-Role": "container"})
    ).status == 400
    assert (await client.request("GET", "/d1/0/AUTH_a", headers={"X-Backend-Role": "bucket"})).status == 400


async def test_containers_report_their_stats_to_their_account_on_this_node_in_place(client, node):
    """The account replica is on the container's own node: its row is merged through the
    engine, with no request to itself (none in the node's request log)."""
    account = fresh("AUTH_stats")
    await check_stats_reports(client, RoleClient(client, "account", partition=3), node, account)
    logged = node.log_path.read_text()
    assert f'"path": "/d1/5/{account}/c1"' in logged  # the container's own requests are logged
    assert f"/d1/3/{account}/c1" not in logged  # its reports went in place


async def test_containers_report_their_stats_to_their_account_on_another_node(client, tmp_path):
    """The account replica is on a second node: reports go over HTTP, signed."""
    other = NodeProcess(tmp_path / "accounts", settings=FAST_UPDATES).start()
    try:
        async with SignedClient(other.url) as account_client:
            account = fresh("AUTH_stats")
            accounts = RoleClient(account_client, "account", partition=3)
            await check_stats_reports(client, accounts, other, account)
        assert f"/d1/3/{account}/c1" in other.log_path.read_text()
    finally:
        other.stop()


async def check_stats_reports(
    client: SignedClient, accounts: RoleClient, account_node: NodeProcess, account: str
):
    """Containers of `client`'s node report to `accounts` (served by `account_node`): rows,
    stats, an account that appears after its first container, a deleted container's row."""
    containers = RoleClient(client, "container", partition=5)
    report_to = {
        "X-Backend-Account-Host": account_node.host,
        "X-Backend-Account-Device": "d1",
        "X-Backend-Account-Partition": "3",
    }
    assert (await containers.put(account, "early", timestamp_text=ts(), headers=report_to)).status == 201
    assert (
        await accounts.put(account, timestamp_text=ts(), headers={"X-Account-Meta-Owner": "me"})
    ).status == 201
    for container in ("c1", "c2"):
        assert (
            await containers.put(account, container, timestamp_text=ts(), headers=report_to)
        ).status == 201
    for index in range(3):
        assert (
            await containers.put_entry(account, "c1", f"o{index}", timestamp_text=ts(), size=100)
        ).status == 201

    async def reported() -> bool:
        rows = await accounts.listing(account)
        return [(row["name"], row["count"], row["bytes"]) for row in rows] == [
            ("c1", 3, 300),
            ("c2", 0, 0),
            ("early", 0, 0),
        ]

    await wait_until(reported, timeout_s=10)  # the account was created after "early" first reported
    head = await accounts.request("HEAD", account)
    assert head.headers["X-Account-Container-Count"] == "3"
    assert head.headers["X-Account-Object-Count"] == "3" and head.headers["X-Account-Bytes-Used"] == "300"
    assert head.headers["X-Account-Meta-Owner"] == "me"
    refused = await accounts.delete(account, timestamp_text=ts())
    assert refused.status == 409 and refused.headers["X-Account-Container-Count"] == "3"
    assert (await containers.delete(account, "c2", timestamp_text=ts())).status == 204

    async def row_gone() -> bool:
        return [row["name"] for row in await accounts.listing(account)] == ["c1", "early"]

    await wait_until(row_gone, timeout_s=10)
    internal = await accounts.listing(account, internal=True)
    assert [row.get("deleted", False) for row in internal] == [False, True, False]


async def test_system_accounts_create_their_containers_and_accounts_on_first_update(client):
    accounts, containers = RoleClient(client, "account"), RoleClient(client, "container")
    assert (await containers.put_entry("AUTH_user", fresh("none"), "o", timestamp_text=ts())).status == 404
    assert (
        await containers.put_entry(".identity", "users", "alice", timestamp_text=ts(), size=7)
    ).status == 201
    assert [entry["name"] for entry in await containers.listing(".identity", "users")] == ["alice"]
    row = {
        "X-Backend-Put-Timestamp": ts(),
        "X-Backend-Delete-Timestamp": "0",
        "X-Backend-Container-Object-Count": "1",
    }
    row["X-Backend-Container-Bytes-Used"] = "7"
    assert (await accounts.put(".identity", "users", headers=row)).status == 201
    assert (await accounts.put("AUTH_nobody", "users", headers=row)).status == 404
    head = await accounts.request("HEAD", ".identity")
    assert head.status == 204 and head.headers["X-Account-Bytes-Used"] == "7"


async def test_replicate_answers_each_roles_suffix_hashes(client):
    containers = RoleClient(client, "container", partition=77)
    assert (await containers.put("AUTH_r", "c", timestamp_text=ts())).status == 201
    answers = {}
    for role in ("object", "container", "account"):
        answer = await client.request(
            "POST", "/d1/77", headers={"X-Backend-Verb": "REPLICATE", "X-Backend-Role": role}
        )
        assert answer.status == 200
        answers[role] = answer.body
    assert answers["container"] != b"{}" and answers["object"] == b"{}" and answers["account"] == b"{}"
    assert timestamp()  # the helper's wall-clock form still parses (used by other tests)


async def test_stats_reports_are_handed_out_in_turn_past_where_the_last_pass_stopped(tmp_path):
    """Passes of a few reports each go round all waiting containers: none waits forever behind
    as many others whose account replica does not answer (their reports stay pending)."""
    store = await DeviceStore.open(
        tmp_path, DeviceConfig(free_space_reserve_bytes=0), cluster_fingerprint=FINGERPRINT, device="d1"
    )
    try:
        keyspaces = Keyspaces(store)
        account_replica = Replica("127.0.0.1:6203", "d1", 3)
        for name in "abcde":
            await keyspaces.put(
                CONTAINER, 0, "AUTH_r", name, Timestamp(1), metadata={}, account_replica=account_replica
            )

        everyone = [info.container for _, info in await keyspaces.due_reports(limit=10)]  # key order
        assert sorted(everyone) == list("abcde")
        passes, after = [], None
        for _ in range(4):
            due = await keyspaces.due_reports(limit=2, after=after)
            passes.append([info.container for _, info in due])
            after = due[-1][0]
        k = everyone
        assert passes == [[k[0], k[1]], [k[2], k[3]], [k[4], k[0]], [k[1], k[2]]]
    finally:
        await store.close()
