"""Swift's archive extraction: `PUT ?extract-archive=tar|tar.gz|tar.bz2` stores each file of the archive.

The archive is never held whole: a worker thread runs `tarfile` in streaming
mode over the request body (read from the event loop, a chunk at a time) and
hands each regular file's bytes to the loop through a bounded queue
(ARCHIVE_QUEUE_ITEMS_MAX chunks of at most HTTP_CHUNK_BYTES), where they stream
into `put_object`. So memory stays bounded whatever the archive's size, and
decompression runs off the loop.

Paths: a file `a/b.txt` extracted at `/v1/AUTH_x/c/pre` becomes `c/pre/a/b.txt`;
at the account, its first component names the container (created when missing,
at most BULK_EXTRACT_CONTAINERS_MAX per request) and files at the top are
skipped, as Swift does. Each object PUT is authorised as its own. After
BULK_FAILED_EXTRACTIONS_MAX failures the extraction stops. The answer is 200
with Swift's bulk body (`Number Files Created`, `Response Status`, `Errors`).
"""

from __future__ import annotations

import asyncio
import mimetypes
import tarfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web
from dolmen.proxy.swift import bulkformat
from dolmen.proxy.swift.bulk import Authorise
from dolmen.proxy.swift.paths import SwiftPath, check_container_name, check_object_name
from dolmen.proxy.swift.responses import error_status

from dolmen.cluster import ClusterClient, NotFound
from dolmen.errors import DolmenError
from dolmen.limits import BULK_EXTRACT_CONTAINERS_MAX, BULK_FAILED_EXTRACTIONS_MAX, HTTP_CHUNK_BYTES

MODES = {"tar": "r|", "tar.gz": "r|gz", "tar.bz2": "r|bz2"}
ARCHIVE_QUEUE_ITEMS_MAX = 8  # chunks between the tar thread and the loop
SMALL_FILE_BYTES = HTTP_CHUNK_BYTES  # files read whole and stored concurrently
ARCHIVE_PUTS_CONCURRENCY_MAX = 8  # small files being stored at once (8 x 256 KiB held at most)
THREAD_WAIT_S = 1.0  # how often a blocked tar thread checks whether the request was given up


class Stopped(Exception):
    """The loop side gave up; the tar thread ends."""


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    size: int


def destination(base: SwiftPath, member_name: str) -> SwiftPath | None:
    """Where a file of the archive goes, or None (skipped: no container, or an empty name)."""
    name = member_name.removeprefix("./").lstrip("/")
    parts = [base.container or "", base.obj or "", name] if base.container else [name]
    full = "/".join(part.strip("/") for part in parts if part.strip("/"))
    container, _, obj = full.partition("/")
    if not container or not obj:
        return None
    return SwiftPath(base.account, container, obj)


