"""Accounts, containers and listings through the cluster client against a real 3-node cluster."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest
from dolmen.storage_node.timestamps import Timestamp
from helpers.cluster import unique

from dolmen.cluster import (
    ContainerNotEmpty,
    ListingQuery,
    NotFound,
    ObjectEntry,
    Subdir,
)
from dolmen.cluster.placement import node_of

NAMES = ["a", "b/1", "b/2", "b/3/x", "c", "d\u00e9", "e"]
ACCOUNT_STATS_WAIT_S = 30.0  # container replicas report to the account within account_update_interval_s


async def one_chunk(data: bytes):
    yield data


async def filled_container(client, account: str) -> str:
    container = unique("list")
    assert await client.put_container(account, container, metadata={"Color": "red"})
    for name in NAMES:
        await client.put_object(account, container, name, one_chunk(name.encode()), content_type="text/plain")
    return container


def names_of(listing) -> list[str]:
    return [entry.name for entry in listing.entries]


async def test_listings_page_roll_up_and_reverse(cluster_client):
    account = unique("AUTH")
    container = await filled_container(cluster_client, account)
    listing = await cluster_client.list_objects(account, container, ListingQuery())
    assert names_of(listing) == NAMES and not listing.truncated
    first = listing.entries[0]
    assert isinstance(first, ObjectEntry) and (first.bytes, first.content_type) == (1, "text/plain")
    rolled = await cluster_client.list_objects(account, container, ListingQuery(delimiter="/"))
    assert [(type(e), e.name) for e in rolled.entries] == [
        (ObjectEntry, "a"),
        (Subdir, "b/"),
        (ObjectEntry, "c"),
        (ObjectEntry, "d\u00e9"),
        (ObjectEntry, "e"),
    ]
    inner = await cluster_client.list_objects(account, container, ListingQuery(prefix="b/", delimiter="/"))
    assert [e.name for e in inner.entries] == ["b/1", "b/2", "b/3/"]
    pages, marker = [], ""
    while True:
        page = await cluster_client.list_objects(account, container, ListingQuery(marker=marker, limit=2))
        pages.append(names_of(page))
        if not page.truncated:
            break
        marker = page.entries[-1].name
    assert sum(pages, []) == NAMES and all(len(page) <= 2 for page in pages)
    backwards = await cluster_client.list_objects(
        account, container, ListingQuery(reverse=True, end_marker="b")
    )
    assert names_of(backwards) == NAMES[::-1][: NAMES[::-1].index("b/1") + 1]
    await cluster_client.delete_object(account, container, "c")
    assert "c" not in names_of(await cluster_client.list_objects(account, container, ListingQuery()))


async def test_containers_count_refuse_deletes_while_full_and_accounts_list_them(cluster_client):
    account = unique("AUTH")
    container = await filled_container(cluster_client, account)
    info = await cluster_client.head_container(account, container)
    assert info.object_count == len(NAMES) and info.metadata == {"color": "red"} and info.policy_index == 0
    assert (await cluster_client.list_objects(account, container, ListingQuery(limit=1))).info == info
    await cluster_client.post_container(account, container, {"Color": "", "Size": "xl"})
    assert (await cluster_client.head_container(account, container)).metadata == {"size": "xl"}
    with pytest.raises(ContainerNotEmpty):
        await cluster_client.delete_container(account, container)
    deadline = time.monotonic() + ACCOUNT_STATS_WAIT_S
    while True:  # container stats reach the account asynchronously, within a stated bound
        listing = await cluster_client.list_containers(account, ListingQuery())
        if [(e.name, e.count) for e in listing.entries] == [(container, len(NAMES))]:
            break
        assert time.monotonic() < deadline, listing
        await asyncio.sleep(0.2)
    for name in NAMES:
        await cluster_client.delete_object(account, container, name)
    await cluster_client.delete_container(account, container)
    with pytest.raises(NotFound):
        await cluster_client.head_container(account, container)
    with pytest.raises(NotFound):
        await cluster_client.list_objects(account, container, ListingQuery())
    with pytest.raises(NotFound):
        await cluster_client.put_object(account, container, "late", one_chunk(b"x"), content_type="a/b")
    await cluster_client.post_account(account, {"Quota": "10"})
    assert (await cluster_client.head_account(account)).metadata == {"quota": "10"}


async def test_missing_accounts_and_containers_are_not_found(cluster_client):
    with pytest.raises(NotFound):
        await cluster_client.head_account(unique("AUTH"))
    with pytest.raises(NotFound):
        await cluster_client.list_objects(unique("AUTH"), "none", ListingQuery())


async def test_an_account_lists_a_created_container_and_drops_a_deleted_one_at_once(cluster_client):
    """A container PUT or DELETE reports to its account replica before it answers (object
    counts may still lag): S3's ListBuckets right after CreateBucket or DeleteBucket is exact."""
    account = unique("AUTH")
    names = [unique("c") for _ in range(3)]
    for name in names:
        assert await cluster_client.put_container(account, name)
    listed = await cluster_client.list_containers(account, ListingQuery())
    assert sorted(entry.name for entry in listed.entries) == sorted(names)
    await cluster_client.delete_container(account, names[1])
    listed = await cluster_client.list_containers(account, ListingQuery())
    assert sorted(entry.name for entry in listed.entries) == sorted([names[0], names[2]])


