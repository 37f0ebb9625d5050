"""Benchmark one storage node (one device) against OpenStack Swift's servers, same run, same disk.

Suite `objects`: 4 KiB PUT and GET at concurrency 1, 16 and 64; 16 MiB PUT and
GET at concurrency 1. Both servers are started fresh under one data directory on
the same filesystem, one process each (Swift: one worker, default fsync
behaviour, PUTs without container updates, via
/work/shared/peers/swift-saio/objsrv-up).

Suite `containers`: listings of 1,000 entries (JSON, from a random marker) out of
a 100,000-object container, at concurrency 1 and 8, and at concurrency 1 out of a container
that saw deletes (`list_1000_among_tombstones`: 200,000 names, all but every 100th deleted,
so each page of 1,000 objects lies among 99,000 tombstones); 4 KiB PUTs without an update at
concurrency 64 (`put_4k_no_update`: what an update adds is measured against it, in
the same run: `container_update_costs_c64`); and 4 KiB PUTs with their
container update at concurrency 1, 16, 64 and 128 (16 to 128 for the second node). Dolmen: one node process serving
both roles; `put_4k_update` names a container replica on the node's own device
(the entry is made in the object's commit), `put_4k_update_remote` one on a second
node (over HTTP, as in a cluster). Swift: its object server (objsrv-up) and its
container server (one worker each) with the update named in X-Container-Host/
-Device/-Partition, as Swift's proxy sends it (the same for both cases). The listed
containers are written straight into each side's native store before the servers start
(Dolmen's LMDB through its engine, Swift's SQLite through its ContainerBroker), then read
over HTTP.

In both suites the object PUTs go to partitions 0..1,023 in turn (OBJECT_PARTITIONS), as a
ring spreads the objects of one container over every partition of a device.

Both sides are up at once and each case runs in `--rounds` alternating slices per
server (who goes first alternates too), so that both sides of a ratio see the same
machine: on this shared machine, speed drifts by 1.5x within minutes, and a ratio of
two runs minutes apart measured the drift as much as the servers.

Prints one JSON object: per server and case ops_per_s, mib_per_s,
latency_ms_p50, latency_ms_p99 and server_cpu_us_per_op (user and system time of
that side's server processes, all threads and workers, during its slices, per
operation); the dolmen/swift ratios the issues name, the same ratio in each round
(its spread shows how steady the machine was), swift/dolmen in server CPU per
operation (which the machine's load moves less than the rates), and per operation
the ratio of each side's highest rate over the concurrencies run (each server at its
own best load, and at which concurrency).

    .venv/bin/python bench/node_bench.py [--duration-s 3] [--only dolmen|swift] [--suite objects|containers]

The load generator runs in this process on the same machine, so both servers
share the CPU with it alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvloop
import xxhash
from dolmen.storage_node import framing

from dolmen.keys import request_signing_key
from dolmen.signing import SIGNATURE_HEADER, sign_request

SAIO = Path(os.environ.get("SAIO_SCRIPTS", "/work/shared/peers/swift-saio"))
SECRET = os.urandom(32)
KEY_ID = 0
SMALL_BYTES = 4 * 2**10
LARGE_BYTES = 16 * 2**20
# Object PUTs go to partitions 0..OBJECT_PARTITIONS-1 in turn, as a ring spreads the objects of
# one container over all of them (the containers' own partitions are fixed).
OBJECT_PARTITIONS = 1024
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
# A request whose body is at most this is sent with one write (a copy is cheaper than a send
# per piece); a larger body goes piece by piece, uncopied.
SMALL_REQUEST_BYTES = 64 * 2**10
T = TypeVar("T")


def case_name(verb: str, size: int, concurrency: int) -> str:
    label = "4k" if size == SMALL_BYTES else "16m"
    return f"{verb}_{label}_c{concurrency}"


def peak_rates(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per operation (a case name without its `_c<concurrency>`), each server's highest rate over
    the concurrencies run and where it was reached, and dolmen/swift of those highest rates."""
    peaks: dict[str, dict[str, Any]] = {}
    for server in ("dolmen", "swift"):
        for name, result in results[server].items():
            operation, _, concurrency = name.rpartition("_c")
            if "ops_per_s" not in result or not concurrency.isdigit():
                continue
            peak = peaks.setdefault(operation, {}).get(server)
            if peak is None or result["ops_per_s"] > peak["ops_per_s"]:
                peaks[operation][server] = {"ops_per_s": result["ops_per_s"], "concurrency": int(concurrency)}
    for peak in peaks.values():
        ours, theirs = peak["dolmen"]["ops_per_s"], peak["swift"]["ops_per_s"]
        peak["dolmen_over_swift"] = round(ours / theirs, 2) if theirs else None
    return peaks


