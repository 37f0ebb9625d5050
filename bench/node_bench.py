"""Benchmark one storage node (one device) against OpenStack Swift's object server, same run, same disk.

Cases: 4 KiB PUT and GET at concurrency 1, 16 and 64; 16 MiB PUT and GET at
concurrency 1. Both servers are started fresh under one data directory on the
same filesystem, one process each (Swift: one worker, default fsync behaviour,
PUTs without container updates, via /work/shared/peers/swift-saio/objsrv-up).
Prints one JSON object: per server and case ops_per_s, mib_per_s,
latency_ms_p50, latency_ms_p99; and the dolmen/swift ratios the issue names.

    .venv/bin/python bench/node_bench.py [--duration-s 3] [--only dolmen|swift]

The load generator runs in this process on the same machine, so both servers
share the CPU with it alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

import xxhash
from dolmen.storage_node import framing

from dolmen.keys import request_signing_key
from dolmen.signing import SIGNATURE_HEADER, sign_request

SAIO = Path(os.environ.get("SAIO_SCRIPTS", "/work/shared/peers/swift-saio"))
SECRET = os.urandom(32)
KEY_ID = 0
SMALL_BYTES = 4 * 2**10
LARGE_BYTES = 16 * 2**20
CASES = [
    ("put", SMALL_BYTES, 1),
    ("put", SMALL_BYTES, 16),
    ("put", SMALL_BYTES, 64),
    ("get", SMALL_BYTES, 1),
    ("get", SMALL_BYTES, 16),
    ("get", SMALL_BYTES, 64),
    ("put", LARGE_BYTES, 1),
    ("get", LARGE_BYTES, 1),
]
STARTUP_TIMEOUT_S = 60.0


def case_name(verb: str, size: int, concurrency: int) -> str:
    label = "4k" if size == SMALL_BYTES else "16m"
    return f"{verb}_{label}_c{concurrency}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthcheck", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy")


class Clock:
    """Strictly increasing X-Timestamps for one benchmark run."""

    def __init__(self) -> None:
        self.last = time.time()

    def next(self) -> str:
        self.last = max(self.last + 0.00001, time.time())
        return f"{self.last:016.5f}"


class Connection:
    """One kept-alive HTTP/1.1 connection with a minimal client: a load generator that costs
    little CPU, so that on a 2-core machine it does not become what is measured."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, head: bytes, body_parts: list[bytes | memoryview]) -> tuple[int, int]:
        """Send one request; return (status, body bytes received). Reconnects if needed."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=2**20)
        assert self.reader is not None
        self.writer.write(head)
        for part in body_parts:
            self.writer.write(part)
            if len(part) > 2**16:
                await self.writer.drain()
        await self.writer.drain()
        status_and_headers = await self.reader.readuntil(b"\r\n\r\n")
        lines = status_and_headers.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise RuntimeError("chunked responses are not expected from either server")
        received = 0
        while received < length:
            chunk = await self.reader.read(min(length - received, 2**20))
            if not chunk:
                raise ConnectionError("connection closed mid-body")
            received += len(chunk)
        if close:
            self.writer.close()
            self.writer = None
        return status, received


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench"] + [
        f"{name}: {value}" for name, value in headers.items()
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Target:
    """How to PUT and GET one object on one kind of server."""

    name = ""
    url = ""

    async def put(self, connection: Connection, path: str, body: bytes, digest: str) -> int:
        raise NotImplementedError

    async def get(self, connection: Connection, path: str) -> tuple[int, int]:
        raise NotImplementedError


class DolmenTarget(Target):
    name = "dolmen"

    def __init__(self, url: str, device: str) -> None:
        self.url = url
        self.device = device
        self.key = request_signing_key(SECRET, KEY_ID)
        self.clock = Clock()

    def path(self, partition: int, obj: str) -> str:
        return f"/{self.device}/{partition}/AUTH_bench/c/{obj}"

    def signed(self, method: str, path: str, headers: dict[str, str]) -> dict[str, str]:
        signed = dict(headers)
        signed.update(
            sign_request(self.key, key_id=KEY_ID, method=method, path=path, headers=signed, now_s=time.time())
        )
        return signed

    async def put(self, connection: Connection, path: str, body: bytes, digest: str) -> int:
        headers = self.signed(
            "PUT",
            path,
            {
                "X-Timestamp": self.clock.next(),
                "Content-Type": "application/octet-stream",
                framing.FRAMING_HEADER: framing.FRAMING_VERSION,
                "X-Backend-Object-Length": str(len(body)),
            },
        )
        footer = framing.encode_footer(
            framing.Footer(
                action=framing.ACTION_COMMIT,
                etag=digest[:32],
                body_bytes=len(body),
                body_xxh3_64=digest[32:],
            ),
            key=self.key,
            request_signature_hex=headers[SIGNATURE_HEADER],
        )
        parts = framed_parts(memoryview(body), footer)
        headers["Content-Length"] = str(sum(len(part) for part in parts))
        status, _ = await connection.exchange(request_head("PUT", path, headers), parts)
        return status

    async def get(self, connection: Connection, path: str) -> tuple[int, int]:
        return await connection.exchange(request_head("GET", path, self.signed("GET", path, {})), [])


def framed_parts(body: memoryview, footer: bytes) -> list[bytes | memoryview]:
    """A framed body from one buffer without copying it: frame headers, slices, footer."""
    frame = framing.FRAME_DATA_BYTES_MAX
    parts: list[bytes | memoryview] = []
    for start in range(0, len(body), frame):
        piece = body[start : start + frame]
        parts += [framing.data_frame_header(len(piece)), piece]
    parts.append(footer)
    return parts


class SwiftTarget(Target):
    name = "swift"

    def __init__(self, url: str) -> None:
        self.url = url
        self.clock = Clock()

    def path(self, partition: int, obj: str) -> str:
        return f"/sdb1/{partition}/AUTH_bench/c/{obj}"

    async def put(self, connection: Connection, path: str, body: bytes, digest: str) -> int:
        headers = {
            "X-Timestamp": self.clock.next(),
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(body)),
        }
        status, _ = await connection.exchange(request_head("PUT", path, headers), [body])
        return status

    async def get(self, connection: Connection, path: str) -> tuple[int, int]:
        return await connection.exchange(request_head("GET", path, {}), [])


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


async def run_case(
    operation: Callable[[Connection, int], Awaitable[bool]],
    target: Target,
    *,
    concurrency: int,
    duration_s: float,
    ops_min: int,
    size: int,
) -> dict[str, float]:
    latencies_s: list[float] = []
    failures = 0
    issued = 0
    started = time.perf_counter()
    deadline = started + duration_s

    host, port = target.url.removeprefix("http://").split(":")

    async def worker() -> None:
        nonlocal issued, failures
        connection = Connection(host, int(port))
        while time.perf_counter() < deadline or issued < ops_min:
            index = issued
            issued += 1
            began = time.perf_counter()
            ok = await operation(connection, index)
            latencies_s.append(time.perf_counter() - began)
            failures += not ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed_s = time.perf_counter() - started
    latencies_s.sort()
    return {
        "ops": len(latencies_s),
        "failures": failures,
        "ops_per_s": round(len(latencies_s) / elapsed_s, 1),
        "mib_per_s": round(len(latencies_s) * size / elapsed_s / 2**20, 2),
        "latency_ms_p50": round(percentile(latencies_s, 0.50) * 1000, 2),
        "latency_ms_p99": round(percentile(latencies_s, 0.99) * 1000, 2),
    }


async def bench_target(target: DolmenTarget | SwiftTarget, duration_s: float) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    bodies = {size: os.urandom(size) for size in (SMALL_BYTES, LARGE_BYTES)}
    digests = {
        size: xxhash.xxh3_128_hexdigest(body) + xxhash.xxh3_64_hexdigest(body)
        for size, body in bodies.items()
    }
    written: dict[int, list[str]] = {SMALL_BYTES: [], LARGE_BYTES: []}
    for verb, size, concurrency in CASES:
        name = case_name(verb, size, concurrency)
        if verb == "put":
            prefix = f"{name}-{time.time_ns()}"

            async def operation(
                connection: Connection, index: int, prefix: str = prefix, size: int = size
            ) -> bool:
                path = target.path(index % 1024, f"{prefix}-{index}")
                status = await target.put(connection, path, bodies[size], digests[size])
                if status == 201:
                    written[size].append(path)
                return status == 201

        else:
            paths = written[size]
            assert paths, f"no {size}-byte objects to read"

            async def operation(
                connection: Connection, index: int, paths: list[str] = paths, size: int = size
            ) -> bool:
                status, received = await target.get(connection, paths[index % len(paths)])
                return status == 200 and received == size

        ops_min = concurrency if size == SMALL_BYTES else 6
        results[name] = await run_case(
            operation, target, concurrency=concurrency, duration_s=duration_s, ops_min=ops_min, size=size
        )
        print(f"{target.name} {name}: {results[name]}", file=sys.stderr)
    return results


def start_dolmen(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    (data / "devices").mkdir(parents=True)
    (data / "cluster.secret").write_text(SECRET.hex() + "\n")
    (data / "node.toml").write_text(
        "[storage-node]\n"
        f"bind_port = {port}\n"
        f'devices_dir = "{data / "devices"}"\n'
        'devices = ["d1"]\n'
        f'cluster_secret_file = "{data / "cluster.secret"}"\n'
    )
    log = open(data / "node.log", "wb")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen(
        [sys.executable, "-m", "dolmen", "storage-node", "--config", str(data / "node.toml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url)
    return process, url


def start_swift(data: Path) -> str:
    port = free_port()
    env = os.environ | {"OBJSRV_PORT": str(port), "OBJSRV_WORKERS": "1"}
    subprocess.run([str(SAIO / "objsrv-up"), str(data)], check=True, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url)
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=3.0, help="seconds per case (at least a few ops)")
    parser.add_argument("--only", choices=("dolmen", "swift"), help="run one side only")
    parser.add_argument("--data-dir", type=Path, help="where both servers keep data (default: a temp dir)")
    args = parser.parse_args()
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="node-bench-", dir="/var/tmp"))
    data.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {
        "bench": "node_bench",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "data_dir": str(data)},
        "settings": {
            "duration_s_per_case": args.duration_s,
            "dolmen": "one process, one device, defaults (inline <= 16 KiB, group commit, synced LMDB)",
            "swift": "swift object server, 1 worker, default fsync, no container updates (objsrv-up)",
        },
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        if args.only in (None, "dolmen"):
            process, url = start_dolmen(data / "dolmen")
            try:
                results["dolmen"] = asyncio.run(bench_target(DolmenTarget(url, "d1"), args.duration_s))
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
        if args.only in (None, "swift"):
            url = start_swift(data / "swift")
            try:
                results["swift"] = asyncio.run(bench_target(SwiftTarget(url), args.duration_s))
            finally:
                subprocess.run(
                    [str(SAIO / "saio-down"), str(data / "swift")], check=False, capture_output=True
                )
    finally:
        if args.data_dir is None:
            shutil.rmtree(data, ignore_errors=True)
    report["results"] = results
    if "dolmen" in results and "swift" in results:
        ratios = {}
        for name, ours in results["dolmen"].items():
            theirs = results["swift"][name]
            ratios[name] = round(ours["ops_per_s"] / theirs["ops_per_s"], 2) if theirs["ops_per_s"] else None
        report["ratios_dolmen_over_swift_ops_per_s"] = ratios
        report["goals"] = {
            "put_4k_c64_at_least_10x_swift": (ratios["put_4k_c64"] or 0) >= 10,
            "put_16m_at_least_swift": (ratios["put_16m_c1"] or 0) >= 1,
            "get_16m_at_least_swift": (ratios["get_16m_c1"] or 0) >= 1,
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
