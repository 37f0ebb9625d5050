"""Object benchmark through the Swift or S3 API: `dolmen up` against OpenStack Swift's all-in-one, same run.

Both clusters are started fresh under one temporary directory, like for like:
4 storage servers with one device each, 3 replicas, 2 proxy workers (Dolmen:
`dolmen up --nodes 4 --devices-per-node 1 --proxy-workers 2`; Swift:
`saio-up` with SAIO_PROXY_WORKERS=2). `--api swift` (the default) reaches both
through Swift's v1 auth; `--api s3` through S3 (Dolmen's S3 listener, Swift's
s3api), every request signed with SigV4 and every PUT sent as boto3 sends it:
`STREAMING-UNSIGNED-PAYLOAD-TRAILER`, aws-chunked in 1 MiB chunks with a
trailing CRC32.

Cases: 4 KiB x 2,000 objects at concurrency 16, 1 MiB x 200 at 8, 64 MiB x 4
at 1; for each, PUT all, GET all (every body checked against its MD5), DELETE
all. Prints one JSON object: per cluster and case ops_per_s, mib_per_s,
latency_ms_p50, latency_ms_p99, errors, cpu_ms_per_op (user and system time of every
process of that cluster: those whose command line names its data directory); the
Dolmen/Swift ratio of ops_per_s, and the Swift/Dolmen ratio of cpu_ms_per_op (how many times
less CPU an operation costs here: steadier than throughput on a busy machine).

    .venv/bin/python bench/objbench.py [--api swift|s3] [--scale 0.1] [--only dolmen|swift] [--saio-daemons 0|1]
        [--cases 4k,1m,64m,lo,list]

The large-object case `lo` (Swift API only): a 1 GiB file uploaded by `swift upload
--use-slo --segment-size 64MiB` (an SLO of 16 segments, the client's 10 segment
threads) and downloaded by `swift download` (checked against its MD5), both with
the cluster's token. `--scale` shrinks the file (segments stay 64 MiB unless the
file is smaller). Its ratio is of MiB/s (`ratio_mib_per_s_lo`).

The listing case `list`: a container of 10,000 empty objects (scaled), listed in pages of 1,000
(Swift: JSON, marker to marker; S3: ListObjectsV2, token to token) at concurrency 1 and 4 for
8 s each, then again after all but every 10th object are deleted
(`list_1000_c1_after_deletes`: 1,000 live entries among 9,000 tombstones, one page a pass).
Its ops are pages; every pass must list exactly the live objects (else `errors`).

The load generator is this process, on the same 2-core machine as both clusters.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit
from xml.etree import ElementTree

import aiohttp
from dolmen.proxy.s3.sigv4 import authorization_header
from yarl import URL

from dolmen.devcluster import free_port_run

SAIO = Path(os.environ.get("SAIO_SCRIPTS", "/work/shared/peers/swift-saio"))
CASES = [("4k", 4 * 2**10, 2000, 16), ("1m", 2**20, 200, 8), ("64m", 64 * 2**20, 4, 1)]
OPERATIONS = ("put", "get", "delete")
REQUEST_TIMEOUT_S = 300.0
STARTUP_TIMEOUT_S = 240.0


S3_CHUNK_BYTES = 2**20  # boto3's aws-chunked chunk size
S3_REGION = "us-east-1"
S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
LISTING_OBJECTS = 10_000  # in the listing case's container
LISTING_PAGE = 1_000
LISTING_LIVE_EVERY = 10  # objects that stay after the deletes
LISTING_SECONDS = 8.0
EMPTY_MD5 = hashlib.md5(b"").hexdigest()
LARGE_OBJECT_BYTES = 2**30
LARGE_OBJECT_SEGMENT_BYTES = 64 * 2**20
SWIFT_CLI = shutil.which("swift", path=str(Path(sys.executable).parent)) or shutil.which("swift") or "swift"


@dataclass(frozen=True)
class Endpoint:
    storage_url: str
    token: str


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key: str
    secret_key: str


Answer = AbstractAsyncContextManager[aiohttp.ClientResponse]


class SwiftApi:
    """Objects through the Swift API with a v1 token."""

    put_status, container_statuses = 201, (201, 202)

    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint) -> None:
        self.session, self.endpoint = session, endpoint

    def request(
        self,
        method: str,
        container: str,
        key: str = "",
        body: bytes | None = None,
        etag: str = "",
        query: dict[str, str] | None = None,
    ) -> Answer:
        headers = {"X-Auth-Token": self.endpoint.token}
        if body is not None:
            headers |= {"Content-Type": "application/octet-stream", "ETag": etag}
        url = f"{self.endpoint.storage_url}/{container}" + (f"/{key}" if key else "")
        return self.session.request(method, url, headers=headers, data=body, params=query)

    async def list_page(self, container: str, after: str, limit: int) -> tuple[list[str], str]:
        """A page of names after the marker `after`, and the next marker ("" after the last page)."""
        query = {"format": "json", "limit": str(limit), "marker": after}
        async with self.request("GET", container, query=query) as answer:
            if answer.status != 200:
                raise RuntimeError(f"listing answered {answer.status}")
            names = [row["name"] for row in await answer.json()]
        return names, names[-1] if len(names) == limit else ""


class S3Api:
    """Objects through S3, signed with SigV4; PUT bodies aws-chunked with a trailing CRC32, as boto3 sends."""

    put_status, container_statuses = 200, (200,)

    def __init__(self, session: aiohttp.ClientSession, endpoint: S3Endpoint) -> None:
        self.session, self.endpoint = session, endpoint
        self.host = urlsplit(endpoint.url).netloc

    def request(
        self,
        method: str,
        container: str,
        key: str = "",
        body: bytes | None = None,
        etag: str = "",
        query: dict[str, str] | None = None,
    ) -> Answer:
        """`etag` is unused: boto3 sends a CRC32 trailer, not Content-MD5."""
        path = f"/{container}" + (f"/{quote(key)}" if key else "")
        raw_query = urlencode(sorted((query or {}).items()), quote_via=quote, safe="-_.~")
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        headers = {"host": self.host, "x-amz-date": amz_date}
        data: bytes | AsyncIterator[bytes] | None = None
        if body is None:
            payload_hash = "UNSIGNED-PAYLOAD"
        else:
            payload_hash = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
            headers |= {
                "content-encoding": "aws-chunked",
                "content-type": "application/octet-stream",
                "x-amz-decoded-content-length": str(len(body)),
                "x-amz-trailer": "x-amz-checksum-crc32",
            }
            data = aws_chunked(body)
        headers["x-amz-content-sha256"] = payload_hash
        headers["authorization"] = authorization_header(
            access_key=self.endpoint.access_key, secret_key=self.endpoint.secret_key, method=method,
            raw_path=path, raw_query=raw_query, headers=headers, payload_hash=payload_hash, amz_date=amz_date,
            region=S3_REGION,
        )  # fmt: skip
        if body is not None:
            headers["content-length"] = str(aws_chunked_length(len(body)))
        url = URL(f"{self.endpoint.url}{path}" + (f"?{raw_query}" if raw_query else ""), encoded=True)
        return self.session.request(method, url, headers=headers, data=data)

    async def list_page(self, bucket: str, after: str, limit: int) -> tuple[list[str], str]:
        """A ListObjectsV2 page of keys after the continuation token `after`, and the next token
        ("" after the last page)."""
        query = {"list-type": "2", "max-keys": str(limit)} | ({"continuation-token": after} if after else {})
        async with self.request("GET", bucket, query=query) as answer:
            if answer.status != 200:
                raise RuntimeError(f"ListObjectsV2 answered {answer.status}")
            root = ElementTree.fromstring(await answer.read())
        names = [key.text or "" for key in root.iter(f"{{{S3_NAMESPACE}}}Key")]
        truncated = root.findtext(f"{{{S3_NAMESPACE}}}IsTruncated") == "true"
        return names, (root.findtext(f"{{{S3_NAMESPACE}}}NextContinuationToken") or "") if truncated else ""


def aws_chunked_length(size: int) -> int:
    full, rest = divmod(size, S3_CHUNK_BYTES)
    frames = full * (len(f"{S3_CHUNK_BYTES:x}") + 4 + S3_CHUNK_BYTES)
    frames += len(f"{rest:x}") + 4 + rest if rest else 0
    return frames + len(b"0\r\n") + len("x-amz-checksum-crc32:") + 8 + len(b"\r\n\r\n")


async def aws_chunked(body: bytes) -> AsyncIterator[bytes]:
    """`body` in aws-chunked frames, then the trailer with its CRC32 (computed as it streams)."""
    crc = 0
    view = memoryview(body)
    for offset in range(0, len(body), S3_CHUNK_BYTES):
        piece = view[offset : offset + S3_CHUNK_BYTES]
        crc = zlib.crc32(piece, crc)
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    checksum = base64.b64encode(crc.to_bytes(4, "big")).decode()
    yield f"0\r\nx-amz-checksum-crc32:{checksum}\r\n\r\n".encode()


def body_of(size: int, index: int, base: bytes) -> bytes:
    """A distinct body per object: the shared random base with the index in its first bytes."""
    return index.to_bytes(8, "big") + base[8:size]


async def v1_auth(session: aiohttp.ClientSession, url: str, user: str, key: str) -> Endpoint:
    async with session.get(url, headers={"X-Auth-User": user, "X-Auth-Key": key}) as answer:
        if answer.status != 200:
            raise RuntimeError(f"auth at {url} answered {answer.status}: {await answer.text()}")
        return Endpoint(answer.headers["X-Storage-Url"], answer.headers["X-Auth-Token"])


def cluster_cpu_s(data: Path) -> float:
    """User and system CPU seconds so far of the cluster's processes: those whose command line
    names `data`, and those listed in `data`/run/pids (where Swift's all-in-one keeps its own,
    memcached's among them)."""
    needle = str(data).encode()
    try:
        listed = set((data / "run" / "pids").read_text().split())
    except OSError:
        listed = set()
    total_ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.name not in listed:
                with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                    if needle not in cmdline.read():
                        continue
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:  # gone meanwhile
            continue
        total_ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total_ticks / os.sysconf("SC_CLK_TCK")


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
    api: SwiftApi | S3Api, label: str, size: int, count: int, concurrency: int, cpu_s: Callable[[], float]
) -> dict[str, dict[str, object]]:
    """PUT, GET (verified) and DELETE `count` objects of `size` bytes in a fresh container."""
    container = f"bench-{label}-{os.getpid()}"
    async with api.request("PUT", container) as answer:
        assert answer.status in api.container_statuses, (answer.status, await answer.text())
    base = os.urandom(size)
    md5s = [hashlib.md5(body_of(size, index, base)).hexdigest() for index in range(count)]

    async def put(index: int) -> None:
        async with api.request(
            "PUT", container, f"o{index}", body_of(size, index, base), md5s[index]
        ) as answer:
            if answer.status != api.put_status:
                raise RuntimeError(f"PUT answered {answer.status}: {(await answer.text())[:300]}")

    async def get(index: int) -> None:
        digest = hashlib.md5()
        async with api.request("GET", container, f"o{index}") as answer:
            if answer.status != 200:
                raise RuntimeError(f"GET answered {answer.status}")
            async for chunk in answer.content.iter_chunked(2**20):
                digest.update(chunk)
        if digest.hexdigest() != md5s[index]:
            raise RuntimeError("GET returned other bytes than were stored")

    async def delete(index: int) -> None:
        async with api.request("DELETE", container, f"o{index}") as answer:
            if answer.status != 204:
                raise RuntimeError(f"DELETE answered {answer.status}")

    results: dict[str, dict[str, object]] = {}
    for name, one in (("put", put), ("get", get), ("delete", delete)):
        cpu_before_s = cpu_s()
        elapsed_s, latencies, errors = await run_operation(count, concurrency, one)
        cpu_spent_s = cpu_s() - cpu_before_s
        moved = size if name != "delete" else 0
        results[f"{name}_{label}"] = {
            "objects": count,
            "concurrency": concurrency,
            "ops_per_s": round(count / elapsed_s, 1),
            "mib_per_s": round(count * moved / elapsed_s / 2**20, 1),
            "latency_ms_p50": percentile_ms(latencies, 0.50),
            "latency_ms_p99": percentile_ms(latencies, 0.99),
            "errors": errors,
            "cpu_ms_per_op": round(cpu_spent_s * 1000 / count, 2),
        }
        print(f"  {name}_{label}: {results[f'{name}_{label}']}", file=sys.stderr)
    async with api.request("DELETE", container):
        pass
    return results


