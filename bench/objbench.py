"""Object benchmark through the Swift API: `dolmen up` against OpenStack Swift's all-in-one, same run.

Both clusters are started fresh under one temporary directory, like for like:
4 storage servers with one device each, 3 replicas, 2 proxy workers (Dolmen:
`dolmen up --nodes 4 --devices-per-node 1 --proxy-workers 2`; Swift:
`saio-up` with SAIO_PROXY_WORKERS=2). Both are reached through Swift's v1 auth.

Cases: 4 KiB x 2,000 objects at concurrency 16, 1 MiB x 200 at 8, 64 MiB x 4
at 1; for each, PUT all, GET all (every body checked against its MD5), DELETE
all. Prints one JSON object: per cluster and case ops_per_s, mib_per_s,
latency_ms_p50, latency_ms_p99, errors; and the Dolmen/Swift ratio of ops_per_s.

    .venv/bin/python bench/objbench.py [--scale 0.1] [--only dolmen|swift] [--saio-daemons 0|1]

The load generator is this process, on the same 2-core machine as both clusters.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

SAIO = Path(os.environ.get("SAIO_SCRIPTS", "/work/shared/peers/swift-saio"))
CASES = [("4k", 4 * 2**10, 2000, 16), ("1m", 2**20, 200, 8), ("64m", 64 * 2**20, 4, 1)]
OPERATIONS = ("put", "get", "delete")
REQUEST_TIMEOUT_S = 300.0
STARTUP_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Endpoint:
    storage_url: str
    token: str


def free_port_block(count: int) -> int:
    """The first of `count` consecutive ports that are free now (checked by binding each)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count >= 65_000:
            continue
        sockets = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                sockets.append(sock)
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no block of free ports")


def body_of(size: int, index: int, base: bytes) -> bytes:
    """A distinct body per object: the shared random base with the index in its first bytes."""
    return index.to_bytes(8, "big") + base[8:size]


async def v1_auth(session: aiohttp.ClientSession, url: str, user: str, key: str) -> Endpoint:
    async with session.get(url, headers={"X-Auth-User": user, "X-Auth-Key": key}) as answer:
        if answer.status != 200:
            raise RuntimeError(f"auth at {url} answered {answer.status}: {await answer.text()}")
        return Endpoint(answer.headers["X-Storage-Url"], answer.headers["X-Auth-Token"])


def percentile_ms(latencies_s: list[float], fraction: float) -> float:
    ordered = sorted(latencies_s)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return round(ordered[index] * 1000, 2)


async def run_operation(
    count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float], int]:
    """(elapsed_s, latencies_s, errors) of `one(i)` for i in range(count) at `concurrency`."""
    latencies: list[float] = []
    errors = 0
    next_index = 0

    async def worker() -> None:
        nonlocal next_index, errors
        while next_index < count:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            try:
                await one(index)
            except Exception as error:  # counted and reported, the run goes on
                errors += 1
                if errors <= 3:
                    print(f"  error: {type(error).__name__}: {error}", file=sys.stderr)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, errors


async def bench_case(
    session: aiohttp.ClientSession, endpoint: Endpoint, label: str, size: int, count: int, concurrency: int
) -> dict[str, dict[str, object]]:
    """PUT, GET (verified) and DELETE `count` objects of `size` bytes in a fresh container."""
    headers = {"X-Auth-Token": endpoint.token}
    container_url = f"{endpoint.storage_url}/bench-{label}-{os.getpid()}"
    async with session.put(container_url, headers=headers) as answer:
        assert answer.status in (201, 202), answer.status
    base = os.urandom(size)
    md5s = [hashlib.md5(body_of(size, index, base)).hexdigest() for index in range(count)]

    async def put(index: int) -> None:
        put_headers = headers | {"Content-Type": "application/octet-stream", "ETag": md5s[index]}
        body = body_of(size, index, base)
        async with session.put(f"{container_url}/o{index}", data=body, headers=put_headers) as answer:
            if answer.status != 201:
                raise RuntimeError(f"PUT answered {answer.status}")

    async def get(index: int) -> None:
        digest = hashlib.md5()
        async with session.get(f"{container_url}/o{index}", headers=headers) as answer:
            if answer.status != 200:
                raise RuntimeError(f"GET answered {answer.status}")
            async for chunk in answer.content.iter_chunked(2**20):
                digest.update(chunk)
        if digest.hexdigest() != md5s[index]:
            raise RuntimeError("GET returned other bytes than were stored")

    async def delete(index: int) -> None:
        async with session.delete(f"{container_url}/o{index}", headers=headers) as answer:
            if answer.status != 204:
                raise RuntimeError(f"DELETE answered {answer.status}")

    results: dict[str, dict[str, object]] = {}
    for name, one in (("put", put), ("get", get), ("delete", delete)):
        elapsed_s, latencies, errors = await run_operation(count, concurrency, one)
        moved = size if name != "delete" else 0
        results[f"{name}_{label}"] = {
            "objects": count,
            "concurrency": concurrency,
            "ops_per_s": round(count / elapsed_s, 1),
            "mib_per_s": round(count * moved / elapsed_s / 2**20, 1),
            "latency_ms_p50": percentile_ms(latencies, 0.50),
            "latency_ms_p99": percentile_ms(latencies, 0.99),
            "errors": errors,
        }
        print(f"  {name}_{label}: {results[f'{name}_{label}']}", file=sys.stderr)
    async with session.delete(container_url, headers=headers):
        pass
    return results


