"""Crashes: kill -9 under load loses no acknowledged write and leaves nothing half there;
a syscall trace shows every acknowledged PUT is on stable storage before its answer."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from helpers.storage_node import NodeProcess, SignedClient, object_path

NAMES = 24
WORKERS = 24
LOAD_S = 1.5


def body_for(name: str, timestamp_text: str) -> bytes:
    """Deterministic content of the PUT of `name` at `timestamp_text`: inline or file sized."""
    seed = hashlib.blake2b(f"{name}@{timestamp_text}".encode(), digest_size=32).digest()
    size = [100, 3000, 40_000, 300_000][seed[0] % 4]
    return (seed * (size // 32 + 1))[:size]


@dataclass
class Attempt:
    name: str
    timestamp_text: str
    verb: str
    status: int | None = None  # None: no answer (in flight when the node died)

    @property
    def acknowledged(self) -> bool:
        return self.status in ((201,) if self.verb == "PUT" else (204, 404))


async def workload(client: SignedClient, attempts: list[Attempt], seed: int, stop: asyncio.Event) -> None:
    rng = random.Random(seed)
    clock = [time.time()]

    def next_timestamp() -> str:
        clock[0] = max(clock[0] + 0.00001, time.time())
        return f"{clock[0]:016.5f}"

    while not stop.is_set():
        name = f"crash-{rng.randrange(NAMES)}"
        attempt = Attempt(name, next_timestamp(), "PUT" if rng.random() < 0.75 else "DELETE")
        attempts.append(attempt)
        path = object_path("d1", 3, "AUTH_crash", "c", name)
        try:
            if attempt.verb == "PUT":
                body = body_for(name, attempt.timestamp_text)
                answer = await client.put(path, body, timestamp_text=attempt.timestamp_text)
            else:
                answer = await client.delete(path, timestamp_text=attempt.timestamp_text)
            attempt.status = answer.status
        except (aiohttp.ClientError, OSError, TimeoutError):  # the node died under us: no answer
            return


async def test_kill_9_during_concurrent_puts_and_deletes_loses_no_acknowledged_write(tmp_path):
    seed = random.randrange(2**32)
    print(f"seed={seed}")
    node = NodeProcess(tmp_path / "node").start()
    try:
        await crash_and_check(node, seed)
    finally:
        node.kill()


async def crash_and_check(node: NodeProcess, seed: int) -> None:
    attempts: list[Attempt] = []
    stop = asyncio.Event()
    async with SignedClient(node.url, timeout_s=10) as client:
        workers = [
            asyncio.create_task(workload(client, attempts, seed + index, stop)) for index in range(WORKERS)
        ]
        await asyncio.sleep(LOAD_S)
        node.kill()  # SIGKILL mid-flight: some requests are acknowledged, some not
        stop.set()
        await asyncio.gather(*workers)
    acknowledged = [attempt for attempt in attempts if attempt.acknowledged]
    print(f"attempts={len(attempts)} acknowledged={len(acknowledged)}")
    assert len(acknowledged) > 50, "too little load reached the node to mean anything"
    node.start()
    device = node.device_root()
    assert list((device / "tmp").iterdir()) == [], "temp files survive a restart"
    by_timestamp = {(attempt.name, attempt.timestamp_text): attempt for attempt in attempts}
    live_files = 0
    async with SignedClient(node.url) as client:
        for index in range(NAMES):
            name = f"crash-{index}"
            answer = await client.get(object_path("d1", 3, "AUTH_crash", "c", name))
            newest_acknowledged = max(
                (attempt.timestamp_text for attempt in acknowledged if attempt.name == name),
                default=None,
                key=float,
            )
            stored = answer.headers.get("X-Backend-Timestamp")
            if newest_acknowledged is not None:
                assert stored is not None and float(stored) >= float(newest_acknowledged), (name, seed)
            if stored is not None:
                # What is stored was acknowledged or never answered: never a write the node refused.
                assert by_timestamp[(name, stored)].status in (None, 201, 204, 404), (name, seed)
            if answer.status == 200:
                attempt = by_timestamp[(name, stored)]
                assert attempt.verb == "PUT", (name, seed)
                assert answer.body == body_for(name, stored), f"{name}: wrong or partial bytes (seed {seed})"
                live_files += len(answer.body) > 16 * 2**10
            else:
                assert answer.status == 404, (name, answer.status, seed)
                if stored is not None:
                    assert by_timestamp[(name, stored)].verb == "DELETE", (name, seed)
    body_files = [path for path in (device / "objects").rglob("*.data")]
    assert len(body_files) == live_files, "body files without a record survived the restart sweep"
    assert node.stop() == 0


# --- durability order under strace ---------------------------------------------------

SYSCALLS = "fsync,fdatasync,rename,renameat,renameat2,pwrite64,pwritev,msync,write,writev,sendto,sendmsg"
_LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")


@dataclass
class Call:
    pid: int
    name: str
    text: str  # the whole call as printed (start and resumption joined)
    started: int  # line index where it started
    finished: int  # line index where it returned


def parse_trace(lines: list[str]) -> list[Call]:
    calls: list[Call] = []
    pending: dict[int, Call] = {}
    for index, line in enumerate(lines):
        match = _LINE.match(line)
        if not match:
            continue
        pid = int(match.group(1))
        if match.group(2):  # "<... name resumed>"
            call = pending.pop(pid, None)
            if call is not None:
                call.text += line
                call.finished = index
            continue
        call = Call(pid, match.group(3), line, index, index)
        calls.append(call)
        if line.endswith("<unfinished ...>"):
            pending[pid] = call
    return calls


def first(calls: list[Call], after: int, name: tuple[str, ...], *needles: str) -> Call:
    for call in calls:
        if call.started > after and call.name in name and all(needle in call.text for needle in needles):
            return call
    raise AssertionError(f"no {name} with {needles} after line {after}")


def child_pid(pid: int) -> int:
    """The node process under strace (strace's only child)."""
    return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])


