"""The cluster client with nodes down or killed: handoffs, clean failures, resumed reads."""

from __future__ import annotations

import os

import pytest
from helpers.cluster import nodes_down, unique

from dolmen.cluster import ClusterClient, NotFound, QuorumNotReached
from dolmen.cluster.names import node_path
from dolmen.cluster.placement import node_of

ACCOUNT = "AUTH_faults"


async def chunks_of(data: bytes, size: int = 256 * 2**10):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def node_index(dev_cluster, node: str) -> int:
    return dev_cluster.ports.index(int(node.rsplit(":", 1)[1]))


@pytest.fixture(autouse=True)
async def container(cluster_client):
    await cluster_client.put_container(ACCOUNT, "faults")


async def read_all(client, container, name) -> bytes:
    async with client.get_object(ACCOUNT, container, name) as reader:
        return b"".join([chunk async for chunk in reader.body])


@pytest.mark.parametrize("size", [300_000, 4096], ids=["streamed", "whole"])
async def test_with_one_node_stopped_writes_land_on_a_handoff_and_reads_succeed(
    dev_cluster, cluster_client, size
):
    name = unique("handoff")
    ring = cluster_client.rings.object(0)
    partition, primaries = ring.get_nodes(ACCOUNT, "faults", name)
    down = node_index(dev_cluster, node_of(primaries[0]))
    data = os.urandom(size)
    async with nodes_down(dev_cluster, down):
        await cluster_client.put_object(
            ACCOUNT,
            "faults",
            name,
            chunks_of(data),
            content_type="a/b",
            length=size if size < 2**16 else None,
        )
        assert await read_all(cluster_client, "faults", name) == data
        handoff = next(
            device
            for device in ring.handoffs(partition)
            if node_of(device) != node_of(primaries[0]) and device not in primaries
        )
        path = node_path(handoff.device, partition, ACCOUNT, "faults", name)
        answer = await cluster_client.transport.request(node_of(handoff), "HEAD", path, headers={})
        assert answer.status == 200  # the replica the stopped primary should hold is on its handoff
    async with await ClusterClient.open(dev_cluster.client_config()) as fresh:  # no error-limit memory
        assert await read_all(fresh, "faults", name) == data


async def test_with_two_nodes_stopped_writes_fail_cleanly_and_nothing_partial_appears(
    dev_cluster, cluster_client
):
    name = unique("refused")
    ring = cluster_client.rings.object(0)
    _, primaries = ring.get_nodes(ACCOUNT, "faults", name)
    down = [node_index(dev_cluster, node_of(device)) for device in primaries[:2]]
    async with nodes_down(dev_cluster, *down):
        with pytest.raises(QuorumNotReached):
            await cluster_client.put_object(
                ACCOUNT, "faults", name, chunks_of(os.urandom(200_000)), content_type="a/b"
            )
    async with await ClusterClient.open(dev_cluster.client_config()) as fresh:
        with pytest.raises(NotFound):
            await fresh.head_object(ACCOUNT, "faults", name)
        with pytest.raises(NotFound):
            await read_all(fresh, "faults", name)


async def test_a_node_killed_in_the_middle_of_a_get_stream_is_resumed_from_another_replica(
    dev_cluster, cluster_client
):
    name = unique("resumed")
    data = os.urandom(32 * 2**20)
    await cluster_client.put_object(ACCOUNT, "faults", name, chunks_of(data), content_type="a/b")
    killed = None
    try:
        async with cluster_client.get_object(ACCOUNT, "faults", name) as reader:
            body = reader.body
            received = [await anext(body)]
            killed = node_index(dev_cluster, reader.node)
            dev_cluster.kill_node(killed)
            received += [chunk async for chunk in body]
            assert node_index(dev_cluster, reader.node) != killed
        assert b"".join(received) == data
    finally:
        if killed is not None:
            await dev_cluster.start_node(killed)


@pytest.mark.parametrize("nearest_holds", ["an older copy", "nothing"])
async def test_a_get_whose_nearest_replica_is_stale_reads_the_newest_copy(
    dev_cluster, cluster_client, nearest_holds
):
    """A whole GET asks the nearest primary for the body and the quorum's others for HEADs at
    once: a stale nearest answer (an older copy, or none) loses to a newer one, whose holder
    then serves the body."""
    name = unique("stale")
    _, primaries = cluster_client.rings.object(0).get_nodes(ACCOUNT, "faults", name)
    nearest = node_index(dev_cluster, node_of(primaries[0]))
    old, new = os.urandom(5000), os.urandom(70_000)
    if nearest_holds == "an older copy":
        await cluster_client.put_object(ACCOUNT, "faults", name, chunks_of(old), content_type="a/b")
    async with nodes_down(dev_cluster, nearest):
        await cluster_client.put_object(ACCOUNT, "faults", name, chunks_of(new), content_type="a/b")
    async with (
        await ClusterClient.open(dev_cluster.client_config()) as fresh,  # no error-limit memory
        fresh.get_object(ACCOUNT, "faults", name) as reader,
    ):
        assert reader.status == 200 and reader.info.length == len(new)
        assert node_index(dev_cluster, reader.node) != nearest
        assert b"".join([chunk async for chunk in reader.body]) == new
