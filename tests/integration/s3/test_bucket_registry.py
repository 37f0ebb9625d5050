"""The bucket registry on a real 3-node cluster: racing creates have one winner, releases free the name."""

from __future__ import annotations

import asyncio

import pytest
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.buckets import BucketRegistry, new_claim
from helpers.cluster import unique

from dolmen.cluster import ClusterClient

RACERS = 6  # separate clients: separate proposers, as separate proxy workers are


def claim_for(account: str):
    return new_claim(account=account, project_id=account.removeprefix("AUTH_"), region="us-east-1", now_s=1.0)


async def test_racing_creates_by_different_owners_have_exactly_one_winner(dev_cluster):
    bucket = unique("bkt")
    clients = [await ClusterClient.open(dev_cluster.client_config()) for _ in range(RACERS)]
    try:
        claims = [claim_for(f"AUTH_p{index}") for index in range(RACERS)]
        results = await asyncio.gather(
            *(
                BucketRegistry(client).claim(bucket, claim)
                for client, claim in zip(clients, claims, strict=True)
            ),
            return_exceptions=True,
        )
        winners = [result for result in results if not isinstance(result, BaseException)]
        assert len(winners) == 1
        assert all(
            isinstance(result, errors.BucketAlreadyExists) for result in results if result not in winners
        )
        assert await BucketRegistry(clients[0]).lookup(bucket) == winners[0]
    finally:
        for client in clients:
            await client.close()


async def test_the_owner_hears_already_owned_and_only_the_owner_releases(cluster_client):
    registry = BucketRegistry(cluster_client)
    bucket = unique("bkt")
    await registry.claim(bucket, claim_for("AUTH_a"))
    with pytest.raises(errors.BucketAlreadyOwnedByYou):
        await registry.claim(bucket, claim_for("AUTH_a"))
    await registry.release(bucket, "AUTH_b")
    assert (await registry.lookup(bucket)).account == "AUTH_a"
    await registry.release(bucket, "AUTH_a")
    assert await registry.lookup(bucket) is None
    assert (await registry.claim(bucket, claim_for("AUTH_b"))).account == "AUTH_b"