async def bench_listing(
    api: SwiftApi | S3Api, scale: float, cpu_s: Callable[[], float]
) -> dict[str, dict[str, object]]:
    """Pages of LISTING_PAGE objects (`list_page`, page to page, round and round) from a container of
    LISTING_OBJECTS, at concurrency 1 and 4 for LISTING_SECONDS each; then again once all but every
    LISTING_LIVE_EVERY-th object are deleted (`_after_deletes`: live entries among tombstones)."""
    count = max(2 * LISTING_PAGE, round(LISTING_OBJECTS * scale))
    container = f"bench-list-{os.getpid()}"
    async with api.request("PUT", container) as answer:
        assert answer.status in api.container_statuses, answer.status

    def name(index: int) -> str:
        return f"photos/2026/{index:07d}.jpg"

    async def change(method: str, indexes: list[int]) -> None:
        async def one(position: int) -> None:
            body = b"" if method == "PUT" else None
            async with api.request(method, container, name(indexes[position]), body, EMPTY_MD5) as answer:
                if answer.status not in (200, 201, 204):
                    raise RuntimeError(f"{method} answered {answer.status}")

        _elapsed_s, _latencies, errors = await run_operation(len(indexes), 16, one)
        assert errors == 0, f"{errors} {method}s failed while preparing the listing case"

    results: dict[str, dict[str, object]] = {}
    await change("PUT", list(range(count)))
    for label, live in (("", count), ("_after_deletes", len(range(0, count, LISTING_LIVE_EVERY)))):
        if label:
            await change("DELETE", [index for index in range(count) if index % LISTING_LIVE_EVERY])
        for concurrency in (1, 4):
            case = f"list_{LISTING_PAGE}_c{concurrency}{label}"
            results[case] = await list_pages(api, container, live, concurrency, cpu_s)
            print(f"  {case}: {results[case]}", file=sys.stderr)
    await change("DELETE", list(range(0, count, LISTING_LIVE_EVERY)))
    async with api.request("DELETE", container):
        pass
    return results


