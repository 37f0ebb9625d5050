"""Compare-and-swap and records against a real 3-node cluster: one winner, exact counters, one node down."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
from helpers.cluster import nodes_down, unique

from dolmen.cluster import (
    ClusterClient,
    QuorumNotReached,
    RecordExists,
    RecordNotFound,
    Records,
    RecordTooLarge,
    VersionConflict,
)
from dolmen.cluster.registers import Ballot, Envelope, format_ballot
from dolmen.limits import REGISTER_OPERATION_ID_BYTES

CLIENTS = 4  # separate clients: separate proposers, as several proxy processes would be
TASKS_PER_CLIENT = 4
INCREMENTS_PER_TASK = 3


def increment(current: bytes | None) -> bytes:
    return str(int(current or b"0") + 1).encode()


async def clients_of(dev_cluster, count: int) -> list[ClusterClient]:
    return [await ClusterClient.open(dev_cluster.client_config()) for _ in range(count)]


async def test_a_register_reads_what_the_last_cas_wrote(cluster_client):
    key = unique("reg")
    assert await cluster_client.read_register(key) is None
    assert await cluster_client.cas(key, lambda current: b"one") == b"one"
    assert await cluster_client.cas(key, lambda current: current + b"+two") == b"one+two"
    assert await cluster_client.read_register(key) == b"one+two"
    assert await cluster_client.cas(key, lambda current: None) is None
    assert await cluster_client.read_register(key) is None


async def acceptor_states(client: ClusterClient, key: str, count: int = 3) -> list[tuple[str, str]]:
    """The first `count` acceptors' (promised, accepted) ballots, asked by READ."""
    states = []
    for node, path in client.proposer.acceptors(key.encode())[:count]:
        answer = await client.proposer.transport.request(
            node, "GET", path, headers={"X-Backend-Verb": "READ"}
        )
        assert answer.status == 200
        states.append(
            (
                answer.headers["X-Backend-Register-Promised-Ballot"],
                answer.headers["X-Backend-Register-Accepted-Ballot"],
            )
        )
    return states


async def accept_on_one(client: ClusterClient, key: str, acceptor: int, ballot: Ballot, value: bytes) -> None:
    """What a proposer that died after one ACCEPT leaves behind: `value` accepted by one acceptor."""
    node, path = client.proposer.acceptors(key.encode())[acceptor]
    envelope = Envelope(value, (secrets.token_bytes(REGISTER_OPERATION_ID_BYTES),)).encode()
    headers = {"X-Backend-Verb": "ACCEPT", "X-Backend-Register-Ballot": format_ballot(ballot)}
    answer = await client.proposer.transport.request(node, "POST", path, headers=headers, body=envelope)
    assert answer.status == 200


def node_index(dev_cluster, client: ClusterClient, key: str, acceptor: int) -> int:
    node, _ = client.proposer.acceptors(key.encode())[acceptor]
    return dev_cluster.ports.index(int(node.rsplit(":", 1)[1]))


async def test_reads_change_no_acceptor_state(cluster_client):
    """A read neither promises nor accepts: nothing to sync, no ballot for other readers to beat."""
    never_written = unique("reg")
    before = await acceptor_states(cluster_client, never_written)
    assert await cluster_client.read_register(never_written) is None
    assert await acceptor_states(cluster_client, never_written) == before == [("0", "0")] * 3
    key = unique("reg")
    await cluster_client.cas(key, lambda current: b"chosen")
    before = await acceptor_states(cluster_client, key)
    assert await asyncio.gather(*(cluster_client.read_register(key) for _ in range(5))) == [b"chosen"] * 5
    assert await acceptor_states(cluster_client, key) == before


async def test_a_read_finishes_a_write_that_reached_one_acceptor(dev_cluster, cluster_client):
    """The acceptors that answer disagree: the read runs a round, which adopts the newest value."""
    key = unique("reg")
    await cluster_client.cas(key, lambda current: b"old")
    async with nodes_down(dev_cluster, node_index(dev_cluster, cluster_client, key, 2)):
        await accept_on_one(cluster_client, key, 0, Ballot(2**40, "dead-proposer"), b"new")
        assert await cluster_client.read_register(key) == b"new"
        settled = await acceptor_states(cluster_client, key, 2)
        assert settled[0][1] == settled[1][1] != "0"  # chosen: both accepted it at one ballot
        assert await cluster_client.read_register(key) == b"new"
        assert await acceptor_states(cluster_client, key, 2) == settled  # that read was a READ
    assert await cluster_client.read_register(key) == b"new"  # the third is behind; a quorum agrees


