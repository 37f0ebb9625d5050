"""The storage node's HTTP API: thin handlers over the device stores (see PROTOCOL.md).

Layers, outermost first: the HTTP server (`http_server.py`) -> `handle` (request id, the
one log line, metrics) -> `answer` (403 unless signed; every exception becomes a status here
and only here) -> `dispatch` -> the handler for the verb. Handlers parse (pure functions),
call one store method and shape the answer; they do not catch.

Paths are parsed from the raw request target, and `dispatch` picks the handler by the role
and the verb (`verbs.py`): extension verbs travel in a header over standard methods, so
llhttp parses every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import math
import re
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote

from dolmen.storage_node import account_server, container_server, framing, suffixes
from dolmen.storage_node.config import StorageNodeConfig, outbound_key_id
from dolmen.storage_node.containers import ContainerUpdateChange, Keyspaces
from dolmen.storage_node.deadlines import Deadlines
from dolmen.storage_node.device import DeviceStore, StoreMetrics
from dolmen.storage_node.errors import (
    BadRequest,
    ChecksumMismatch,
    Conflict,
    CorruptBody,
    DeviceError,
    InsufficientStorage,
    InvalidRegister,
    LengthMismatch,
    ListingLimitTooLarge,
    MethodNotAllowed,
    NotEmpty,
    NotFound,
    PreconditionFailed,
)
from dolmen.storage_node.handler_context import (
    CONTEXT,
    BodyTooLarge,
    ClientGone,
    ClientTooSlow,
    Context,
    DiskTimeout,
    context,
    disk,
    keyspaces_for,
    prefixed_metadata,
    read_small_body,
    required_timestamp,
    store_for,
)
from dolmen.storage_node.http_conditions import evaluate_preconditions, http_date
from dolmen.storage_node.http_ranges import (
    PART_SEPARATOR,
    ByteRange,
    RangeNotSatisfiable,
    multipart_length,
    multipart_part_head,
    multipart_tail,
    parse_range,
)
from dolmen.storage_node.http_server import (
    Answer,
    Limits,
    MalformedBody,
    Request,
    Response,
    Server,
    StreamResponse,
)
from dolmen.storage_node.records import ObjectRecord
from dolmen.storage_node.registers import ZERO_BALLOT, Ballot
from dolmen.storage_node.request_paths import (
    ObjectPath,
    parse_object_path,
    parse_partition_path,
    parse_register_path,
    parse_suffixes,
    split_target,
)
from dolmen.storage_node.timestamps import Timestamp
from dolmen.storage_node.updater import UPDATE_DONE, UPDATE_NONE, Updater
from dolmen.storage_node.updates import PendingUpdate, parse_replica, update_for
from dolmen.storage_node.verbs import REGISTER_VERBS, ROLES, STANDARD_VERBS, VERBS, request_role, request_verb

from dolmen.errors import DolmenError
from dolmen.limits import (
    BODY_WRITE_BATCH_BYTES,
    FRAME_DATA_BYTES_MAX,
    HEADER_BYTES_MAX,
    REGISTER_PROPOSER_BYTES_MAX,
    REGISTER_VALUE_BYTES_MAX,
    REQUEST_HEADERS_COUNT_MAX,
    REQUEST_ID_BYTES_MAX,
    REQUEST_LINE_BYTES_MAX,
)
from dolmen.logs import log_request, request_id_var
from dolmen.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from dolmen.metrics import HttpMetrics, Metrics
from dolmen.signing import RequestSignatureError, VerifiedSignature, verify_request

log = logging.getLogger("dolmen.storage_node.server")

UNSIGNED_PATHS = ("/healthcheck", "/metrics")
META_PREFIX = "x-object-meta-"
BALLOT_HEADER = "X-Backend-Register-Ballot"
CONTAINER_UPDATE_HEADER = "X-Backend-Container-Update"
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")
_REQUEST_ID = re.compile(rf"[\x21-\x7e]{{1,{REQUEST_ID_BYTES_MAX}}}")

# Request ids made here: a random per-process prefix and a counter (cheaper than uuid4 per request).
_REQUEST_ID_PREFIX = "tx" + secrets.token_hex(8)
_request_numbers = itertools.count()


# --- errors the HTTP layer itself raises (the engine's are in errors.py) -------------


class PutAborted(DolmenError):
    """The footer said `abort`: the body was dropped as asked (499)."""


# The one place where exceptions become statuses. Order matters: subclasses first.
ERROR_STATUSES: tuple[tuple[type[BaseException], int], ...] = (
    (RequestSignatureError, 403),
    (RangeNotSatisfiable, 416),
    (ClientGone, 499),
    (PutAborted, 499),
    (ClientTooSlow, 408),
    (MethodNotAllowed, 405),
    (BodyTooLarge, 413),
    (DiskTimeout, 503),
    (LengthMismatch, 422),
    (ChecksumMismatch, 422),  # an upload's xxh3 (CorruptBody is matched before: see below)
    (framing.FramingError, 400),
    (BadRequest, 400),
    (NotFound, 404),
    (ListingLimitTooLarge, 412),
    (PreconditionFailed, 412),
    (Conflict, 409),
    (InsufficientStorage, 507),
    (DeviceError, 507),  # Swift answers 507 for a device it cannot serve
)


def error_status(error: BaseException) -> int:
    if isinstance(error, CorruptBody):
        return 500  # our copy is bad (now quarantined): the caller reads another replica
    for error_type, status in ERROR_STATUSES:
        if isinstance(error, error_type):
            return status
    return 500


def error_headers(error: BaseException) -> dict[str, str]:
    timestamp = getattr(error, "timestamp", None)
    headers: dict[str, str] = {}
    if isinstance(timestamp, Timestamp):
        headers["X-Backend-Timestamp"] = timestamp.internal
    if isinstance(error, NotEmpty):
        headers[error.count_header] = str(error.count)
    if isinstance(error, RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{error.length}"
    return headers


# --- metrics ------------------------------------------------------------------


class NodeMetrics(HttpMetrics):
    """The HTTP layer's metrics; the engine's (commits, fsyncs, quarantines) are StoreMetrics."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(metrics)
        self.store = StoreMetrics(metrics)