async def list_pages(
    api: SwiftApi | S3Api, container: str, live: int, concurrency: int, cpu_s: Callable[[], float]
) -> dict[str, object]:
    """Each worker pages through the whole listing again and again for LISTING_SECONDS; every
    pass must list exactly `live` objects (else an error)."""
    latencies: list[float] = []
    entries = errors = 0
    deadline = time.perf_counter() + LISTING_SECONDS

    async def worker() -> None:
        nonlocal entries, errors
        after, listed = "", 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                names, after = await api.list_page(container, after, LISTING_PAGE)
            except (RuntimeError, aiohttp.ClientError, ElementTree.ParseError):
                names, after, listed = [], "", -1  # (an error, and the pass starts again)
            latencies.append(time.perf_counter() - started)
            entries += len(names)
            listed += len(names)
            if after:
                continue
            errors += listed != live  # a pass that failed, missed or repeated objects
            listed = 0

    cpu_before_s, started = cpu_s(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed_s, cpu_spent_s = time.perf_counter() - started, cpu_s() - cpu_before_s
    return {
        "live_objects": live,
        "concurrency": concurrency,
        "ops_per_s": round(len(latencies) / elapsed_s, 1),
        "entries_per_page": round(entries / len(latencies), 1),
        "latency_ms_p50": percentile_ms(latencies, 0.50),
        "latency_ms_p99": percentile_ms(latencies, 0.99),
        "errors": errors,
        "cpu_ms_per_op": round(cpu_spent_s * 1000 / len(latencies), 2),
    }


def bench_large_object(endpoint: Endpoint, scale: float) -> dict[str, dict[str, object]]:
    """`swift upload --use-slo --segment-size` of one large file, then `swift download` of it."""
    size = max(2**20, round(LARGE_OBJECT_BYTES * scale))
    segment = min(LARGE_OBJECT_SEGMENT_BYTES, size)
    auth = ["--os-storage-url", endpoint.storage_url, "--os-auth-token", endpoint.token]
    container = f"bench-lo-{os.getpid()}"
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="objbench-lo-") as work:
        source, back = Path(work) / "large.bin", Path(work) / "large.back"
        digest = hashlib.md5()
        with source.open("wb") as out:
            for start in range(0, size, 2**24):
                block = os.urandom(min(2**24, size - start))
                digest.update(block)
                out.write(block)
        for name, arguments in (
            ("put", ["upload", "--use-slo", "--segment-size", str(segment), "--object-name", "large", container, str(source)]),
            ("get", ["download", container, "large", "-o", str(back)]),
        ):  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(
                [SWIFT_CLI, *auth, *arguments], capture_output=True, text=True, timeout=REQUEST_TIMEOUT_S * 4
            )
            elapsed_s = time.perf_counter() - started
            errors = int(done.returncode != 0 or (name == "get" and file_md5(back) != digest.hexdigest()))
            if errors:
                print(f"  error: swift {arguments[0]}: {done.stderr.strip()[-300:]}", file=sys.stderr)
            results[f"{name}_lo"] = {
                "bytes": size,
                "segment_bytes": segment,
                "seconds": round(elapsed_s, 2),
                "ops_per_s": round(1 / elapsed_s, 3),
                "mib_per_s": round(size / elapsed_s / 2**20, 1),
                "errors": errors,
            }
            print(f"  {name}_lo: {results[f'{name}_lo']}", file=sys.stderr)
    subprocess.run([SWIFT_CLI, *auth, "delete", container], capture_output=True, timeout=REQUEST_TIMEOUT_S)
    return results


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as source:
        while block := source.read(2**24):
            digest.update(block)
    return digest.hexdigest()