class _BodyFile:
    """A blocking, file-like view of the request body for the tar thread (reads run on the loop)."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
        self._request, self._loop, self._stop = request, loop, stop

    def read(self, size: int = -1) -> bytes:
        want = HTTP_CHUNK_BYTES if size < 0 else min(size, HTTP_CHUNK_BYTES)
        return _wait(
            asyncio.run_coroutine_threadsafe(self._request.content.read(want), self._loop), self._stop
        )


def _wait(future: Any, stop: threading.Event) -> Any:
    while True:
        if stop.is_set():
            future.cancel()
            raise Stopped
        try:
            return future.result(timeout=THREAD_WAIT_S)
        except TimeoutError:
            continue


def _read_archive(
    body: _BodyFile,
    mode: str,
    queue: asyncio.Queue[Any],
    loop: asyncio.AbstractEventLoop,
    stop: threading.Event,
) -> None:
    """The tar thread: post ("file", Member), then its chunks, then ("end",); ("done",) or ("error", text)."""

    def post(item: Any) -> None:
        _wait(asyncio.run_coroutine_threadsafe(queue.put(item), loop), stop)

    try:
        with tarfile.open(fileobj=body, mode=mode) as archive:  # type: ignore[call-overload]
            for info in archive:
                if not info.isfile():
                    continue
                post(("file", Member(info.name, info.size)))
                stream = archive.extractfile(info)
                assert stream is not None
                while chunk := stream.read(HTTP_CHUNK_BYTES):
                    post(("data", chunk))
                post(("end",))
        post(("done",))
    except Stopped:
        return
    except Exception as error:  # a bad archive or a body that broke: reported in the answer
        try:
            post(("error", f"Invalid Tar File: {error}"))
        except Stopped:
            return


@dataclass(slots=True)
class Outcome:
    """What an extraction did so far: files created, and the (quoted name, status line) of each failure."""

    created: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)

    def record(self, name: str, problem: str | None) -> bool:
        """Count one file; True once BULK_FAILED_EXTRACTIONS_MAX files failed."""
        if problem is None:
            self.created += 1
        else:
            self.errors.append((quote(name, errors="surrogateescape"), problem))  # the bytes as sent
        return len(self.errors) >= BULK_FAILED_EXTRACTIONS_MAX


async def extract_archive(
    request: web.Request,
    client: ClusterClient,
    path: SwiftPath,
    archive_format: str,
    *,
    authorise_put: Authorise,
) -> web.Response:
    """`PUT ?extract-archive=<format>`: always 200 (400 for an unknown format); the outcome in the body.

    Files of at most SMALL_FILE_BYTES are read whole and stored ARCHIVE_PUTS_CONCURRENCY_MAX
    at a time while the archive is read on; larger ones stream, one at a time.
    """
    out_format = bulkformat.best_format(request.headers.get("Accept"))
    if archive_format not in MODES:
        return web.Response(status=400, text="Unsupported archive format")
    outcome = Outcome()
    status, detail = 201, ""
    containers: dict[str, str | None] = {}  # container -> None when ready, else its refusal
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(ARCHIVE_QUEUE_ITEMS_MAX)
    stop = threading.Event()
    reader = loop.run_in_executor(
        None, _read_archive, _BodyFile(request, loop, stop), MODES[archive_format], queue, loop, stop
    )
    events = Events(queue)
    pending: set[asyncio.Task[tuple[str, str | None]]] = set()

    async def settle(most: int) -> bool:
        """Wait until at most `most` small files are in flight; True once too many failed."""
        failed_too_often = False
        while len(pending) > most:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                pending.discard(task)
                failed_too_often |= outcome.record(*task.result())
        return failed_too_often

    try:
        while True:
            event = await events.next()
            if event[0] in ("done", "error"):
                if event[0] == "error":
                    status, detail = 400, event[1]
                break
            member: Member = event[1]
            target = destination(path, member.name)
            if target is None:
                await events.skip_rest()
                continue
            problem = await _ready(client, target, containers, authorise_put)
            if problem is None and member.size <= SMALL_FILE_BYTES:
                data = b"".join([chunk async for chunk in events.body()])
                await events.skip_rest()
                pending.add(asyncio.create_task(_store_small(client, target, member, data)))
                failed_too_often = await settle(ARCHIVE_PUTS_CONCURRENCY_MAX - 1)
            else:
                if problem is None:
                    problem = await _store(client, target, member, events.body())
                await events.skip_rest()  # what a failed PUT left unread
                failed_too_often = outcome.record(member.name, problem)
            if failed_too_often:
                status, detail = 400, "Max failed extractions exceeded"
                break
        if await settle(0):
            status, detail = 400, "Max failed extractions exceeded"
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        stop.set()
        await asyncio.shield(reader)
    if outcome.errors and status == 201:
        status = 400
    if status == 201 and not outcome.created:
        status, detail = 400, "Invalid Tar File: No Valid Files"
    summary = {
        "Number Files Created": outcome.created,
        "Response Status": bulkformat.status_line(status),
        "Response Body": detail,
    }
    body = bulkformat.response_body(out_format, summary, outcome.errors, "extract")
    return web.Response(status=200, body=body, content_type=out_format, charset="utf-8")


async def _ready(
    client: ClusterClient, target: SwiftPath, containers: dict[str, str | None], authorise_put: Authorise
) -> str | None:
    """None when `target` may be written (its container made if needed), else the status line that refuses it."""
    assert target.container is not None and target.obj is not None
    if target.container not in containers:
        if len(containers) >= BULK_EXTRACT_CONTAINERS_MAX:
            return bulkformat.status_line(400)
        try:
            check_container_name(target.container)
            await authorise_put(target)
            try:
                await client.head_container(target.account, target.container)
            except NotFound:
                await authorise_put(SwiftPath(target.account, target.container))
                await client.put_container(target.account, target.container)
            containers[target.container] = None
        except DolmenError as error:
            containers[target.container] = bulkformat.status_line(error_status(error))
    try:
        check_object_name(target.obj)
    except DolmenError as error:
        return bulkformat.status_line(error_status(error))
    return containers[target.container]


async def _store_small(
    client: ClusterClient, target: SwiftPath, member: Member, data: bytes
) -> tuple[str, str | None]:
    async def one_chunk() -> AsyncIterator[bytes]:
        yield data

    return member.name, await _store(client, target, member, one_chunk())


async def _store(
    client: ClusterClient, target: SwiftPath, member: Member, body: AsyncIterator[bytes]
) -> str | None:
    assert target.container is not None and target.obj is not None
    content_type = mimetypes.guess_type(target.obj)[0] or "application/octet-stream"
    try:
        await client.put_object(
            target.account, target.container, target.obj, body, content_type=content_type, length=member.size
        )
    except DolmenError as error:
        return bulkformat.status_line(error_status(error))
    return None


class Events:
    """What the tar thread posts, read in order; a file's body stops at its ("end",), kept for `skip_rest`."""

    def __init__(self, queue: asyncio.Queue[Any]) -> None:
        self._queue = queue
        self._held: Any = None

    async def next(self) -> Any:
        event, self._held = self._held, None
        return event if event is not None else await self._queue.get()

    async def body(self) -> AsyncIterator[bytes]:
        while (event := await self.next())[0] == "data":
            yield event[1]
        self._held = event

    async def skip_rest(self) -> None:
        """Consume the rest of the current file, through its ("end",)."""
        while (event := await self.next())[0] == "data":
            pass
        assert event[0] == "end", event
