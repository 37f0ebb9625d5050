"""Test helpers for the storage node: a real `dolmen storage-node` process and a signed client.

`NodeProcess` runs the node as a subprocess on a temporary directory and a free
port; `SignedClient` speaks its internal API (signatures, framed PUT bodies) over
aiohttp. The cluster client will replace the client; the process helper stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import xxhash
from dolmen.ring.devices import node_host
from dolmen.storage_node import framing
from dolmen.storage_node.verbs import EXTENSION_VERBS, wire_form
from multidict import CIMultiDictProxy

from dolmen.keys import request_signing_key
from dolmen.signing import SIGNATURE_HEADER, sign_request

SECRET = bytes(range(32))
KEY_ID = 0
STARTUP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timestamp(seconds: float | None = None) -> str:
    """A Swift-style X-Timestamp for `seconds` (default now)."""
    return f"{time.time() if seconds is None else seconds:016.5f}"


@dataclass
class NodeProcess:
    """One `dolmen storage-node` process on `root` (config, secret, devices and log inside)."""

    root: Path
    devices: tuple[str, ...] = ("d1",)
    settings: dict[str, Any] = field(default_factory=dict)
    devices_dir: Path | None = None
    port: int = 0
    bind_ip: str = "127.0.0.1"  # or "::1"
    process: subprocess.Popen[bytes] | None = None
    command_prefix: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.devices_dir = self.devices_dir or self.root / "devices"
        self.devices_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        secret_path = self.root / "cluster.secret"
        if not secret_path.exists():
            secret_path.write_text(SECRET.hex() + "\n")
        self.config_path = self.root / "node.toml"
        self.log_path = self.root / "node.log"
        self.write_config()

    def write_config(self) -> None:
        settings = {
            "bind_ip": self.bind_ip,
            "bind_port": self.port,
            "devices_dir": str(self.devices_dir),
            "devices": list(self.devices),
            "cluster_secret_file": str(self.root / "cluster.secret"),
            "free_space_reserve_bytes": 0,
            "lmdb_map_size_bytes": 16 * 2**20,
            "shutdown_timeout_s": 5.0,
            "client_timeout_s": 5.0,
        } | self.settings
        lines = ["[storage-node]"]
        for name, value in settings.items():
            if isinstance(value, str):
                lines.append(f'{name} = "{value}"')
            elif isinstance(value, list):
                lines.append(
                    f"{name} = [{', '.join(repr(item).replace(chr(39), chr(34)) for item in value)}]"
                )
            elif isinstance(value, bool):
                lines.append(f"{name} = {'true' if value else 'false'}")
            else:
                lines.append(f"{name} = {value}")
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def host(self) -> str:
        """`ip:port` as the rings write it (`[ipv6]:port`)."""
        return node_host(self.bind_ip, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def device_root(self, device: str = "d1") -> Path:
        assert self.devices_dir is not None
        return self.devices_dir / device

    def start(self) -> NodeProcess:
        self.launch()
        self.wait_healthy()
        return self

    def launch(self) -> None:
        """Start the process without waiting for it (several nodes then start in parallel)."""
        assert self.process is None or self.process.poll() is not None
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        command = [
            *self.command_prefix,
            sys.executable,
            "-m",
            "dolmen",
            "storage-node",
            "--config",
            str(self.config_path),
        ]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"storage node exited with {self.process.returncode}:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url + "/healthcheck", timeout=1) as answer,
            ):
                if answer.status == 200:
                    return
            time.sleep(0.05)
        self.kill()  # a node that never answered must not outlive the test that started it
        raise RuntimeError(f"storage node did not become healthy:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM and wait: the graceful path. Returns the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        """SIGKILL the node (its whole session, in case a tracer wraps it) and reap it."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@dataclass
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


def object_path(device: str, partition: int, account: str, container: str, obj: str) -> str:
    """A request path with each name percent-encoded (names may hold '/', only the object's survives)."""
    return "/" + "/".join(
        [device, str(partition), quote(account, safe=""), quote(container, safe=""), quote(obj, safe="")]
    )