# --- the entry of every request ---------------------------------------------------


async def handle(ctx: Context, request: Request) -> Answer:
    """Every request, outermost first: its id (answered in X-Trans-Id), the one log line and the
    metrics; then `answer`. One function rather than a chain of middlewares: per request,
    aiohttp's application layer (routing, middleware wrappers) had cost about a seventh of a
    small PUT's CPU."""
    started_s = time.monotonic()
    offered = request.headers.get("X-Trans-Id", "")
    request_id = (
        offered
        if offered and _REQUEST_ID.fullmatch(offered)
        else f"{_REQUEST_ID_PREFIX}{next(_request_numbers):016x}"
    )
    request_id_var.set(request_id)
    request[CONTEXT] = ctx
    request["bytes_in"] = 0
    status = 500
    response: Answer | None = None
    try:
        response = await answer(ctx, request)
        status = response.status
        return response
    finally:
        if response is not None and not response.prepared:
            response.headers["X-Trans-Id"] = request_id
        if request.get("cut_stream"):
            status = request["cut_stream"]
        bytes_out = request.get("bytes_out", 0)
        if isinstance(response, Response):
            bytes_out = len(response.body)
        # The verb once dispatch parsed it; before that (e.g. unsigned) the method if standard.
        method = request.get("verb") or (request.method if request.method in STANDARD_VERBS else "other")
        ctx.metrics.record(method, status, time.monotonic() - started_s, request["bytes_in"], bytes_out)
        log_request(
            log,
            method=request.method,
            path=request.raw_path[:512],
            status=status,
            bytes_in=request["bytes_in"],
            bytes_out=bytes_out,
            started_s=started_s,
            **({"error": request["error"]} if "error" in request else {}),
        )