async def bench_cluster(endpoint: Endpoint, scale: float) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for label, size, full_count, concurrency in CASES:
            count = (
                max(1, round(full_count * scale))
                if size > 2**20
                else max(concurrency, round(full_count * scale))
            )
            results |= await bench_case(session, endpoint, label, size, count, concurrency)
    return results


async def auth_endpoint(url: str, user: str, key: str) -> Endpoint:
    async with aiohttp.ClientSession() as session:
        return await v1_auth(session, url, user, key)


def run_dolmen(work: Path, scale: float) -> dict[str, dict[str, object]]:
    data = work / "dolmen"
    port = free_port_block(3 + 4)
    command = [sys.executable, "-m", "dolmen", "up", "--data", str(data), "--port", str(port),
               "--nodes", "4", "--devices-per-node", "1", "--proxy-workers", "2", "--detach"]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=STARTUP_TIMEOUT_S)
    try:
        admin = json.loads((data / "admin.json").read_text())
        endpoint = asyncio.run(
            auth_endpoint(
                f"http://127.0.0.1:{port}/auth/v1.0", f"{admin['project']}:{admin['user']}", admin["password"]
            )
        )
        return asyncio.run(bench_cluster(endpoint, scale))
    finally:
        subprocess.run(
            [sys.executable, "-m", "dolmen", "down", "--data", str(data)],
            check=False,
            timeout=120,
            stdout=subprocess.DEVNULL,  # stdout carries the one JSON object only
        )


def run_swift(work: Path, scale: float, daemons: int) -> dict[str, dict[str, object]]:
    data = work / "swift"
    # One block for every port, so that two separately probed "free" ports cannot be the same one.
    first = free_port_block(2 + 43)
    proxy_port, memcache_port = first, first + 1
    port_base = first + 2 - 10  # servers listen on port_base + 10*i (+1, +2), i = 1..4
    environment = os.environ | {
        "SAIO_PROXY_PORT": str(proxy_port),
        "SAIO_PORT_BASE": str(port_base),
        "SAIO_MEMCACHE_PORT": str(memcache_port),
        "SAIO_PROXY_WORKERS": "2",
        "SAIO_DAEMONS": str(daemons),
        "SAIO_LOG_REQUESTS": "0",
        "SAIO_WAIT_S": "300",  # the shared 2-core machine can take minutes to start 17 processes
    }
    try:  # saio-down also after a failed saio-up: it may have started some servers
        subprocess.run(
            [str(SAIO / "saio-up"), str(data)],
            check=True,
            env=environment,
            stdout=subprocess.DEVNULL,
            timeout=900,
        )
        endpoint = asyncio.run(
            auth_endpoint(f"http://127.0.0.1:{proxy_port}/auth/v1.0", "test:tester", "testing")
        )
        return asyncio.run(bench_cluster(endpoint, scale))
    finally:
        subprocess.run([str(SAIO / "saio-down"), str(data)], check=False, capture_output=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the object counts (quick runs)")
    parser.add_argument("--only", choices=("dolmen", "swift"))
    parser.add_argument("--saio-daemons", type=int, default=1, choices=(0, 1))
    args = parser.parse_args()
    report: dict[str, object] = {
        "benchmark": "objbench",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "layout": "4 storage servers x 1 device, 3 replicas, 2 proxy workers",
        "scale": args.scale,
        "saio_daemons": args.saio_daemons,
    }
    work = Path(tempfile.mkdtemp(prefix="objbench-"))
    try:
        if args.only != "swift":
            print("dolmen:", file=sys.stderr)
            report["dolmen"] = run_dolmen(work, args.scale)
        if args.only != "dolmen":
            print("swift:", file=sys.stderr)
            report["swift"] = run_swift(work, args.scale, args.saio_daemons)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    dolmen, swift = report.get("dolmen"), report.get("swift")
    if isinstance(dolmen, dict) and isinstance(swift, dict):
        report["ratio_ops_per_s"] = {
            case: round(dolmen[case]["ops_per_s"] / swift[case]["ops_per_s"], 2)  # type: ignore[index,operator]
            for case in dolmen
            if case in swift and swift[case]["ops_per_s"]  # type: ignore[index]
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