def o_dsync_fds(node_pid: int) -> set[int]:
    """File descriptors of data.mdb that the node opened with O_DSYNC (LMDB's meta-page fd)."""
    found = set()
    for entry in Path(f"/proc/{node_pid}/fd").iterdir():
        try:
            if not os.readlink(entry).endswith("data.mdb"):
                continue
            flags = int(
                Path(f"/proc/{node_pid}/fdinfo/{entry.name}").read_text().split("flags:")[1].split()[0], 8
            )
        except (OSError, IndexError):
            continue
        if flags & os.O_DSYNC:
            found.add(int(entry.name))
    return found


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (CI installs it)")
async def test_an_answered_put_is_on_stable_storage_in_the_right_order(tmp_path):
    trace_path = tmp_path / "trace.txt"
    prefix = ("strace", "-f", "-y", "-s", "48", "-o", str(trace_path), "-e", f"trace={SYSCALLS}")
    node = NodeProcess(tmp_path / "node", command_prefix=prefix).start()
    try:
        node_pid = child_pid(node.process.pid)
        async with SignedClient(node.url) as client:
            assert (await client.request("GET", "/healthcheck", sign=False)).status == 200
            assert (await client.put(object_path("d1", 5, "a", "c", "inline"), b"small body")).status == 201
            assert (
                await client.put(object_path("d1", 5, "a", "c", "file"), os.urandom(300_000))
            ).status == 201
        dsync_fds = o_dsync_fds(node_pid)
    finally:
        node.kill()
    calls = parse_trace(trace_path.read_text().splitlines())
    answer_syscalls = ("write", "writev", "sendto", "sendmsg")
    health = first(calls, -1, answer_syscalls, "socket:", "HTTP/1.1 200")

    # Inline PUT: LMDB data pages synced, then the meta page through its O_DSYNC fd, then the answer.
    inline_answer = first(calls, health.started, answer_syscalls, "socket:", "HTTP/1.1 201")
    lmdb_sync = first(calls, health.started, ("fdatasync", "fsync", "msync"), "data.mdb")
    meta = first(calls, lmdb_sync.finished, ("pwrite64", "pwritev"), "data.mdb")
    assert lmdb_sync.finished < meta.started and meta.finished < inline_answer.started
    assert int(re.search(r"\((\d+)<", meta.text).group(1)) in dsync_fds, "LMDB meta page not written O_DSYNC"

    # File PUT: file fdatasync, rename, directory fsync, LMDB commit sync, answer.
    rename = first(calls, inline_answer.started, ("rename", "renameat", "renameat2"), "/tmp/", ".data")
    body_id = re.search(r"tmp/([0-9a-f]{32})\.tmp", rename.text).group(1)
    file_sync = first(calls, inline_answer.started, ("fdatasync", "fsync"), f"{body_id}.tmp")
    directory_sync = first(calls, rename.finished, ("fsync",), "/objects/5>")
    commit_sync = first(calls, directory_sync.finished, ("fdatasync", "fsync", "msync"), "data.mdb")
    commit_meta = first(calls, commit_sync.finished, ("pwrite64", "pwritev"), "data.mdb")
    file_answer = first(calls, rename.finished, answer_syscalls, "socket:", "HTTP/1.1 201")
    order = [file_sync, rename, directory_sync, commit_sync, commit_meta]
    for before, after in zip(order, order[1:], strict=False):
        assert before.finished < after.started, (before.text, after.text)
    assert commit_meta.finished < file_answer.started