def run_load(work: Coroutine[Any, Any, T]) -> T:
    """Run the load generator on uvloop, as the nodes run: on asyncio's own loop it spent about
    40% more CPU per request (65 against 46 µs per 4 KiB PUT), CPU that the servers measured on
    this 2-core machine would then lack."""
    return uvloop.run(work)


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
        if sum(len(part) for part in body_parts) <= SMALL_REQUEST_BYTES:
            self.writer.write(b"".join([head, *body_parts]))  # one send, not one per part
        else:
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

    async def put(
        self, connection: Connection, path: str, body: bytes, digest: str, extra: dict[str, str] | None = None
    ) -> int:
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

    async def put(
        self, connection: Connection, path: str, body: bytes, digest: str, extra: dict[str, str] | None = None
    ) -> int:
        headers = self.signed(
            "PUT",
            path,
            {
                "X-Timestamp": self.clock.next(),
                "Content-Type": "application/octet-stream",
                framing.FRAMING_HEADER: framing.FRAMING_VERSION,
                "X-Backend-Object-Length": str(len(body)),
            }
            | (extra or {}),
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

    async def put(
        self, connection: Connection, path: str, body: bytes, digest: str, extra: dict[str, str] | None = None
    ) -> int:
        headers = {
            "X-Timestamp": self.clock.next(),
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(body)),
        } | (extra or {})
        status, _ = await connection.exchange(request_head("PUT", path, headers), [body])
        return status

    async def get(self, connection: Connection, path: str) -> tuple[int, int]:
        return await connection.exchange(request_head("GET", path, {}), [])


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class Slice:
    """One timed run of a case against one server: what every operation took."""

    latencies_s: list[float]
    failures: int
    elapsed_s: float
    server_cpu_s: float = 0.0  # CPU time of the side's server processes meanwhile


Operation = Callable[[Connection, int], Awaitable[bool]]


async def run_slice(
    operation: Operation, target: Target, *, concurrency: int, duration_s: float, ops_min: int
) -> Slice:
    """`concurrency` workers, each on its own connection, run `operation` for `duration_s`
    (and at least `ops_min` operations in all)."""
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
    return Slice(latencies_s, failures, time.perf_counter() - started)


def summarize(slices: list[Slice], size: int) -> dict[str, Any]:
    """A case's result over its slices (operations over their summed time)."""
    latencies_s = sorted(latency for piece in slices for latency in piece.latencies_s)
    elapsed_s = sum(piece.elapsed_s for piece in slices)
    server_cpu_s = sum(piece.server_cpu_s for piece in slices)
    return {
        "ops": len(latencies_s),
        "failures": sum(piece.failures for piece in slices),
        "ops_per_s": round(len(latencies_s) / elapsed_s, 1),
        "mib_per_s": round(len(latencies_s) * size / elapsed_s / 2**20, 2),
        "latency_ms_p50": round(percentile(latencies_s, 0.50) * 1000, 2),
        "latency_ms_p99": round(percentile(latencies_s, 0.99) * 1000, 2),
        "server_cpu_us_per_op": round(server_cpu_s * 1e6 / len(latencies_s), 1),
    }


def slice_rate(piece: Slice) -> float:
    return len(piece.latencies_s) / piece.elapsed_s