def entry(name: str, seconds: float, *, deleted: bool = False) -> dict:
    stamp = Timestamp.from_seconds(seconds).internal
    return {
        "name": name,
        "timestamp": stamp,
        "deleted": deleted,
        "size": 1,
        "etag": "e",
        "content_type": "t/t",
    }


async def update_replicas(
    client, account: str, container: str, replicas: list[int], entries: list[dict]
) -> None:
    """Object entries written straight to some of a container's replicas (UPDATE, 256 at a time),
    as object servers' container updates leave them."""
    ring, partition, path_of = client.containers._container_place(account, container)
    devices = ring.primaries(partition)
    for start in range(0, len(entries), 256):
        body = json.dumps(entries[start : start + 256]).encode()
        headers = {
            "X-Backend-Role": "container",
            "X-Backend-Verb": "UPDATE",
            "X-Timestamp": max(Timestamp.parse(e["timestamp"]) for e in entries).internal,
            "X-Backend-Body-Sha256": hashlib.sha256(body).hexdigest(),
        }
        for index in replicas:
            device = devices[index]
            answer = await client.transport.request(
                node_of(device), "POST", path_of(device), headers=headers, body=body
            )
            assert answer.status == 204, answer


async def test_a_listing_never_reads_the_tombstones_its_replicas_agree_on(cluster_client):
    """20 live objects among 20,000 deleted ones list in one full page: every replica lists its
    live entries alone (before, a listing read each replica's tombstones, up to
    listing_pages_max pages, and answered a short truncated page here)."""
    account = unique("AUTH")
    container = unique("churn")
    assert await cluster_client.put_container(account, container)
    now = time.time()
    live = [f"o-{index:05d}" for index in range(0, 20_000, 1_000)]
    entries = [entry(f"o-{index:05d}", now + 1, deleted=True) for index in range(20_000)]
    entries += [entry(name, now + 2) for name in live]
    await update_replicas(cluster_client, account, container, [0, 1, 2], entries)
    listing = await cluster_client.list_objects(account, container, ListingQuery(limit=20))
    assert names_of(listing) == live and not listing.truncated
    backwards = await cluster_client.list_objects(account, container, ListingQuery(limit=5, reverse=True))
    assert names_of(backwards) == live[::-1][:5] and backwards.truncated


async def test_replicas_that_disagree_are_merged_by_their_newest_records(cluster_client):
    """A name one replica lists and another does not is settled by the other's record of it: a
    newer tombstone hides the name, an older one or none leaves it listed. Each pair of the three
    replicas disagrees on some names here, and any pair merges to the same listing."""
    account = unique("AUTH")
    container = unique("split")
    assert await cluster_client.put_container(account, container)
    now = time.time()
    views = {  # name -> its record on replicas 0, 1, 2: (seconds after now, deleted), or None
        "stale": ((1, False), (2, True), (2, True)),  # deleted after replica 0's copy
        "back": ((3, False), (2, True), (3, False)),  # put again after replica 1's delete
        "new": ((1, False), None, (1, False)),  # its update has not reached replica 1 yet
        "gone": ((2, True), (1, False), (2, True)),
        "kept": ((1, False), (1, False), (1, False)),
    }
    for replica in range(3):
        entries = [
            entry(name, now + record[replica][0], deleted=record[replica][1])
            for name, record in views.items()
            if record[replica] is not None
        ]
        await update_replicas(cluster_client, account, container, [replica], entries)
    for _ in range(6):  # (the two replicas asked follow the client's read order)
        listing = await cluster_client.list_objects(account, container, ListingQuery())
        assert names_of(listing) == ["back", "kept", "new"]
    rolled = await cluster_client.list_objects(account, container, ListingQuery(prefix="s", limit=1))
    assert names_of(rolled) == [] and not rolled.truncated