async def race_creates(dev_cluster, collection: str, key: str) -> list[str]:
    clients = await clients_of(dev_cluster, CLIENTS)
    try:
        outcomes: list[str] = []

        async def attempt(client: ClusterClient, name: str) -> None:
            try:
                await Records(client, ".test").create(collection, key, {"owner": name})
                outcomes.append(name)
            except RecordExists:
                pass

        async with asyncio.TaskGroup() as group:
            for index, client in enumerate(clients):
                for task in range(TASKS_PER_CLIENT):
                    group.create_task(attempt(client, f"c{index}t{task}"))
        record = await Records(clients[0], ".test").get(collection, key)
        assert record is not None and record.version == 1
        assert outcomes == [record.doc["owner"]]  # exactly one winner, and it is the stored one
        return outcomes
    finally:
        for client in clients:
            await client.close()


async def count_concurrently(dev_cluster, key: str) -> int:
    clients = await clients_of(dev_cluster, CLIENTS)
    try:

        async def task(client: ClusterClient) -> None:
            for _ in range(INCREMENTS_PER_TASK):
                await client.cas(key, increment)

        async with asyncio.TaskGroup() as group:
            for client in clients:
                for _ in range(TASKS_PER_CLIENT):
                    group.create_task(task(client))
        return int(await clients[0].read_register(key) or b"0")
    finally:
        for client in clients:
            await client.close()


async def test_racing_creates_have_exactly_one_winner(dev_cluster):
    await race_creates(dev_cluster, "buckets", unique("bucket"))


async def test_counters_incremented_by_concurrent_tasks_end_exact(dev_cluster):
    assert (
        await count_concurrently(dev_cluster, unique("counter"))
        == CLIENTS * TASKS_PER_CLIENT * INCREMENTS_PER_TASK
    )


async def test_exact_counters_and_one_winner_hold_with_one_node_down(dev_cluster):
    async with nodes_down(dev_cluster, 1):
        total = await count_concurrently(dev_cluster, unique("counter"))
        assert total == CLIENTS * TASKS_PER_CLIENT * INCREMENTS_PER_TASK
        await race_creates(dev_cluster, "buckets", unique("bucket"))


async def test_with_two_nodes_down_a_cas_fails_cleanly_and_changes_nothing(dev_cluster, cluster_client):
    key = unique("reg")
    await cluster_client.cas(key, lambda current: b"before")
    async with nodes_down(dev_cluster, 0, 2):
        with pytest.raises(QuorumNotReached):
            await cluster_client.cas(key, lambda current: b"after")
        with pytest.raises(QuorumNotReached):
            await cluster_client.read_register(key)
    # The PREPARE found no quorum, so nothing was proposed: the old value stands.
    assert await cluster_client.read_register(key) == b"before"


async def test_records_check_versions_and_sizes(cluster_client):
    records = Records(cluster_client, ".test")
    key = unique("user")
    created = await records.create("users", key, {"name": "ada"})
    assert (created.version, created.doc) == (1, {"name": "ada"})
    with pytest.raises(RecordExists):
        await records.create("users", key, {"name": "eve"})
    updated = await records.update("users", key, {"name": "ada", "admin": True}, version=1)
    assert updated.version == 2
    with pytest.raises(VersionConflict):
        await records.update("users", key, {"name": "stale"}, version=1)
    assert await records.get("users", key) == updated
    with pytest.raises(RecordTooLarge):
        await records.update("users", key, {"blob": "x" * 70_000}, version=2)
    with pytest.raises(VersionConflict):
        await records.delete("users", key, version=1)
    await records.delete("users", key, version=2)
    assert await records.get("users", key) is None
    with pytest.raises(RecordNotFound):
        await records.delete("users", key)
    with pytest.raises(RecordNotFound):
        await records.update("users", key, {}, version=2)
    assert json.loads(json.dumps(updated.doc)) == {"name": "ada", "admin": True}


async def test_records_list_in_key_order_and_skip_deleted_ones(cluster_client):
    records = Records(cluster_client, ".test")
    collection = unique("coll")
    for key in ("k3", "k1", "other", "k2"):
        await records.create(collection, key, {"key": key})
    await records.delete(collection, "k2")
    listed = await records.list(collection, prefix="k")
    assert [(record.key, record.doc) for record in listed] == [("k1", {"key": "k1"}), ("k3", {"key": "k3"})]
    assert [record.key for record in await records.list(collection)] == ["k1", "k3", "other"]
    assert await records.list(unique("empty")) == []