def cpu_seconds(config_files: list[Path]) -> float:
    """User and system CPU seconds so far of every process (all its threads) whose command line
    names one of `config_files`: a server's processes, its workers included."""
    names = [str(path).encode() for path in config_files]
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline_file:
                cmdline = cmdline_file.read()
            if not any(name in cmdline for name in names):
                continue
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Case:
    """One case as one server runs it; `operation(round_index)` makes a slice's operation."""

    name: str
    target: Target
    concurrency: int
    size: int
    ops_min: int
    operation: Callable[[int], Operation]


async def interleaved(
    servers: dict[str, list[Case]],
    *,
    duration_s: float,
    rounds: int,
    config_files: dict[str, list[Path]] | None = None,
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, list[float]]]:
    """Run every case on every server in `rounds` alternating slices of duration_s / rounds
    (who goes first alternates too), so that both sides of a ratio see the same machine: on
    this shared machine speed drifts by 1.5x within minutes. Returns each server's results
    and, per case, the first server's rate over the second's in each round. `config_files`: per
    server, the configuration files its processes are started with, to measure their CPU."""
    results: dict[str, dict[str, dict[str, Any]]] = {server: {} for server in servers}
    round_ratios: dict[str, list[float]] = {}
    names = list(servers)
    for position, first in enumerate(servers[names[0]]):
        slices: dict[str, list[Slice]] = {server: [] for server in names}
        for round_index in range(rounds):
            for server in names if round_index % 2 == 0 else names[::-1]:
                case = servers[server][position]
                assert case.name == first.name
                files = (config_files or {}).get(server, [])
                cpu_before_s = cpu_seconds(files)
                piece = await run_slice(
                    case.operation(round_index),
                    case.target,
                    concurrency=case.concurrency,
                    duration_s=duration_s / rounds,
                    ops_min=case.ops_min,
                )
                piece.server_cpu_s = cpu_seconds(files) - cpu_before_s
                slices[server].append(piece)
        for server in names:
            results[server][first.name] = summarize(slices[server], first.size)
            print(f"{server} {first.name}: {results[server][first.name]}", file=sys.stderr)
        if len(names) == 2:
            round_ratios[first.name] = [
                round(slice_rate(ours) / slice_rate(theirs), 2)
                for ours, theirs in zip(slices[names[0]], slices[names[1]], strict=True)
            ]
    return results, round_ratios


def object_cases(target: DolmenTarget | SwiftTarget) -> list[Case]:
    """The objects suite against one server: PUTs, then GETs of what they wrote."""
    bodies = {size: os.urandom(size) for size in (SMALL_BYTES, LARGE_BYTES)}
    digests = {
        size: xxhash.xxh3_128_hexdigest(body) + xxhash.xxh3_64_hexdigest(body)
        for size, body in bodies.items()
    }
    written: dict[int, list[str]] = {SMALL_BYTES: [], LARGE_BYTES: []}

    def put(name: str, size: int) -> Callable[[int], Operation]:
        def make(round_index: int) -> Operation:
            prefix = f"{name}-{round_index}-{time.time_ns()}"

            async def operation(connection: Connection, index: int) -> bool:
                path = target.path(index % OBJECT_PARTITIONS, f"{prefix}-{index}")
                status = await target.put(connection, path, bodies[size], digests[size])
                if status == 201:
                    written[size].append(path)
                return status == 201

            return operation

        return make

    def get(size: int) -> Callable[[int], Operation]:
        def make(round_index: int) -> Operation:
            paths = written[size]
            assert paths, f"no {size}-byte objects to read"

            async def operation(connection: Connection, index: int) -> bool:
                status, received = await target.get(connection, paths[index % len(paths)])
                return status == 200 and received == size

            return operation

        return make

    return [
        Case(
            case_name(verb, size, concurrency),
            target,
            concurrency,
            size,
            concurrency if size == SMALL_BYTES else 3,
            put(case_name(verb, size, concurrency), size) if verb == "put" else get(size),
        )
        for verb, size, concurrency in CASES
    ]