async def bench_cluster(
    endpoint: Endpoint | S3Endpoint, scale: float, cases: list[str], data: Path
) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        api = SwiftApi(session, endpoint) if isinstance(endpoint, Endpoint) else S3Api(session, endpoint)
        for label, size, full_count, concurrency in CASES:
            if label not in cases:
                continue
            count = (
                max(1, round(full_count * scale))
                if size > 2**20
                else max(concurrency, round(full_count * scale))
            )
            results |= await bench_case(api, label, size, count, concurrency, lambda: cluster_cpu_s(data))
        if "list" in cases:
            results |= await bench_listing(api, scale, lambda: cluster_cpu_s(data))
    if "lo" in cases and isinstance(endpoint, Endpoint):
        results |= await asyncio.to_thread(bench_large_object, endpoint, scale)
    return results


async def auth_endpoint(url: str, user: str, key: str) -> Endpoint:
    async with aiohttp.ClientSession() as session:
        return await v1_auth(session, url, user, key)


def run_dolmen(work: Path, scale: float, api: str, cases: list[str]) -> dict[str, dict[str, object]]:
    data = work / "dolmen"
    port = free_port_run(3 + 4)
    command = [sys.executable, "-m", "dolmen", "up", "--data", str(data), "--port", str(port),
               "--nodes", "4", "--devices-per-node", "1", "--proxy-workers", "2", "--detach"]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=STARTUP_TIMEOUT_S)
    try:
        endpoint: Endpoint | S3Endpoint
        if api == "s3":
            variables = s3_variables(data / "s3.env")
            endpoint = S3Endpoint(
                variables["AWS_ENDPOINT_URL"],
                variables["AWS_ACCESS_KEY_ID"],
                variables["AWS_SECRET_ACCESS_KEY"],
            )
        else:
            admin = json.loads((data / "admin.json").read_text())
            endpoint = asyncio.run(
                auth_endpoint(
                    f"http://127.0.0.1:{port}/auth/v1.0",
                    f"{admin['project']}:{admin['user']}",
                    admin["password"],
                )
            )
        return asyncio.run(bench_cluster(endpoint, scale, cases, data))
    finally:
        subprocess.run(
            [sys.executable, "-m", "dolmen", "down", "--data", str(data)],
            check=False,
            timeout=120,
            stdout=subprocess.DEVNULL,  # stdout carries the one JSON object only
        )


