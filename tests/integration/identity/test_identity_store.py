"""The sharded store's rules: name claims, stale claims, expiry pruning, prefix reads in one shard.

Each test's store is a real cluster's Records (the session's development cluster) in a
system account of its own.
"""

from __future__ import annotations

import pytest
from dolmen.identity.errors import EntityConflict, EntityNotFound
from dolmen.identity.store import IdentityStore, name_claim_key, shard_of
from helpers.identity import store_account

from dolmen.cluster import Records


@pytest.fixture
def records(cluster_client) -> Records:
    return Records(cluster_client, account=store_account())


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


async def test_a_name_is_unique_per_domain_and_free_again_after_delete_or_rename(records: Records) -> None:
    store = IdentityStore(records)
    await store.create_named("users", {"id": "u1", "name": "alice", "domain_id": "d1"}, scope="d1")
    await store.create_named("users", {"id": "u2", "name": "alice", "domain_id": "d2"}, scope="d2")
    with pytest.raises(EntityConflict):
        await store.create_named("users", {"id": "u3", "name": "alice", "domain_id": "d1"}, scope="d1")
    assert (await store.find_by_name("users", "d1", "alice"))["id"] == "u1"  # type: ignore[index]
    with pytest.raises(EntityNotFound):
        await store.get("users", "u3")  # the losing creation left nothing behind
    await store.delete_named("users", await store.get("users", "u1"), scope="d1")
    await store.create_named("users", {"id": "u4", "name": "alice", "domain_id": "d1"}, scope="d1")


async def test_a_claim_whose_entity_never_appeared_is_taken_over_only_after_the_grace_time(
    records: Records,
) -> None:
    clock = Clock()
    store = IdentityStore(records, claim_grace_s=30.0, clock=clock)
    key = name_claim_key("projects", "d", "orphan")
    await store.put_new("names", key, {"id": "dead", "collection": "projects", "claimed_at_s": clock.now_s})
    with pytest.raises(EntityConflict):
        await store.create_named("projects", {"id": "p1", "name": "orphan", "domain_id": "d"}, scope="d")
    clock.now_s += 31
    await store.create_named("projects", {"id": "p1", "name": "orphan", "domain_id": "d"}, scope="d")
    assert (await store.find_by_name("projects", "d", "orphan"))["id"] == "p1"  # type: ignore[index]


async def test_expired_entries_leave_their_shard_with_the_next_write_to_it(records: Records) -> None:
    store = IdentityStore(records)
    same_shard = [
        key
        for key in (f"k{i}" for i in range(200))
        if shard_of("revocations", key) == shard_of("revocations", "k0")
    ]
    old, new = same_shard[0], same_shard[1]
    await store.put_new("revocations", old, {"expires_at_s": 5.0})
    await store.put_new(
        "revocations", new, {"expires_at_s": 50.0}, expired=lambda doc: doc["expires_at_s"] <= 10.0
    )
    assert await store.find("revocations", old) is None
    assert await store.find("revocations", new) is not None


async def test_keys_sharing_a_first_part_share_a_shard_and_list_by_prefix(records: Records) -> None:
    store = IdentityStore(records)
    for project in ("p1", "p2"):
        for role in ("r1", "r2"):
            key = f"u1.{project}.{role}"
            assert shard_of("assignments", key) == shard_of("assignments", "u1")
            await store.put_new("assignments", key, {"project_id": project, "role_id": role})
    await store.put_new("assignments", "u2.p1.r1", {"project_id": "p1", "role_id": "r1"})
    assert [doc["role_id"] for doc in await store.list("assignments", prefix="u1.p2.")] == ["r1", "r2"]
    assert len(await store.list("assignments")) == 5
