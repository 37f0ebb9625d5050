"""Fixtures for tests against a real development cluster (real storage nodes on loopback).

`dev_cluster` is one 3-node cluster (2 devices per node, 3 replicas, one zone per node)
shared by the whole session, so that every integration test module uses the same
processes and the suite stays within its time budget. Tests use unique names (`unique`)
and leave every node running: a test that stops or kills a node restarts it in a
`finally` (see `nodes_down`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dolmen.cluster import ClusterClient
from dolmen.devcluster import DevCluster, DevClusterError, free_port_run

NODES = 3
START_ATTEMPTS_MAX = 5  # another process may take one of the free ports before a node binds it


def start_dev_cluster(root: Path, **layout) -> DevCluster:
    """Start a cluster under `root` on free ports, retrying on a port race; the caller stops it."""
    nodes = layout.get("nodes", NODES)
    for attempt in range(START_ATTEMPTS_MAX):
        cluster = DevCluster(root / f"cluster{attempt}", free_port_run(nodes), **layout)
        try:
            asyncio.run(cluster.start())
            return cluster
        except DevClusterError:
            if attempt == START_ATTEMPTS_MAX - 1:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def dev_cluster(tmp_path_factory) -> Iterator[DevCluster]:
    """The session's 3-node development cluster."""
    cluster = start_dev_cluster(tmp_path_factory.mktemp("devcluster"), nodes=NODES)
    yield cluster
    asyncio.run(cluster.stop())


def unique(prefix: str = "t") -> str:
    """A name no other test uses (tests share one cluster)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def nodes_down(cluster: DevCluster, *indexes: int, kill: bool = False) -> AsyncIterator[None]:
    """Stop (or SIGKILL) some nodes for the duration of the block; they run again afterwards."""
    try:
        for index in indexes:
            if kill:
                cluster.kill_node(index)
            else:
                await cluster.stop_node(index)
        yield
    finally:
        for index in indexes:
            await cluster.start_node(index)


@pytest.fixture
async def cluster_client(dev_cluster) -> AsyncIterator[ClusterClient]:
    """A cluster client of the session's cluster (one per test: its pools live on the test's loop)."""
    client = await ClusterClient.open(dev_cluster.client_config())
    try:
        yield client
    finally:
        await client.close()