def s3_variables(path: Path) -> dict[str, str]:
    """The `export NAME=value` lines of the s3.env `dolmen up` writes."""
    lines = path.read_text().splitlines()
    return dict(line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export "))


def run_swift(
    work: Path, scale: float, daemons: int, api: str, cases: list[str]
) -> dict[str, dict[str, object]]:
    data = work / "swift"
    # One block for every port, so that two separately probed "free" ports cannot be the same one.
    first = free_port_run(2 + 43)
    proxy_port, memcache_port = first, first + 1
    port_base = first + 2 - 10  # servers listen on port_base + 10*i (+1, +2), i = 1..4
    environment = os.environ | {
        "SAIO_PROXY_PORT": str(proxy_port),
        "SAIO_PORT_BASE": str(port_base),
        "SAIO_MEMCACHE_PORT": str(memcache_port),
        "SAIO_PROXY_WORKERS": "2",
        "SAIO_DAEMONS": str(daemons),
        "SAIO_LOG_REQUESTS": "0",
        "SAIO_WAIT_S": os.environ.get("SAIO_WAIT_S", "600"),  # the shared 2-core machine can take minutes
    }
    try:  # saio-down also after a failed saio-up: it may have started some servers
        subprocess.run(
            [str(SAIO / "saio-up"), str(data)],
            check=True,
            env=environment,
            stdout=subprocess.DEVNULL,
            timeout=900,
        )
        endpoint: Endpoint | S3Endpoint
        if api == "s3":  # the all-in-one's s3api: tempauth's test:tester / testing
            endpoint = S3Endpoint(f"http://127.0.0.1:{proxy_port}", "test:tester", "testing")
        else:
            endpoint = asyncio.run(
                auth_endpoint(f"http://127.0.0.1:{proxy_port}/auth/v1.0", "test:tester", "testing")
            )
        return asyncio.run(bench_cluster(endpoint, scale, cases, data))
    finally:
        subprocess.run([str(SAIO / "saio-down"), str(data)], check=False, capture_output=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the object counts (quick runs)")
    parser.add_argument(
        "--api", choices=("swift", "s3"), default="swift", help="the API both clusters are driven through"
    )
    parser.add_argument("--only", choices=("dolmen", "swift"))
    parser.add_argument("--saio-daemons", type=int, default=1, choices=(0, 1))
    parser.add_argument("--cases", default="4k,1m,64m,lo,list", help="comma-separated: 4k, 1m, 64m, lo, list")
    args = parser.parse_args()
    cases = args.cases.split(",")
    report: dict[str, object] = {
        "benchmark": "objbench",
        "api": args.api,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "layout": "4 storage servers x 1 device, 3 replicas, 2 proxy workers",
        "scale": args.scale,
        "saio_daemons": args.saio_daemons,
    }
    work = Path(tempfile.mkdtemp(prefix="objbench-"))
    try:
        if args.only != "swift":
            print("dolmen:", file=sys.stderr)
            report["dolmen"] = run_dolmen(work, args.scale, args.api, cases)
        if args.only != "dolmen":
            print("swift:", file=sys.stderr)
            report["swift"] = run_swift(work, args.scale, args.saio_daemons, args.api, cases)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    dolmen, swift = report.get("dolmen"), report.get("swift")
    if isinstance(dolmen, dict) and isinstance(swift, dict):
        report["ratio_mib_per_s_lo"] = {
            case: round(dolmen[case]["mib_per_s"] / swift[case]["mib_per_s"], 2)  # type: ignore[index,operator]
            for case in ("put_lo", "get_lo")
            if case in dolmen and case in swift and swift[case]["mib_per_s"]  # type: ignore[index]
        }
        report["ratio_ops_per_s"] = {
            case: round(dolmen[case]["ops_per_s"] / swift[case]["ops_per_s"], 2)  # type: ignore[index,operator]
            for case in dolmen
            if case in swift and swift[case]["ops_per_s"]  # type: ignore[index]
        }
        report["ratio_cpu_ms_per_op"] = {  # Swift's CPU per operation over ours
            case: round(swift[case]["cpu_ms_per_op"] / dolmen[case]["cpu_ms_per_op"], 2)  # type: ignore[index,operator]
            for case in dolmen
            if case in swift and "cpu_ms_per_op" in dolmen[case] and dolmen[case]["cpu_ms_per_op"]  # type: ignore[index,operator]
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