async def answer(ctx: Context, request: Request) -> Answer:
    """The answer to a request: 403 unless signed by a key this node accepts, then the verb's
    handler. Every exception becomes a status here and only here: no traceback reaches a client."""
    try:
        path, query = split_target(request.raw_path)
        if not (request.method == "GET" and path in UNSIGNED_PATHS):
            request["signature"] = verify_request(
                ctx.signing_keys,
                method=request.method,
                path=path,
                query=query,
                headers=request.headers.items(),
                now_s=ctx.clock(),
            )
        return await dispatch(ctx, request, path)
    except (DolmenError, TimeoutError) as error:
        status = 503 if isinstance(error, TimeoutError) else error_status(error)
        if status == 500:
            log.warning("request.failed", extra={"error_type": type(error).__name__, "reason": str(error)})
        headers = error_headers(error)
        request["error"] = type(error).__name__
    except Exception:
        log.exception("request.unhandled")  # the traceback goes to the log only
        request["error"] = "unhandled"
        status, headers = 500, {}
    response: Answer | None = request.get("response")
    if response is not None and response.prepared:
        # Bytes are out: the only honest signal left is to cut the connection short.
        request["cut_stream"] = status
        if request.transport is not None:
            request.transport.close()
        return response
    # An explicit empty length, also for HEAD: a client then knows the answer is whole and
    # keeps the connection, as it does after a success.
    return Response(status=status, headers={**headers, "Content-Length": "0"})


# --- header parsing (pure) ----------------------------------------------------


def user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """X-Object-Meta-* headers as {lower-case name after the prefix: value} (limits checked by the engine)."""
    return prefixed_metadata(headers, META_PREFIX)


def delete_at(headers: Mapping[str, str], *, now_s: float) -> int | None:
    text = headers.get("X-Delete-At")
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise BadRequest("X-Delete-At must be whole seconds since the epoch")
    value = int(text)
    if value <= now_s:
        raise BadRequest("X-Delete-At is in the past")
    return value


def announced_length(headers: Mapping[str, str]) -> int | None:
    text = headers.get("X-Backend-Object-Length")
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 15:
        raise BadRequest("X-Backend-Object-Length must be a decimal byte count")
    return int(text)


def format_ballot(ballot: Ballot) -> str:
    return f"{ballot.counter} {quote(ballot.proposer, safe='')}"


def parse_ballot(text: str | None) -> Ballot:
    if text is None:
        raise InvalidRegister(f"{BALLOT_HEADER} is required")
    counter, space, proposer = text.partition(" ")
    if not space or not counter.isascii() or not counter.isdigit() or len(counter) > 20:
        raise InvalidRegister(f"{BALLOT_HEADER} must be '<counter> <percent-encoded proposer>'")
    name = unquote(proposer, errors="strict") if len(proposer) <= 3 * REGISTER_PROPOSER_BYTES_MAX else ""
    return Ballot(int(counter), name)


def last_modified_s(record: ObjectRecord) -> int:
    return math.ceil(record.timestamp.seconds)


def object_headers(record: ObjectRecord) -> dict[str, str]:
    """The headers that describe a stored object on GET, HEAD and conditional answers."""
    headers = {
        "Content-Type": record.content_type,
        "ETag": f'"{record.etag}"',
        "Last-Modified": http_date(last_modified_s(record)),
        "X-Timestamp": record.timestamp.normal,
        "X-Backend-Timestamp": record.timestamp.internal,
        "X-Backend-Data-Timestamp": record.data_timestamp.internal,
        "Accept-Ranges": "bytes",
    }
    if record.delete_at is not None:
        headers["X-Delete-At"] = str(record.delete_at)
    for name, value in record.metadata.items():
        headers[f"X-Object-Meta-{name}"] = value
    for name, value in record.extra.items():
        headers[name] = value
    return headers


