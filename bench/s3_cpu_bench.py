"""The S3 listener's CPU per GiB on large writes (issue 12), against MD5 and CRC32 on one core, same run.

A fresh `dolmen up --nodes 4 --devices-per-node 1 --proxy-workers 1`, then:
- `multipart_1g`: a single-stream 1 GiB multipart upload in 64 MiB parts (UNSIGNED-PAYLOAD: the
  proxy computes each part's MD5), completed;
- `put_64m_crc32`: a single-stream 64 MiB PUT with a trailing CRC32
  (STREAMING-UNSIGNED-PAYLOAD-TRAILER, aws-chunked in 1 MiB chunks, as the AWS CLI and boto3 send).
For each: the proxy processes' CPU seconds per GiB (utime + stime from /proc) and the floor, what
MD5 (plus CRC32 for the second case) costs per GiB over the same bytes on one core of this process.
The goal is at most 1.25x the floor. Prints one JSON object.

    .venv/bin/python bench/s3_cpu_bench.py
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import aiohttp

from dolmen.devcluster import free_port_run

REQUEST_TIMEOUT_S = 300.0
STARTUP_TIMEOUT_S = 240.0


def proxy_cpu_s(data: Path) -> float:
    """CPU seconds (user + system) of every `dolmen proxy` process serving `data`."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if b"proxy" in command and str(data).encode() in b" ".join(command):
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def s3_signed(endpoint: str, env: dict[str, str], method: str, path: str, query: str, extra: dict[str, str]):
    from dolmen.proxy.s3.sigv4 import authorization_header

    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    headers = {"host": endpoint.removeprefix("http://"), "x-amz-date": amz_date, **extra}
    headers["authorization"] = authorization_header(
        access_key=env["AWS_ACCESS_KEY_ID"], secret_key=env["AWS_SECRET_ACCESS_KEY"], method=method,
        raw_path=path, raw_query=query, headers=headers, payload_hash=extra["x-amz-content-sha256"],
        amz_date=amz_date, region=env["AWS_DEFAULT_REGION"],
    )  # fmt: skip
    return headers


async def s3_cases(endpoint: str, env: dict[str, str], data: Path) -> dict[str, dict[str, float]]:
    from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

    part = os.urandom(64 * 2**20)
    bucket = f"bench-{os.getpid()}"
    results: dict[str, dict[str, float]] = {}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def call(method: str, path: str, query: str, extra: dict[str, str], body: bytes = b"") -> bytes:
            headers = s3_signed(
                endpoint, env, method, path, query, {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", **extra}
            )
            url = f"{endpoint}{path}" + (f"?{query}" if query else "")
            async with session.request(method, url, headers=headers, data=body) as answer:
                text = await answer.read()
                assert answer.status in (200, 204), (answer.status, text[:300])
                return text

        await call("PUT", f"/{bucket}", "", {})
        started_cpu, started_s = proxy_cpu_s(data), time.monotonic()
        created = await call("POST", f"/{bucket}/big", "uploads=", {})
        upload_id = created.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
        parts = ""
        for number in range(1, 17):
            query = f"partNumber={number}&uploadId={upload_id}"
            headers = s3_signed(
                endpoint, env, "PUT", f"/{bucket}/big", query, {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
            )
            async with session.put(f"{endpoint}/{bucket}/big?{query}", headers=headers, data=part) as answer:
                assert answer.status == 200, await answer.read()
                parts += (
                    f"<Part><PartNumber>{number}</PartNumber><ETag>{answer.headers['ETag']}</ETag></Part>"
                )
        await call("POST", f"/{bucket}/big", f"uploadId={upload_id}", {},
                   f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode())  # fmt: skip
        elapsed_s, cpu_s = time.monotonic() - started_s, proxy_cpu_s(data) - started_cpu
        results["multipart_1g"] = {
            "proxy_cpu_s_per_gib": round(cpu_s, 3),
            "mib_per_s": round(1024 / elapsed_s, 1),
        }

        wrapped = AwsChunkedWrapper(
            io.BytesIO(part),
            checksum_cls=Crc32Checksum,
            checksum_name="x-amz-checksum-crc32",
            chunk_size=2**20,
        ).read()
        headers = s3_signed(endpoint, env, "PUT", f"/{bucket}/crc", "", {
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-trailer": "x-amz-checksum-crc32",
            "x-amz-decoded-content-length": str(len(part)), "content-encoding": "aws-chunked",
        })  # fmt: skip
        started_cpu, started_s = proxy_cpu_s(data), time.monotonic()
        async with session.put(f"{endpoint}/{bucket}/crc", headers=headers, data=wrapped) as answer:
            assert answer.status == 200, await answer.read()
        elapsed_s, cpu_s = time.monotonic() - started_s, proxy_cpu_s(data) - started_cpu
        results["put_64m_crc32"] = {
            "proxy_cpu_s_per_gib": round(cpu_s * 16, 3),
            "mib_per_s": round(64 / elapsed_s, 1),
        }

    started = time.process_time()
    for _ in range(16):
        hashlib.md5(part).digest()
    md5_s = time.process_time() - started
    started = time.process_time()
    for _ in range(16):
        zlib.crc32(part)
    crc_s = time.process_time() - started
    results["multipart_1g"]["floor_cpu_s_per_gib"] = round(md5_s, 3)
    results["put_64m_crc32"]["floor_cpu_s_per_gib"] = round(md5_s + crc_s, 3)
    for case in results.values():
        case["ratio_to_floor"] = round(case["proxy_cpu_s_per_gib"] / case["floor_cpu_s_per_gib"], 2)
    return results


def run_dolmen_s3(work: Path) -> dict[str, dict[str, float]]:
    data = work / "dolmen"
    port = free_port_run(3 + 4)
    command = [sys.executable, "-m", "dolmen", "up", "--data", str(data), "--port", str(port),
               "--nodes", "4", "--devices-per-node", "1", "--proxy-workers", "1", "--detach"]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=STARTUP_TIMEOUT_S)
    try:
        env = {}
        for line in (data / "s3.env").read_text().splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                env[name] = value
        return asyncio.run(s3_cases(env["AWS_ENDPOINT_URL"], env, data))
    finally:
        subprocess.run([sys.executable, "-m", "dolmen", "down", "--data", str(data)],
                       check=False, timeout=120, stdout=subprocess.DEVNULL)  # fmt: skip


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="s3cpu-"))
    try:
        cases = run_dolmen_s3(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "benchmark": "s3_cpu_bench",
        "machine": {"cpus": os.cpu_count()},
        "layout": "4 storage servers x 1 device, 3 replicas, 1 proxy worker",
        "load_average": round(os.getloadavg()[0], 1),
        "cases": cases,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