def start_dolmen(data: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A storage node on `data` (in `env`, default this process's); its process and URL."""
    port = free_port()
    (data / "devices").mkdir(parents=True, exist_ok=True)
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
        env=env,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url)
    return process, url


@contextlib.contextmanager
def dolmen_node(data: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """A storage node on `data` (in `env`, default this process's) while the block runs; its URL."""
    process, url = start_dolmen(data, env)
    try:
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


@contextlib.contextmanager
def swift_object_server(data: Path) -> Iterator[str]:
    """Swift's object server alone (objsrv-up) while the block runs; its URL."""
    try:
        yield start_swift(data)
    finally:
        subprocess.run([str(SAIO / "saio-down"), str(data)], check=False, capture_output=True)


@contextlib.contextmanager
def swift_container_server(data: Path) -> Iterator[str]:
    try:
        yield start_swift_container_server(data)
    finally:
        stop_swift_container_server(data)


def start_swift(data: Path) -> str:
    port = free_port()
    env = os.environ | {"OBJSRV_PORT": str(port), "OBJSRV_WORKERS": "1"}
    subprocess.run([str(SAIO / "objsrv-up"), str(data)], check=True, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url)
    return url


# --- the containers suite ------------------------------------------------------------

LISTING_OBJECTS = 100_000
LISTING_PAGE = 1000
# A container that saw deletes: CHURN_NAMES names, one in CHURN_LIVE_EVERY still there, the
# rest tombstones (Dolmen's tombstone entries; Swift's rows marked deleted).
CHURN_NAMES = 200_000
CHURN_LIVE_EVERY = 100
# The listed containers, written into both sides before they start: (name, names, one in how
# many of them is an object; the others are deleted).
LISTED_CONTAINERS = (("big", LISTING_OBJECTS, 1), ("churn", CHURN_NAMES, CHURN_LIVE_EVERY))
CONTAINER_CASES = [
    ("list_1000", 1),
    ("list_1000", 8),
    ("list_1000_among_tombstones", 1),
    ("put_4k_no_update", 64),  # the same PUTs without an update: what an update adds, in this run
    ("put_4k_update", 1),
    ("put_4k_update", 16),
    ("put_4k_update", 64),
    ("put_4k_update", 128),
    ("put_4k_update_remote", 16),
    ("put_4k_update_remote", 64),
    ("put_4k_update_remote", 128),
]
SWIFT_PRELOAD = """
import os, sys
from swift.common.utils import hash_path, set_swift_dir, storage_directory, Timestamp
from swift.container.backend import ContainerBroker
devices, account, container, count, swift_dir = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
live_every = int(sys.argv[6])  # one name in live_every is an object, the others deleted rows
set_swift_dir(swift_dir)  # the server's swift.conf: its hash path prefix places the database
digest = hash_path(account, container)
path = os.path.join(devices, "sdb1", storage_directory("containers", 0, digest), digest + ".db")
broker = ContainerBroker(path, account=account, container=container)
broker.initialize(Timestamp(1).internal, 0)
stamp = Timestamp(2).internal
for start in range(0, count, 10000):
    broker.merge_items([
        {"name": f"obj-{index:07d}", "created_at": stamp, "size": 4096, "content_type": "application/octet-stream",
         "etag": "d41d8cd98f00b204e9800998ecf8427e", "deleted": 0, "storage_policy_index": 0}
        if index % live_every == 0 else
        {"name": f"obj-{index:07d}", "created_at": stamp, "size": 0, "content_type": "",
         "etag": "", "deleted": 1, "storage_policy_index": 0}
        for index in range(start, min(start + 10000, count))
    ])
print(broker.get_info()["object_count"])
"""


def object_names(count: int) -> list[str]:
    return [f"obj-{index:07d}" for index in range(count)]


async def preload_dolmen(device_root: Path) -> None:
    """The listed containers written through the engine into the device, before the node starts:
    "big" (100,000 entries) and "churn" (CHURN_NAMES, all but one in CHURN_LIVE_EVERY deleted)."""
    from dolmen.storage_node.containers import CONTAINER, Keyspaces
    from dolmen.storage_node.device import DeviceConfig, DeviceStore
    from dolmen.storage_node.entries import ObjectEntry
    from dolmen.storage_node.timestamps import Timestamp

    from dolmen.keys import key_fingerprint, placement_key

    store = await DeviceStore.open(
        device_root,
        DeviceConfig(free_space_reserve_bytes=0),
        cluster_fingerprint=key_fingerprint(placement_key(SECRET)),
        device="d1",
    )
    try:
        keyspaces = Keyspaces(store)
        for container in ("c", *(listed for listed, _, _ in LISTED_CONTAINERS)):
            await keyspaces.put(CONTAINER, 0, "AUTH_bench", container, Timestamp(1), metadata={})
        live = ObjectEntry(
            "", Timestamp(2), False, 4096, "d41d8cd98f00b204e9800998ecf8427e", "application/octet-stream"
        )
        deleted = ObjectEntry("", Timestamp(2), True, 0, "", "")
        for container, count, live_every in LISTED_CONTAINERS:
            entries = [
                (live if index % live_every == 0 else deleted)._replace(name=name)
                for index, name in enumerate(object_names(count))
            ]
            for start in range(0, len(entries), 10_000):
                await keyspaces.update_objects(0, "AUTH_bench", container, entries[start : start + 10_000])
    finally:
        await store.close()


class DolmenContainers(DolmenTarget):
    async def listing(self, connection: Connection, container: str, marker: str) -> tuple[int, int]:
        path = f"/{self.device}/0/AUTH_bench/{container}"
        query = f"format=json&limit={LISTING_PAGE}&marker={marker}"
        headers = {"X-Backend-Role": "container"}
        headers.update(
            sign_request(
                self.key,
                key_id=KEY_ID,
                method="GET",
                path=path,
                query=query,
                headers=headers,
                now_s=time.time(),
            )
        )
        return await connection.exchange(request_head("GET", f"{path}?{query}", headers), [])

    def container_object_count(self) -> int:
        path, headers = f"/{self.device}/0/AUTH_bench/c", {"X-Backend-Role": "container"}
        return head_count(self.url + path, self.signed("HEAD", path, headers))

    def create_container(self, name: str) -> None:
        path = f"/{self.device}/0/AUTH_bench/{name}"
        headers = self.signed("PUT", path, {"X-Backend-Role": "container", "X-Timestamp": self.clock.next()})
        request = urllib.request.Request(self.url + path, method="PUT", headers=headers)
        urllib.request.urlopen(request, timeout=30).close()

    def update_headers(self) -> dict[str, str]:
        host = self.url.removeprefix("http://")
        return {
            "X-Backend-Container-Host": host,
            "X-Backend-Container-Device": self.device,
            "X-Backend-Container-Partition": "0",
        }


class SwiftContainers(SwiftTarget):
    def __init__(self, url: str, container_url: str) -> None:
        super().__init__(url)
        self.container_url = container_url

    async def listing(self, connection: Connection, container: str, marker: str) -> tuple[int, int]:
        path = f"/sdb1/0/AUTH_bench/{container}?format=json&limit={LISTING_PAGE}&marker={marker}"
        return await connection.exchange(request_head("GET", path, {}), [])

    def container_object_count(self) -> int:
        return head_count(self.container_url + "/sdb1/0/AUTH_bench/c", {})

    def update_headers(self) -> dict[str, str]:
        host = self.container_url.removeprefix("http://")
        return {"X-Container-Host": host, "X-Container-Device": "sdb1", "X-Container-Partition": "0"}


def container_cases(
    target: DolmenContainers | SwiftContainers,
    listing_target: DolmenContainers | SwiftContainers,
    *,
    remote_update_headers: dict[str, str],
) -> list[Case]:
    """The containers suite against one server: listings (from `listing_target`), then 4 KiB
    PUTs with their container update, to a container replica the object server holds itself
    where it can (Dolmen: the same device) and then to one on another server."""
    body = os.urandom(SMALL_BYTES)
    digest = xxhash.xxh3_128_hexdigest(body) + xxhash.xxh3_64_hexdigest(body)

    def listing(container: str, names: list[str]) -> Callable[[int], Operation]:
        """Pages of LISTING_PAGE entries of `container`, from markers among its live `names`
        (each page full)."""

        def make(round_index: int) -> Operation:
            async def operation(connection: Connection, index: int) -> bool:
                marker = names[(index * 7919 + round_index * 104_729) % (len(names) - LISTING_PAGE)]
                status, received = await listing_target.listing(connection, container, marker)
                return bool(status == 200 and received > LISTING_PAGE * 100)

            return operation

        return make

    live_names = {
        container: object_names(count)[::live_every] for container, count, live_every in LISTED_CONTAINERS
    }
    listings = {
        "list_1000": listing("big", live_names["big"]),
        "list_1000_among_tombstones": listing("churn", live_names["churn"]),
    }

    def put(name: str, update_headers: dict[str, str]) -> Callable[[int], Operation]:
        def make(round_index: int) -> Operation:
            prefix = f"{name}-{round_index}-{time.time_ns()}"

            async def operation(connection: Connection, index: int) -> bool:
                path = target.path(index % OBJECT_PARTITIONS, f"{prefix}-{index}")
                return await target.put(connection, path, body, digest, extra=update_headers) == 201

            return operation

        return make

    cases = []
    for case, concurrency in CONTAINER_CASES:
        name = f"{case}_c{concurrency}"
        if case in listings:
            cases.append(Case(name, listing_target, concurrency, 0, concurrency, listings[case]))
        else:
            headers = {
                "put_4k_no_update": {},
                "put_4k_update": target.update_headers(),
                "put_4k_update_remote": remote_update_headers,
            }[case]
            cases.append(Case(name, target, concurrency, SMALL_BYTES, concurrency, put(name, headers)))
    return cases


def update_costs(cases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What a container update adds to a 4 KiB PUT at c64, on one server: its server CPU per PUT
    with and without the update (µs added) and the share of the rate it keeps."""
    base = cases.get("put_4k_no_update_c64")
    if not base or not base.get("ops_per_s") or not base.get("server_cpu_us_per_op"):
        return {}
    costs: dict[str, Any] = {
        "without_update": {key: base[key] for key in ("ops_per_s", "server_cpu_us_per_op")}
    }
    for where, case in (("same_device", "put_4k_update_c64"), ("second_node", "put_4k_update_remote_c64")):
        result = cases.get(case)
        if result and result.get("server_cpu_us_per_op"):
            costs[where] = {
                "ops_per_s": result["ops_per_s"],
                "server_cpu_us_per_op": result["server_cpu_us_per_op"],
                "cpu_us_added_per_put": round(
                    result["server_cpu_us_per_op"] - base["server_cpu_us_per_op"], 1
                ),
                "rate_kept": round(result["ops_per_s"] / base["ops_per_s"], 3),
            }
    return costs


def head_count(url: str, headers: dict[str, str]) -> int:
    with urllib.request.urlopen(
        urllib.request.Request(url, method="HEAD", headers=headers), timeout=30
    ) as answer:
        return int(answer.headers["X-Container-Object-Count"])


def start_swift_container_server(data: Path) -> str:
    """Swift's container server alone (one worker), with its own swift.conf, under `data`."""
    port = free_port()
    etc, devices = data / "etc", data / "srv" / "node"
    (devices / "sdb1").mkdir(parents=True)
    etc.mkdir(parents=True)
    (data / "log").mkdir()
    (etc / "swift.conf").write_text(
        "[swift-hash]\nswift_hash_path_prefix = consrv-prefix\nswift_hash_path_suffix = consrv-suffix\n"
        "[storage-policy:0]\nname = gold\ndefault = yes\n"
    )
    (etc / "container-server.conf").write_text(
        f"[DEFAULT]\ndevices = {devices}\nmount_check = false\nbind_ip = 127.0.0.1\nbind_port = {port}\n"
        f"workers = 1\nuser = {os.environ.get('USER', 'root')}\nswift_dir = {etc}\nlog_name = consrv\n"
        "log_udp_host = 127.0.0.1\n\n[pipeline:main]\npipeline = healthcheck container-server\n\n"
        "[filter:healthcheck]\nuse = egg:swift#healthcheck\n\n[app:container-server]\nuse = egg:swift#container\n"
    )
    venv = Path(os.environ.get("SAIO_VENV", "/tmp/swift-saio-venv"))
    for container, count, live_every in LISTED_CONTAINERS:
        live = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                SWIFT_PRELOAD,
                str(devices),
                "AUTH_bench",
                container,
                str(count),
                str(etc),
                str(live_every),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert live == str(count // live_every), live
    log = open(data / "log" / "consrv.log", "ab")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen(
        [str(venv / "bin" / "swift-container-server"), str(etc / "container-server.conf")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    (data / "pid").write_text(str(process.pid))
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url)
    return url


def stop_swift_container_server(data: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
        os.killpg(int((data / "pid").read_text()), signal.SIGTERM)


def run_containers_suite(
    data: Path, only: str | None, duration_s: float, rounds: int
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, list[float]]]:
    """Both sides up at once (Dolmen: the node and a second node holding the remote container
    replica; Swift: its object and container servers), then the cases interleaved."""
    with contextlib.ExitStack() as running:
        servers: dict[str, list[Case]] = {}
        counts: dict[str, Callable[[], int]] = {}
        if only in (None, "dolmen"):
            (data / "dolmen-c" / "devices" / "d1").mkdir(parents=True)
            asyncio.run(preload_dolmen(data / "dolmen-c" / "devices" / "d1"))
            node = running.enter_context(dolmen_node(data / "dolmen-c"))
            other_node = running.enter_context(dolmen_node(data / "dolmen-c2"))
            target, other = DolmenContainers(node, "d1"), DolmenContainers(other_node, "d1")
            other.create_container("c")
            servers["dolmen"] = container_cases(target, target, remote_update_headers=other.update_headers())
            counts["dolmen"] = lambda: target.container_object_count() + other.container_object_count()
        if only in (None, "swift"):
            container_url = running.enter_context(swift_container_server(data / "swift-containers"))
            url = running.enter_context(swift_object_server(data / "swift-c"))
            put_container = urllib.request.Request(
                container_url + "/sdb1/0/AUTH_bench/c",
                method="PUT",
                headers={"X-Timestamp": "0000000001.00000"},
            )
            urllib.request.urlopen(put_container, timeout=10).close()
            swift = SwiftContainers(url, container_url)
            servers["swift"] = container_cases(
                swift,
                SwiftContainers(container_url, container_url),
                remote_update_headers=swift.update_headers(),
            )
            counts["swift"] = swift.container_object_count
        config_files = {
            "dolmen": [data / "dolmen-c" / "node.toml", data / "dolmen-c2" / "node.toml"],
            "swift": [
                data / "swift-c" / "etc" / "object-server.conf",
                data / "swift-containers" / "etc" / "container-server.conf",
            ],
        }
        results, round_ratios = run_load(
            interleaved(servers, duration_s=duration_s, rounds=rounds, config_files=config_files)
        )
        for server, cases in results.items():
            stored = sum(
                int(result["ops"] - result["failures"])
                for case, result in cases.items()
                if case.startswith("put_4k_update")
            )
            # Every acknowledged PUT must be in its container's listing (Swift may still hold some
            # in async_pending files if its update timed out; Dolmen in its pending queue).
            cases["put_4k_update_listed"] = {"stored": stored, "listed": counts[server]()}
    return results, round_ratios


def run_objects_suite(
    data: Path, only: str | None, duration_s: float, rounds: int
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, list[float]]]:
    with contextlib.ExitStack() as running:
        servers: dict[str, list[Case]] = {}
        if only in (None, "dolmen"):
            servers["dolmen"] = object_cases(
                DolmenTarget(running.enter_context(dolmen_node(data / "dolmen")), "d1")
            )
        if only in (None, "swift"):
            servers["swift"] = object_cases(
                SwiftTarget(running.enter_context(swift_object_server(data / "swift")))
            )
        config_files = {
            "dolmen": [data / "dolmen" / "node.toml"],
            "swift": [data / "swift" / "etc" / "object-server.conf"],
        }
        return run_load(interleaved(servers, duration_s=duration_s, rounds=rounds, config_files=config_files))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=3.0, help="seconds per case (at least a few ops)")
    parser.add_argument("--only", choices=("dolmen", "swift"), help="run one side only")
    parser.add_argument("--data-dir", type=Path, help="where both servers keep data (default: a temp dir)")
    parser.add_argument("--suite", choices=("objects", "containers"), help="run one suite only")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="alternating slices per case and server (duration split among them)",
    )
    args = parser.parse_args()
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="node-bench-", dir="/var/tmp"))
    data.mkdir(parents=True, exist_ok=True)
    data = data.resolve()  # as the servers' command lines name their configuration files
    report: dict[str, object] = {
        "bench": "node_bench",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "data_dir": str(data)},
        "settings": {
            "duration_s_per_case": args.duration_s,
            "rounds": args.rounds,
            "dolmen": "one process, one device, defaults (inline <= 16 KiB, group commit, synced LMDB); "
            "containers suite: updates to the node's own device, and (remote) to a second node",
            "swift": "swift object server, 1 worker, default fsync, no container updates (objsrv-up); "
            "containers suite: plus swift's container server, 1 worker, receiving the updates",
            "method": "both servers up at once; each case runs in `rounds` alternating slices per server",
            "load_generator": "one process on uvloop, one kept-alive connection per concurrent worker",
        },
    }
    results: dict[str, dict[str, dict[str, Any]]] = {}
    round_ratios: dict[str, list[float]] = {}
    try:
        for suite, run in (("objects", run_objects_suite), ("containers", run_containers_suite)):
            if args.suite in (None, suite):
                suite_results, suite_ratios = run(data, args.only, args.duration_s, args.rounds)
                for server, cases in suite_results.items():
                    results.setdefault(server, {}).update(cases)
                round_ratios.update(suite_ratios)
    finally:
        if args.data_dir is None:
            shutil.rmtree(data, ignore_errors=True)
    report["results"] = results
    if "dolmen" in results and "swift" in results:
        ratios = {}
        for name, ours in results["dolmen"].items():
            theirs = results["swift"][name]
            if "ops_per_s" not in ours:
                continue
            ratios[name] = round(ours["ops_per_s"] / theirs["ops_per_s"], 2) if theirs["ops_per_s"] else None
        report["ratios_dolmen_over_swift_ops_per_s"] = ratios
        report["ratios_per_round"] = round_ratios
        # The same comparison in server CPU per operation, which the machine's load moves less.
        report["ratios_swift_over_dolmen_server_cpu_per_op"] = {
            name: round(results["swift"][name]["server_cpu_us_per_op"] / ours["server_cpu_us_per_op"], 2)
            for name, ours in results["dolmen"].items()
            if ours.get("server_cpu_us_per_op") and results["swift"][name].get("server_cpu_us_per_op")
        }
        report["peak_rates"] = peak_rates(results)
        # The "cost a container update adds to a 4 KiB PUT", each side against itself.
        costs = {server: update_costs(cases) for server, cases in results.items()}
        if all(costs.values()):
            report["container_update_costs_c64"] = costs
        goals = {
            "put_4k_c64_at_least_10x_swift": ("put_4k_c64", 10),
            "put_16m_at_least_swift": ("put_16m_c1", 1),
            "get_16m_at_least_swift": ("get_16m_c1", 1),
            "list_1000_c1_at_least_5x_swift": ("list_1000_c1", 5),
            "list_1000_c8_at_least_5x_swift": ("list_1000_c8", 5),
            "put_4k_update_c64_at_least_10x_swift": ("put_4k_update_c64", 10),
            "put_4k_update_remote_c64_at_least_10x_swift": ("put_4k_update_remote_c64", 10),
        }
        report["goals"] = {
            goal: (ratios[case] or 0) >= factor for goal, (case, factor) in goals.items() if case in ratios
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