def check_footer_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Footer metadata is answered as headers on GET/HEAD, so names must be header names."""
    for name, value in metadata.items():
        if not _HEADER_NAME.fullmatch(name) or any(char in value for char in "\r\n\0"):
            raise BadRequest("footer metadata names must be header names and values single-line")
    return metadata


# --- handlers ------------------------------------------------------------------


async def dispatch(ctx: Context, request: Request, path: str) -> Answer:
    if request.method == "GET" and path == "/healthcheck":
        return Response(text="OK")
    if request.method == "GET" and path == "/metrics":
        return Response(
            body=ctx.metrics.registry.exposition(), headers={"Content-Type": METRICS_CONTENT_TYPE}
        )
    verb = request["verb"] = request_verb(request.method, request.headers)
    if verb in REGISTER_VERBS:  # registers have their own keyspace, whatever the role
        return await REGISTER_HANDLERS[verb](request, path)
    handler = HANDLERS.get((request_role(request.headers), verb))
    if handler is None:
        raise MethodNotAllowed(f"{verb} is not served for this role yet")
    return await handler(request, path)


async def put_object(request: Request, path: str) -> Answer:
    ctx = context(request)
    where = parse_object_path(path)
    store = store_for(ctx, where.device)
    headers = request.headers
    timestamp = required_timestamp(headers)
    content_type = headers.get("Content-Type")
    if not content_type:
        raise BadRequest("Content-Type is required")
    if headers.get("X-Backend-Body-Framing") != framing.FRAMING_VERSION:
        raise BadRequest(f"X-Backend-Body-Framing must be {framing.FRAMING_VERSION}")
    metadata = user_metadata(headers)
    expires = delete_at(headers, now_s=ctx.clock())
    length = announced_length(headers)
    signature: VerifiedSignature = request["signature"]
    update_change = planned_update(ctx, where, headers)
    condition = put_condition(headers, timestamp, now_s=ctx.clock)
    if condition is not None:  # fail fast, before the body; judged again, atomically, at the commit
        condition(
            await disk(ctx, store.get_record(where.partition, where.account, where.container, where.obj))
        )
    begin = (where.partition, where.account, where.container, where.obj, timestamp, length)
    writer = store.begin_small_object_put(*begin) or await disk(ctx, store.begin_object_put(*begin))
    try:
        footer = await receive_framed_body(request, ctx, writer, signature)
        if footer.action == framing.ACTION_ABORT:
            raise PutAborted("the client aborted the upload")
        record = await disk(
            ctx,
            writer.commit(
                etag=footer.etag,
                body_xxh3=footer.body_xxh3_64,
                content_length=footer.body_bytes,
                content_type=content_type,
                metadata=metadata,
                delete_at=expires,
                extra=check_footer_metadata(footer.metadata),
                also=update_change,
                condition=condition,
            ),
        )
    finally:
        # Idempotent, and a no-op after a commit: whatever failed above, no temp file is left.
        await writer.abort()
    return Response(
        status=201,
        headers={
            "ETag": f'"{record.etag}"',
            "X-Backend-Timestamp": record.timestamp.internal,
            CONTAINER_UPDATE_HEADER: await send_container_update(ctx, where.device, update_change),
        },
    )


def planned_update(
    ctx: Context, where: ObjectPath, headers: Mapping[str, str]
) -> ContainerUpdateChange | None:
    """The container update a PUT or DELETE asks for (X-Backend-Container-*), as the change its
    record's commit makes (in place when the container replica is this very device); None
    without the headers. A queued copy is due for the updater only after the request path's
    own try had its time."""
    replica = parse_replica(headers, "X-Backend-Container-")
    if replica is None:
        return None
    grace_s = 2 * ctx.config.container_update_timeout_s

    def make(record: ObjectRecord) -> PendingUpdate:
        return update_for(
            replica, where.account, where.container, where.obj, record, due_s=ctx.clock() + grace_s
        )

    in_place = replica.device == where.device and ctx.updater.own_address.is_own(replica.host)
    return ContainerUpdateChange(keyspaces_for(ctx, where.device), make, in_place=in_place)


async def send_container_update(ctx: Context, device: str, change: ContainerUpdateChange | None) -> str:
    """After the commit: the value of X-Backend-Container-Update. Done if the commit applied it
    (the container replica is on this device), else after one try of the queued update."""
    if change is None:
        return UPDATE_NONE
    if change.applied:
        ctx.updater.applied_in_place(device)
        return UPDATE_DONE
    assert change.queued is not None  # the commit queued it
    return await ctx.updater.send_update(device, change.queued)


def put_condition(
    headers: Mapping[str, str], timestamp: Timestamp, *, now_s: Callable[[], float]
) -> Callable[[ObjectRecord | None], None] | None:
    """The PUT's If-Match / If-None-Match as a check of the stored record (None: none),
    raising PreconditionFailed; None when the PUT has neither. Only a live record counts as
    an object; the write's own record (a retry of a PUT that committed) passes."""
    if "If-Match" not in headers and "If-None-Match" not in headers:
        return None

    def condition(stored: ObjectRecord | None) -> None:
        if stored is not None and stored.timestamp == timestamp:
            return
        live = stored if stored is not None and stored.is_live(now_s()) else None
        etag, modified_s = (live.etag, last_modified_s(live)) if live is not None else (None, None)
        if evaluate_preconditions("PUT", headers, etag=etag, last_modified_s=modified_s) is not None:
            raise PreconditionFailed(
                "the PUT's condition does not hold", timestamp=live.timestamp if live else None
            )

    return condition


