"""Fixtures for integration tests: real processes on loopback, temporary directories, free ports."""

from __future__ import annotations

import pytest
from helpers.storage_node import NodeProcess, SignedClient


@pytest.fixture(scope="module")
def storage_node(tmp_path_factory):
    """One real `dolmen storage-node` with one device, shared by a module's tests."""
    node = NodeProcess(tmp_path_factory.mktemp("node")).start()
    yield node
    node.stop()


@pytest.fixture
async def client(storage_node):
    async with SignedClient(storage_node.url) as signed:
        yield signed


# The session's development cluster, shared by every integration test that needs a real cluster.
from helpers.cluster import cluster_client, dev_cluster  # noqa: E402, F401
