"""Read-after-write: randomized PUT, overwrite and DELETE from concurrent tasks, checked against a model.

Each task owns a few names (so the model of each name is sequential) and all share one
container; after every acknowledged write, the next read and the next listing must show
exactly it.
"""

from __future__ import annotations

import asyncio
import hashlib
import random

import pytest
from helpers.cluster import unique

from dolmen.cluster import ClusterClient, ListingQuery, NotFound

ACCOUNT = "AUTH_model"
TASKS = 16
NAMES_PER_TASK = 4
OPERATIONS_PER_TASK = 30  # 16 x 30 = 480 writes, each followed by a checked read and listing
BODY_BYTES_MAX = 20_000  # around the 16 KiB inline threshold: inline and file bodies both


async def one_chunk(data: bytes):
    yield data


async def expect(client: ClusterClient, container: str, name: str, model: bytes | None, seed: int) -> None:
    if model is None:
        with pytest.raises(NotFound):
            await client.head_object(ACCOUNT, container, name)
        return
    async with client.get_object(ACCOUNT, container, name) as reader:
        data = b"".join([chunk async for chunk in reader.body])
    assert data == model, f"stale or wrong read of {name} (seed {seed})"
    assert reader.info.etag == hashlib.md5(model).hexdigest()


async def test_every_acknowledged_write_is_visible_to_the_next_read(cluster_client):
    seed = random.randrange(2**32)
    print(f"seed={seed}")
    container = unique("model")
    await cluster_client.put_container(ACCOUNT, container)
    operations = 0

    async def worker(index: int) -> None:
        nonlocal operations
        rng = random.Random(seed * 1000 + index)
        names = [f"task{index}/name{number}" for number in range(NAMES_PER_TASK)]
        model: dict[str, bytes | None] = dict.fromkeys(names)
        for _ in range(OPERATIONS_PER_TASK):
            name = rng.choice(names)
            if model[name] is not None and rng.random() < 0.3:
                await cluster_client.delete_object(ACCOUNT, container, name)
                model[name] = None
            else:
                data = rng.randbytes(rng.choice([0, 1, rng.randrange(BODY_BYTES_MAX)]))
                await cluster_client.put_object(ACCOUNT, container, name, one_chunk(data), content_type="a/b")
                model[name] = data
            operations += 1
            await expect(cluster_client, container, name, model[name], seed)
            listing = await cluster_client.list_objects(
                ACCOUNT, container, ListingQuery(prefix=f"task{index}/")
            )
            listed = {entry.name: entry.etag for entry in listing.entries}
            assert listed == {
                name: hashlib.md5(data).hexdigest() for name, data in model.items() if data is not None
            }, f"listing of task {index} differs from the model (seed {seed})"
        for name in names:
            await expect(cluster_client, container, name, model[name], seed)

    async with asyncio.TaskGroup() as group:
        for index in range(TASKS):
            group.create_task(worker(index))
    assert operations == TASKS * OPERATIONS_PER_TASK