async def receive_framed_body(
    request: Request, ctx: Context, writer: Any, signature: VerifiedSignature
) -> framing.Footer:
    """Stream the framed body into `writer`; return the verified footer.

    Raises FramingError/BodyTruncated, SignatureInvalid (footer), ClientGone, ClientTooSlow.
    Body bytes are handed to the writer in batches of about BODY_WRITE_BATCH_BYTES, so a large
    body costs few trips to the disk threads; at most one batch plus one read is held.
    """
    parser = framing.FrameParser()
    pending: list[memoryview] = []
    pending_bytes = 0
    raw_footer: framing.RawFooter | None = None
    content = request.content
    while True:
        try:
            data = content.read_nowait()  # a small body came with the head: no wait, no deadline
            if data is None:
                with ctx.deadlines.within(ctx.config.client_timeout_s):
                    data = await content.readany()
        except TimeoutError:
            raise ClientTooSlow("no body bytes within client_timeout_s") from None
        except ConnectionError as error:
            raise ClientGone(f"client disconnected mid-body: {error}") from None
        except MalformedBody as error:
            raise BadRequest(f"malformed request body: {error}") from None
        if not data:  # the end of the body
            break
        request["bytes_in"] += len(data)
        for event in parser.feed(data):
            if isinstance(event, framing.RawFooter):
                raw_footer = event
            else:
                pending.append(event)
                pending_bytes += len(event)
        if pending_bytes >= BODY_WRITE_BATCH_BYTES:
            await disk(ctx, writer.write_parts(pending))
            pending, pending_bytes = [], 0
    parser.finish()
    assert raw_footer is not None
    if pending and not writer.keep_inline(pending):
        await disk(ctx, writer.write_parts(pending))
    key = ctx.signing_keys[signature.key_id]
    return framing.decode_footer(raw_footer, key=key, request_signature_hex=signature.signature_hex)


async def get_or_head_object(request: Request, path: str) -> Answer:
    ctx = context(request)
    where = parse_object_path(path)
    store = store_for(ctx, where.device)
    try:
        record = await disk(
            ctx,
            store.head_object(where.partition, where.account, where.container, where.obj, now_s=ctx.clock()),
        )
    except NotFound:
        if "If-Match" in request.headers:
            return Response(status=412, headers={"Content-Length": "0"})
        raise
    headers = object_headers(record)
    status = evaluate_preconditions(
        request.method, request.headers, etag=record.etag, last_modified_s=last_modified_s(record)
    )
    if status is not None:
        return Response(status=status, headers=headers)
    length = record.content_length
    ranges = parse_range(request.headers.get("Range"), length)
    response = StreamResponse(headers=headers)
    request["response"] = response
    boundary = ""
    if ranges is None:
        response.content_length = length
        ranges = [ByteRange(0, length)] if length else []
    elif len(ranges) == 1:
        response.set_status(206)
        response.headers["Content-Range"] = ranges[0].content_range(length)
        response.content_length = ranges[0].stop - ranges[0].start
    else:
        boundary = secrets.token_hex(16)
        response.set_status(206)
        response.headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
        response.content_length = multipart_length(boundary, record.content_type, ranges, length)
    if request.method == "HEAD" or not ranges:
        await response.prepare(request)
        await response.write_eof()
        return response
    # Read and verify the first chunk before the status line goes out, so that a bad first
    # block is an honest 500 rather than a 200 cut short.
    first_chunks = store.read_object(record, ranges[0].start, ranges[0].stop)
    try:
        first_chunk = await disk(ctx, anext(first_chunks))
        await response.prepare(request)
    except BaseException:
        await first_chunks.aclose()
        raise
    for index, byte_range in enumerate(ranges):
        chunks = first_chunks if index == 0 else store.read_object(record, byte_range.start, byte_range.stop)
        if boundary:
            head = multipart_part_head(boundary, record.content_type, byte_range, length)
            await write_timed(request, ctx, response, (PART_SEPARATOR + head) if index else head)
        await stream_chunks(request, ctx, response, chunks, first_chunk if index == 0 else None)
    if boundary:
        await write_timed(request, ctx, response, multipart_tail(boundary))
    await response.write_eof()
    return response


