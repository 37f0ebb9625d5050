"""The development cluster launcher: real nodes, a locked data directory, single nodes stopped and started."""

from __future__ import annotations

import aiohttp
import pytest
from dolmen.ring.ring import Ring
from helpers.cluster import free_port_run

from dolmen.devcluster import DevCluster, DevClusterError
from dolmen.keys import placement_key, read_secret


async def healthy(url: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session,
            session.get(url + "/healthcheck") as answer,
        ):
            return answer.status == 200
    except aiohttp.ClientError:
        return False


async def test_every_node_answers_and_the_rings_place_every_partition_on_three_nodes(dev_cluster):
    assert all([await healthy(dev_cluster.node_url(index)) for index in range(dev_cluster.nodes)])
    key = placement_key(read_secret(dev_cluster.secret_file))
    for role in ("account", "container", "object"):
        ring = Ring.load(dev_cluster.ring_dir / f"{role}.ring", key)
        assert ring.replicas == 3
        for partition in range(ring.partition_count):
            assert sorted(device.port for device in ring.primaries(partition)) == dev_cluster.ports


async def test_a_second_launcher_on_a_running_data_directory_is_refused(dev_cluster):
    intruder = DevCluster(dev_cluster.data_dir, dev_cluster.base_port)
    with pytest.raises(DevClusterError, match="in use"):
        await intruder.start()
    assert await healthy(dev_cluster.node_url(0))  # the refusal stopped nothing


async def test_single_nodes_stop_start_and_survive_a_kill(dev_cluster):
    try:
        await dev_cluster.stop_node(1)
        assert not await healthy(dev_cluster.node_url(1))
        await dev_cluster.start_node(1)
        assert await healthy(dev_cluster.node_url(1))
        dev_cluster.kill_node(2)
        assert not dev_cluster.is_running(2) and not await healthy(dev_cluster.node_url(2))
    finally:
        await dev_cluster.start_node(1)
        await dev_cluster.start_node(2)
    assert await healthy(dev_cluster.node_url(2))


async def test_a_restart_reuses_the_secret_and_rings_and_another_layout_is_refused(tmp_path):
    port = free_port_run(1)
    cluster = DevCluster(tmp_path, port, nodes=1, devices_per_node=1, replicas=1, part_power=4)
    await cluster.start()
    await cluster.stop()
    secret = cluster.secret_file.read_bytes()
    ring = (cluster.ring_dir / "object.ring").read_bytes()
    again = DevCluster(tmp_path, port, nodes=1, devices_per_node=1, replicas=1, part_power=4)
    await again.start()
    try:
        assert await healthy(again.node_url(0))
        assert again.secret_file.read_bytes() == secret
        assert (again.ring_dir / "object.ring").read_bytes() == ring
    finally:
        await again.stop()
    other = DevCluster(tmp_path, port, nodes=1, devices_per_node=1, replicas=1, part_power=5)
    with pytest.raises(DevClusterError, match="another cluster layout"):
        await other.start()
