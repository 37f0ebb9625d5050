"""Benchmark the device engine without HTTP: durable 4 KiB PUTs at several concurrencies, and large bodies.

Prints one JSON object: per case ops_per_s, mib_per_s, latency_ms_p50, latency_ms_p99, and for the
small PUTs the mean group-commit batch (changes per synced LMDB commit).
Usage: python bench/engine_bench.py [--dir DIR] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import xxhash
from dolmen.storage_node.device import DeviceConfig, DeviceStore
from dolmen.storage_node.timestamps import Timestamp


async def put(store: DeviceStore, name: str, body: bytes, chunk_bytes: int = 2**20) -> None:
    writer = await store.begin_object_put(
        1, "AUTH_bench", "c", name, Timestamp.from_seconds(time.time()), len(body)
    )
    for offset in range(0, len(body), chunk_bytes):
        await writer.write(body[offset : offset + chunk_bytes])
    await writer.commit(
        etag="e",
        body_xxh3=xxhash.xxh3_64_intdigest(body),
        content_length=len(body),
        content_type="application/octet-stream",
        metadata={},
    )


async def get(store: DeviceStore, name: str) -> int:
    record = await store.head_object(1, "AUTH_bench", "c", name, now_s=time.time())
    return sum([len(chunk) async for chunk in store.read_object(record)])


async def run_case(concurrency: int, count: int, operation) -> dict[str, float]:
    latencies: list[float] = []
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            index = queue.pop()
            started = time.perf_counter()
            await operation(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "ops_per_s": round(count / elapsed, 1),
        "latency_ms_p50": round(1000 * statistics.median(latencies), 2),
        "latency_ms_p99": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--small-puts", type=int, default=2000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=arguments.dir) as directory:
        store = await DeviceStore.open(
            Path(directory),
            DeviceConfig(free_space_reserve_bytes=0),
            cluster_fingerprint="bench",
            device="d1",
        )
        results: dict[str, dict[str, float]] = {}
        small = os.urandom(4096)
        for concurrency in (1, 16, 64):
            count = arguments.small_puts if concurrency > 1 else max(arguments.small_puts // 10, 50)
            commits_before, changes_before = store.stats.commits, store.stats.committed_changes
            case = await run_case(concurrency, count, lambda i, c=concurrency: put(store, f"s{c}-{i}", small))
            case["records_per_commit_mean"] = round(
                (store.stats.committed_changes - changes_before) / (store.stats.commits - commits_before), 1
            )
            case["mib_per_s"] = round(case["ops_per_s"] * 4096 / 2**20, 2)
            results[f"put_4kib_c{concurrency}"] = case
            get_case = await run_case(concurrency, count, lambda i, c=concurrency: get(store, f"s{c}-{i}"))
            get_case["mib_per_s"] = round(get_case["ops_per_s"] * 4096 / 2**20, 2)
            results[f"get_4kib_c{concurrency}"] = get_case
        large = os.urandom(16 * 2**20)
        for label, operation in (
            ("put_16mib_c4", lambda i: put(store, f"l{i}", large)),
            ("get_16mib_c4", lambda i: get(store, f"l{i}")),
        ):
            case = await run_case(4, 16, operation)
            case["mib_per_s"] = round(case["ops_per_s"] * 16, 1)
            results[label] = case
        await store.close()
    print(json.dumps({"benchmark": "engine", "cases": results}))


if __name__ == "__main__":
    asyncio.run(main())