async def stream_chunks(
    request: Request,
    ctx: Context,
    response: StreamResponse,
    chunks: AsyncGenerator[bytes, None],
    first_chunk: bytes | None,
) -> None:
    """Send verified chunks (the engine verifies each block before yielding it), then close the reader."""
    try:
        if first_chunk is not None:
            await write_timed(request, ctx, response, first_chunk)
        while True:
            try:
                chunk = await disk(ctx, anext(chunks))
            except StopAsyncIteration:
                break
            await write_timed(request, ctx, response, chunk)
    finally:
        await chunks.aclose()


async def write_timed(request: Request, ctx: Context, response: StreamResponse, data: bytes) -> None:
    try:
        with ctx.deadlines.within(ctx.config.client_timeout_s):
            await response.write(data)
        request["bytes_out"] = request.get("bytes_out", 0) + len(data)
    except TimeoutError:
        raise ClientTooSlow("client did not read the response within client_timeout_s") from None
    except ConnectionError as error:
        raise ClientGone(f"client left mid-response: {error}") from None


async def delete_object(request: Request, path: str) -> Answer:
    ctx = context(request)
    where = parse_object_path(path)
    store = store_for(ctx, where.device)
    timestamp = required_timestamp(request.headers)
    update_change = planned_update(ctx, where, request.headers)
    result = await disk(
        ctx,
        store.delete_object(
            where.partition,
            where.account,
            where.container,
            where.obj,
            timestamp,
            also=update_change,
        ),
    )
    previous = result.previous
    headers = {
        "X-Backend-Timestamp": result.tombstone.timestamp.internal,
        CONTAINER_UPDATE_HEADER: await send_container_update(ctx, where.device, update_change),
    }
    if previous is None or not previous.is_live(ctx.clock()):
        if previous is not None:
            headers["X-Backend-Timestamp"] = previous.timestamp.internal
        return Response(status=404, headers=headers)
    return Response(status=204, headers=headers)


async def post_object(request: Request, path: str) -> Answer:
    ctx = context(request)
    where = parse_object_path(path)
    store = store_for(ctx, where.device)
    timestamp = required_timestamp(request.headers)
    now_s = ctx.clock()
    record = await disk(
        ctx,
        store.post_object(
            where.partition,
            where.account,
            where.container,
            where.obj,
            timestamp,
            metadata=user_metadata(request.headers),
            content_type=request.headers.get("Content-Type") or None,
            delete_at=delete_at(request.headers, now_s=now_s),
            now_s=now_s,
        ),
    )
    return Response(status=202, headers={"X-Backend-Timestamp": record.timestamp.internal})


async def replicate(request: Request, path: str) -> Answer:
    ctx = context(request)
    where = parse_partition_path(path)
    parse_suffixes(where.rest)  # hashes are kept current on every write: nothing to recompute
    store = store_for(ctx, where.device)
    namespace = suffixes.NAMESPACES[request_role(request.headers)]
    hashes = await disk(ctx, store.suffix_hashes(where.partition, namespace))
    return Response(body=json.dumps(hashes).encode("utf-8"), content_type="application/json")


async def register_prepare(request: Request, path: str) -> Answer:
    ctx = context(request)
    where, key = parse_register_path(path)
    ballot = parse_ballot(request.headers.get(BALLOT_HEADER))
    answer = await disk(ctx, store_for(ctx, where.device).register_prepare(key, ballot))
    headers = {
        "X-Backend-Register-Accepted-Ballot": format_ballot(answer.accepted),
        "X-Backend-Register-Highest-Ballot": format_ballot(answer.highest),
        "X-Backend-Register-Has-Value": "true" if answer.value is not None else "false",
    }
    return Response(status=200 if answer.ok else 409, headers=headers, body=answer.value or b"")


