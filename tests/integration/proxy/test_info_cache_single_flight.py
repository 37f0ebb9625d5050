"""The proxy's container and account info on a real cluster: concurrent misses share one read."""

from __future__ import annotations

import asyncio

from dolmen.identity import Policy
from dolmen.proxy.swift.access import Authoriser
from helpers.cluster import unique

ACCOUNT = "AUTH_infocache"


class CountingClient:
    """The real cluster client, with its container and account HEADs counted."""

    def __init__(self, client) -> None:
        self.client = client
        self.heads = 0

    async def head_container(self, account, container):
        self.heads += 1
        return await self.client.head_container(account, container)

    async def head_account(self, account):
        self.heads += 1
        return await self.client.head_account(account)


async def test_concurrent_misses_share_one_read_and_an_invalidation_is_not_undone(cluster_client):
    container = unique("c")
    await cluster_client.put_account(ACCOUNT)
    await cluster_client.put_container(ACCOUNT, container, {"color": "red"})
    counting = CountingClient(cluster_client)
    authoriser = Authoriser(counting, policy=Policy.default(), cache_ttl_s=60.0, cache_entries_max=100)  # type: ignore[arg-type]

    infos = await asyncio.gather(*(authoriser.container_info(ACCOUNT, container) for _ in range(16)))
    assert counting.heads == 1 and all(info is infos[0] for info in infos)
    await asyncio.gather(*(authoriser.account_info(ACCOUNT) for _ in range(16)))
    assert counting.heads == 2

    # A read in flight when this proxy changes the container is neither shared nor cached after it.
    stale = asyncio.ensure_future(authoriser.fresh_container_info(ACCOUNT, container))
    await asyncio.sleep(0)
    await cluster_client.post_container(ACCOUNT, container, {"color": "blue"})
    authoriser.invalidate(ACCOUNT, container)
    fresh = await authoriser.container_info(ACCOUNT, container)
    await stale
    assert fresh is not None and fresh.metadata["color"] == "blue"
    cached = await authoriser.container_info(ACCOUNT, container)
    assert cached is fresh
