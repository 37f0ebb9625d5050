"""Benchmark the cluster client against a 3-node development cluster (3 replicas), in one run.

Small objects: 4 KiB PUT then GET at concurrency 16 and 64 (ops/s, latency p50/p99).
Large objects: 64 MiB PUT then GET, one at a time (MiB/s), and the CPU seconds this client
process spent per GiB of object moved, against the CPU seconds bare MD5 takes per GiB on the
same machine in the same run (the MD5 every PUT must compute), split into user and system
time. On loopback the kernel's work of sending every replica (and of delivering it to the
receiving socket) is charged to the sender, so the run also measures that floor: the CPU of
sending the same bytes to 3 sockets whose readers discard them. Prints one JSON object.

    .venv/bin/python bench/cluster_bench.py [--small-ops 2000] [--large-objects 4]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import loopback_send  # (bench/, beside this script)
import uvloop

from dolmen.cluster import ClusterClient
from dolmen.devcluster import DevCluster, DevClusterError, free_port_run

SMALL_BYTES = 4 * 2**10
LARGE_BYTES = 64 * 2**20
CHUNK_BYTES = 2**20
ACCOUNT = "AUTH_bench"
GIB = 2**30
START_ATTEMPTS_MAX = 5


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK_BYTES):
        yield view[start : start + CHUNK_BYTES]  # type: ignore[misc]


def percentile_ms(latencies_s: list[float], fraction: float) -> float:
    ordered = sorted(latencies_s)
    return round(1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


async def worker(
    client: ClusterClient,
    verb: str,
    container: str,
    body: bytes,
    names: Iterator[str],
    latencies: list[float],
) -> None:
    for name in names:
        started = time.perf_counter()
        if verb == "put":
            await client.put_object(ACCOUNT, container, name, chunks(body), content_type="a/b")
        else:
            async with client.get_object(ACCOUNT, container, name) as reader:
                data = b"".join([chunk async for chunk in reader.body])
            assert data == body
        latencies.append(time.perf_counter() - started)


async def small_phase(client: ClusterClient, concurrency: int, operations: int) -> dict[str, object]:
    container = f"small{concurrency}"
    await client.put_container(ACCOUNT, container)
    body = os.urandom(SMALL_BYTES)
    names = [f"o{index}" for index in range(operations)]
    result: dict[str, object] = {}
    for verb in ("put", "get"):
        latencies: list[float] = []
        queue = iter(names)
        started = time.perf_counter()
        await asyncio.gather(
            *(worker(client, verb, container, body, queue, latencies) for _ in range(concurrency))
        )
        elapsed = time.perf_counter() - started
        result[f"{verb}_ops_per_s"] = round(operations / elapsed, 1)
        result[f"{verb}_latency_ms_p50"] = percentile_ms(latencies, 0.50)
        result[f"{verb}_latency_ms_p99"] = percentile_ms(latencies, 0.99)
    return result


async def large_phase(client: ClusterClient, count: int) -> dict[str, object]:
    await client.put_container(ACCOUNT, "large")
    body = os.urandom(LARGE_BYTES)
    moved_gib = count * LARGE_BYTES / GIB
    times_started, started = os.times(), time.perf_counter()
    for index in range(count):
        await client.put_object(
            ACCOUNT, "large", f"o{index}", chunks(body), content_type="a/b", length=LARGE_BYTES
        )
    put_times, put_s = os.times(), time.perf_counter() - started
    put_user_s = put_times.user - times_started.user
    put_system_s = put_times.system - times_started.system
    cpu_started, started = time.process_time(), time.perf_counter()
    for index in range(count):
        size = 0
        async with client.get_object(ACCOUNT, "large", f"o{index}") as reader:
            async for chunk in reader.body:
                size += len(chunk)
        assert size == LARGE_BYTES
    get_cpu_s, get_s = time.process_time() - cpu_started, time.perf_counter() - started
    return {
        "put_mib_per_s": round(count * LARGE_BYTES / 2**20 / put_s, 1),
        "get_mib_per_s": round(count * LARGE_BYTES / 2**20 / get_s, 1),
        "put_cpu_s_per_gib": round((put_user_s + put_system_s) / moved_gib, 3),
        "put_cpu_user_s_per_gib": round(put_user_s / moved_gib, 3),
        "put_cpu_system_s_per_gib": round(put_system_s / moved_gib, 3),
        "get_cpu_s_per_gib": round(get_cpu_s / moved_gib, 3),
    }


def md5_cpu_s_per_gib() -> float:
    data = os.urandom(LARGE_BYTES)
    rounds = 4
    started = time.process_time()
    for _ in range(rounds):
        digest = hashlib.md5()
        view = memoryview(data)
        for start in range(0, len(view), CHUNK_BYTES):
            digest.update(view[start : start + CHUNK_BYTES])
    return (time.process_time() - started) / (rounds * LARGE_BYTES / GIB)


def send_floor_cpu_s_per_gib() -> float:
    """CPU seconds (user + system) this process spends per GiB sending it to 3 loopback sockets
    whose readers (child processes) discard it: the part of a PUT's cost that is the kernel's,
    not the client's (loopback_send.py's `send` way, on 4 large objects' worth of bytes)."""
    return loopback_send.cpu_s_per_gib("send", gib=4 * LARGE_BYTES / GIB)


async def run(args: argparse.Namespace, cluster: DevCluster, send_floor_s: float) -> dict[str, object]:
    client = await ClusterClient.open(cluster.client_config())
    try:
        report: dict[str, object] = {"nodes": 3, "replicas": 3, "small_object_bytes": SMALL_BYTES}
        for concurrency in (16, 64):
            report[f"small_c{concurrency}"] = await small_phase(client, concurrency, args.small_ops)
        md5 = md5_cpu_s_per_gib()
        large = await large_phase(client, args.large_objects)
        large["md5_cpu_s_per_gib"] = round(md5, 3)
        large["send_3_replicas_floor_cpu_s_per_gib"] = round(send_floor_s, 3)
        put_cpu_s = float(large["put_cpu_s_per_gib"])  # type: ignore[arg-type]
        # The goal: the client adds less than 20 % CPU per GiB beyond the MD5 a PUT must compute.
        large["put_cpu_overhead_over_md5_ratio"] = round((put_cpu_s - md5) / md5, 3)
        # The same, with the kernel's floor of sending 3 replicas over loopback counted as given.
        large["put_cpu_overhead_over_md5_and_send_floor_ratio"] = round(
            (put_cpu_s - md5 - send_floor_s) / md5, 3
        )
        large["get_cpu_over_md5_ratio"] = round(large["get_cpu_s_per_gib"] / md5, 3)  # type: ignore[operator]
        report["large_64mib"] = large
        return report
    finally:
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-ops", type=int, default=2000, help="4 KiB objects per phase")
    parser.add_argument("--large-objects", type=int, default=4, help="64 MiB objects")
    args = parser.parse_args()
    send_floor_s = send_floor_cpu_s_per_gib()  # before any thread exists: it forks
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as directory:
        for attempt in range(START_ATTEMPTS_MAX):  # another process may take a free port first
            cluster = DevCluster(
                Path(directory) / str(attempt), free_port_run(3), nodes=3, devices_per_node=2, replicas=3
            )
            try:
                asyncio.run(cluster.start())
                break
            except DevClusterError:
                if attempt == START_ATTEMPTS_MAX - 1:
                    raise
        try:
            report = uvloop.run(run(args, cluster, send_floor_s))
        finally:
            asyncio.run(cluster.stop())
    json.dump(report, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