async def register_accept(request: Request, path: str) -> Answer:
    ctx = context(request)
    where, key = parse_register_path(path)
    ballot = parse_ballot(request.headers.get(BALLOT_HEADER))
    value = await read_small_body(request, ctx, REGISTER_VALUE_BYTES_MAX)
    answer = await disk(ctx, store_for(ctx, where.device).register_accept(key, ballot, value))
    headers = {"X-Backend-Register-Highest-Ballot": format_ballot(answer.highest)}
    return Response(status=200 if answer.ok else 409, headers=headers)


async def register_read(request: Request, path: str) -> Answer:
    ctx = context(request)
    where, key = parse_register_path(path)
    state = await disk(ctx, store_for(ctx, where.device).register_read(key))
    headers = {
        "X-Backend-Register-Promised-Ballot": format_ballot(state.promised),
        "X-Backend-Register-Accepted-Ballot": format_ballot(state.accepted),
        "X-Backend-Register-Has-Value": "true" if state.value is not None else "false",
    }
    return Response(status=200, headers=headers, body=state.value or b"")


PathHandler = Callable[[Request, str], Awaitable[Answer]]
# (role, verb) -> handler. Container and account roles: issue 6.
HANDLERS: dict[tuple[str, str], PathHandler] = {
    ("object", "PUT"): put_object,
    ("object", "GET"): get_or_head_object,
    ("object", "HEAD"): get_or_head_object,
    ("object", "DELETE"): delete_object,
    ("object", "POST"): post_object,
    ("object", "REPLICATE"): replicate,
    ("container", "REPLICATE"): replicate,
    ("account", "REPLICATE"): replicate,
    **{("container", verb): handler for verb, handler in container_server.HANDLERS.items()},
    **{("account", verb): handler for verb, handler in account_server.HANDLERS.items()},
}
REGISTER_HANDLERS: dict[str, PathHandler] = {
    "PREPARE": register_prepare,
    "ACCEPT": register_accept,
    "READ": register_read,
}
assert set(REGISTER_HANDLERS) == set(REGISTER_VERBS)
assert {verb for _, verb in HANDLERS} | set(REGISTER_HANDLERS) == set(VERBS)
assert all((role, verb) in HANDLERS for role in ROLES for verb in (*STANDARD_VERBS, "REPLICATE"))
assert ZERO_BALLOT.counter == 0
assert FRAME_DATA_BYTES_MAX >= BODY_WRITE_BATCH_BYTES // 4  # a batch is a few frames, not thousands


def node_context(
    config: StorageNodeConfig,
    stores: dict[str, DeviceStore],
    *,
    signing_keys: dict[int, bytes],
    metrics: NodeMetrics,
    clock: Callable[[], float] = time.time,
    outbound_key: tuple[int, bytes] | None = None,
) -> Context:
    """What every request's handler shares, over already-open stores (the caller opens and
    closes them). `outbound_key` (key id, key) signs the node's own requests (container
    updates, stats reports); by default the accepted key of outbound_key_id(config)."""
    if outbound_key is None:
        key_id = outbound_key_id(config)
        outbound_key = (key_id, signing_keys[key_id])
    keyspaces = {device: Keyspaces(store) for device, store in stores.items()}
    updater = Updater(
        config, keyspaces, key_id=outbound_key[0], key=outbound_key[1], metrics=metrics.registry, clock=clock
    )
    return Context(config, stores, signing_keys, clock, Deadlines(), keyspaces, updater, metrics)


@contextlib.asynccontextmanager
async def background_tasks(ctx: Context) -> AsyncIterator[None]:
    """The node's own tasks while it serves: the deadline ticker and the container updater."""
    async with ctx.updater:
        tasks = [
            asyncio.create_task(ctx.deadlines.run(), name="deadlines"),
            asyncio.create_task(ctx.updater.run(), name="updater"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def http_limits(config: StorageNodeConfig) -> Limits:
    """The HTTP server's limits: the request bounds of dolmen.limits, the node's keep-alive."""
    return Limits(
        request_line_bytes_max=REQUEST_LINE_BYTES_MAX,
        header_bytes_max=HEADER_BYTES_MAX,
        headers_count_max=REQUEST_HEADERS_COUNT_MAX,
        keepalive_timeout_s=config.keepalive_timeout_s,
    )


def make_server(ctx: Context, limits: Limits) -> Server:
    """The node's HTTP server (http_server.py) with `handle` as its one handler."""
    return Server(functools.partial(handle, ctx), limits)