class SignedClient:
    """Signed requests to one storage node; PUT bodies framed with a signed footer."""

    def __init__(
        self, url: str, *, key: bytes | None = None, key_id: int = KEY_ID, timeout_s: float = 30.0
    ) -> None:
        self.url = url
        self.key_id = key_id
        self.key = key if key is not None else request_signing_key(SECRET, key_id)
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SignedClient:
        self.session = aiohttp.ClientSession(
            timeout=self.timeout,
            connector=aiohttp.TCPConnector(limit=256),
            skip_auto_headers=("Content-Type",),
            auto_decompress=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    def sign(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        query: str = "",
        now_s: float | None = None,
        lifetime_s: float = 60.0,
    ) -> dict[str, str]:
        signed = dict(headers)
        signed.update(
            sign_request(
                self.key,
                key_id=self.key_id,
                method=method,
                path=path,
                query=query,
                headers=signed,
                now_s=time.time() if now_s is None else now_s,
                lifetime_s=lifetime_s,
            )
        )
        return signed

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        query: str = "",
        sign: bool = True,
        now_s: float | None = None,
    ) -> Answer:
        assert self.session is not None
        headers = dict(headers or {})
        if method in EXTENSION_VERBS:  # the wire form: a standard method plus X-Backend-Verb
            method, verb_headers = wire_form(method)
            headers.update(verb_headers)
        if sign:
            headers = self.sign(method, path, headers, query=query, now_s=now_s)
        target = self.url + path + (f"?{query}" if query else "")
        async with self.session.request(
            method, aiohttp.client.URL(target, encoded=True), headers=headers, data=body
        ) as answer:
            data = await answer.read()
            return Answer(answer.status, answer.headers, data)

    def put_headers(
        self,
        *,
        timestamp_text: str,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
        extra_headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> dict[str, str]:
        headers = {
            "X-Timestamp": timestamp_text,
            "Content-Type": content_type,
            framing.FRAMING_HEADER: framing.FRAMING_VERSION,
        }
        if length is not None:
            headers["X-Backend-Object-Length"] = str(length)
        for name, value in (metadata or {}).items():
            headers[f"X-Object-Meta-{name}"] = value
        headers.update(extra_headers or {})
        return headers

    def framed(
        self,
        signed_headers: dict[str, str],
        body: bytes,
        *,
        action: str = framing.ACTION_COMMIT,
        etag: str | None = None,
        body_xxh3_64: str | None = None,
        body_bytes: int | None = None,
        footer_metadata: dict[str, str] | None = None,
        frame_bytes: int = 256 * 2**10,
    ) -> bytes:
        footer = framing.Footer(
            action=action,
            etag=etag or xxhash.xxh3_128_hexdigest(body),
            body_bytes=len(body) if body_bytes is None else body_bytes,
            body_xxh3_64=body_xxh3_64 or xxhash.xxh3_64_hexdigest(body),
            metadata=footer_metadata or {},
        )
        chunks = [body[start : start + frame_bytes] for start in range(0, len(body), frame_bytes)]
        return framing.frame_body(
            chunks, footer, key=self.key, request_signature_hex=signed_headers[SIGNATURE_HEADER]
        )

    async def put(
        self,
        path: str,
        body: bytes,
        *,
        timestamp_text: str | None = None,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
        extra_headers: dict[str, str] | None = None,
        announce_length: bool = True,
        **footer: Any,
    ) -> Answer:
        headers = self.put_headers(
            timestamp_text=timestamp() if timestamp_text is None else timestamp_text,
            content_type=content_type,
            metadata=metadata,
            extra_headers=extra_headers,
            length=len(body) if announce_length else None,
        )
        signed = self.sign("PUT", path, headers)
        return await self.request(
            "PUT", path, headers=signed, body=self.framed(signed, body, **footer), sign=False
        )

    async def put_streamed(self, path: str, chunks: AsyncIterator[bytes], headers: dict[str, str]) -> Answer:
        """PUT with an already-signed header set and a body produced by the caller (e.g. cut short)."""
        return await self.request("PUT", path, headers=headers, body=chunks, sign=False)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return await self.request("GET", path, headers=headers)

    async def head(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return await self.request("HEAD", path, headers=headers)

    async def delete(self, path: str, *, timestamp_text: str | None = None) -> Answer:
        return await self.request(
            "DELETE", path, headers={"X-Timestamp": timestamp() if timestamp_text is None else timestamp_text}
        )

    async def post(self, path: str, headers: dict[str, str]) -> Answer:
        return await self.request("POST", path, headers={"X-Timestamp": timestamp()} | headers)


async def raw_exchange(port: int, request: bytes, *, read_timeout_s: float = 5.0) -> bytes:
    """Send raw bytes on a fresh connection and return everything the node answers until it closes or idles."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionError):
            while True:
                async with asyncio.timeout(read_timeout_s):
                    chunk = await reader.read(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                    break
        return b"".join(chunks)
    finally:
        writer.close()


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


# --- container and account roles --------------------------------------------------


def name_path(device: str, partition: int, *names: str) -> str:
    """`/<device>/<partition>/<names percent-encoded>` (an account, container or entry path)."""
    return "/" + "/".join([device, str(partition), *(quote(name, safe="") for name in names)])


class RoleClient:
    """Requests to one role (container or account) of a node through a SignedClient."""

    def __init__(self, client: SignedClient, role: str, device: str = "d1", partition: int = 0) -> None:
        self.client, self.role, self.device, self.partition = client, role, device, partition

    def path(self, *names: str) -> str:
        return name_path(self.device, self.partition, *names)

    async def request(
        self, method: str, *names: str, headers: dict[str, str] | None = None, query: str = ""
    ) -> Answer:
        return await self.client.request(
            method, self.path(*names), headers={"X-Backend-Role": self.role} | (headers or {}), query=query
        )

    async def put(
        self, *names: str, timestamp_text: str | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        return await self.request(
            "PUT", *names, headers={"X-Timestamp": timestamp_text or timestamp()} | (headers or {})
        )

    async def delete(self, *names: str, timestamp_text: str | None = None) -> Answer:
        return await self.request("DELETE", *names, headers={"X-Timestamp": timestamp_text or timestamp()})

    async def put_entry(
        self, account: str, container: str, obj: str, *, timestamp_text: str, size: int = 0, etag: str = "e"
    ) -> Answer:
        headers = {
            "X-Backend-Object-Size": str(size),
            "X-Backend-Object-Etag": etag,
            "X-Backend-Object-Content-Type": "text/plain",
        }
        return await self.put(account, container, obj, timestamp_text=timestamp_text, headers=headers)

    async def listing(self, *names: str, internal: bool = False, **query: object) -> list[dict[str, Any]]:
        """The JSON listing (or internal listing) with `query` parameters."""
        params = {"format": "json"} | {name: str(value) for name, value in query.items()}
        headers = {"X-Backend-Listing": "internal"} if internal else {}
        answer = await self.request("GET", *names, headers=headers, query=urlencode(params, quote_via=quote))
        assert answer.status == 200, answer
        listing: list[dict[str, Any]] = json.loads(answer.body)
        return listing

    async def list_all(self, *names: str, **query: object) -> list[dict[str, Any]]:
        """Every page of a listing, following markers."""
        pages: list[dict[str, Any]] = []
        marker = ""
        while True:
            page = await self.listing(*names, marker=marker, **query)
            pages += page
            if len(page) < int(str(query.get("limit", 10_000))):
                return pages
            marker = page[-1].get("name") or page[-1]["subdir"]


def container_update_headers(node: NodeProcess, device: str = "d1", partition: int = 0) -> dict[str, str]:
    """The X-Backend-Container-* headers naming `node`'s device as the container replica."""
    return {
        "X-Backend-Container-Host": node.host,
        "X-Backend-Container-Device": device,
        "X-Backend-Container-Partition": str(partition),
    }


async def wait_until(condition: Any, *, timeout_s: float, interval_s: float = 0.1) -> None:
    """Poll the coroutine function `condition` until it returns true; AssertionError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)
