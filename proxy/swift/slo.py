"""Swift static large objects: `?multipart-manifest=put|get|delete` and serving a manifest's segments.

The stored form and the reader are `dolmen.proxy.largeobjects` (shared with S3
multipart). Here: Swift's manifest request format and its validation (pure,
top of the module), and the handlers. A manifest PUT HEADs each distinct
segment, SLO_SEGMENT_HEADS_CONCURRENCY_MAX at a time, and refuses with Swift's
per-segment messages; a GET answers with the SLO ETag in quotes and the total
length, conditionals evaluated against the SLO ETag.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web
from dolmen.proxy.concurrency import map_bounded
from dolmen.proxy.errors import ManifestInvalid, ManifestTooLarge, MethodNotAllowed
from dolmen.proxy.largeobjects import (
    SLO_ITEM,
    Segment,
    is_large_object,
    large_object_length,
    manifest_body,
    open_large_object,
    put_manifest,
    read_manifest,
    slo_etag,
)
from dolmen.proxy.swift import bulkformat
from dolmen.proxy.swift.bulk import Authorise, delete_names
from dolmen.proxy.swift.headers import http_date
from dolmen.proxy.swift.paths import SwiftPath, check_container_name, check_object_name
from dolmen.proxy.swift.responses import error_status
from dolmen.storage_node import http_ranges
from dolmen.storage_node.http_conditions import evaluate_preconditions

from dolmen.cluster import ClusterClient, NotFound, NotModified, ObjectInfo, PreconditionFailed
from dolmen.errors import DolmenError
from dolmen.limits import (
    LARGE_OBJECT_NESTING_MAX,
    LARGE_OBJECT_SEGMENTS_MAX,
    SLO_SEGMENT_HEADS_CONCURRENCY_MAX,
)
from dolmen.serving import BodyStreamResponse

PUT_KEYS = frozenset({"path", "etag", "size_bytes", "range"})


@dataclass(frozen=True, slots=True)
class WantedSegment:
    """One entry of a `?multipart-manifest=put` body: what the client asks to be checked."""

    container: str
    obj: str
    etag: str | None
    size_bytes: int | None
    range: str | None  # one range spec, as in `Range: bytes=<spec>`

    @property
    def path(self) -> str:
        return f"/{self.container}/{self.obj}"


def parse_put_body(body: bytes, *, container: str, obj: str) -> list[WantedSegment]:
    """The segments of a manifest PUT body; ManifestInvalid with Swift's `Index N: ...` lines."""
    try:
        entries = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ManifestInvalid("Manifest must be valid JSON.\n") from None
    if not isinstance(entries, list):
        raise ManifestInvalid("Manifest must be a list.\n")
    wanted: list[WantedSegment] = []
    errors: list[str] = []
    for index, entry in enumerate(entries):
        problem = _entry_problem(entry, is_last=index == len(entries) - 1, own=f"/{container}/{obj}")
        if problem is not None:
            errors.append(f"Index {index}: {problem}")
            continue
        segment_container, _, segment_obj = entry["path"].lstrip("/").partition("/")
        size = entry.get("size_bytes")
        wanted.append(
            WantedSegment(
                segment_container,
                segment_obj,
                _normal_etag(entry.get("etag")),
                None if size is None else int(size),
                entry.get("range") or None,
            )
        )
    if errors:
        raise ManifestInvalid("".join(error + "\n" for error in errors))
    return wanted


def _entry_problem(entry: object, *, is_last: bool, own: str) -> str | None:
    if not isinstance(entry, dict):
        return "not a JSON object"
    if "path" not in entry:
        return "expected keys to include one of 'path'"
    extraneous = sorted(key for key in entry if key not in PUT_KEYS)
    if extraneous:
        return "extraneous keys " + ", ".join(json.dumps(key) for key in extraneous)
    path, etag = entry["path"], entry.get("etag")
    if not isinstance(path, str):
        return '"path" must be a string'
    if not (etag is None or isinstance(etag, str)):
        return '"etag" must be a string or null (if provided)'
    segment_container, slash, segment_obj = path.lstrip("/").partition("/")
    if not slash or not segment_container or not segment_obj:
        return "path does not refer to an object. Path must be of the form /container/object."
    try:
        check_container_name(segment_container)
        check_object_name(segment_obj)
    except DolmenError as error:
        return str(error)
    size = entry.get("size_bytes")
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int | str) or not str(size).isdigit():
            return "invalid size_bytes"
        if int(size) < 1 and not is_last:
            return "too small; each segment must be at least 1 byte."
    if "/" + path.lstrip("/") == own:
        return "manifest must not include itself as a segment"
    spec = entry.get("range")
    if spec:
        if not isinstance(spec, str) or http_ranges.parse_range(f"bytes={spec}", 2**62) is None:
            return "invalid range"
        if "," in spec:
            return "multiple ranges (only one allowed)"
        if size is not None and resolve_range(spec, int(size)) is None:
            return "unsatisfiable range"
    return None


def _normal_etag(etag: str | None) -> str | None:
    return None if etag is None else etag.strip().strip('"').lower()


def resolve_range(spec: str, length: int) -> tuple[int, int] | None:
    """The inclusive (first, last) of a one-range spec within `length` bytes, or None if unsatisfiable."""
    try:
        ranges = http_ranges.parse_range(f"bytes={spec}", length)
    except http_ranges.RangeNotSatisfiable:
        return None
    if ranges is None or len(ranges) != 1:
        return None
    return ranges[0].start, ranges[0].stop - 1


def checked_segment(
    wanted: WantedSegment, info: ObjectInfo, *, is_last: bool
) -> tuple[Segment | None, list[str]]:
    """The stored entry for `wanted` given its HEAD, or the problems Swift reports for it."""
    sub_slo = is_large_object(info)
    etag = info.metadata[SLO_ITEM] if sub_slo else info.etag
    size = large_object_length(info) if sub_slo else info.length
    problems: list[str] = []
    byte_range: tuple[int, int] | None = None
    length = size
    if wanted.range is not None:
        resolved = resolve_range(wanted.range, size)
        if resolved is None:
            problems.append("Unsatisfiable Range")
        elif resolved != (0, size - 1):
            byte_range, length = resolved, resolved[1] - resolved[0] + 1
    if length < 1 and not is_last:
        problems.append("Too small; each segment must be at least 1 byte.")
    if wanted.size_bytes is not None and wanted.size_bytes != size:
        problems.append("Size Mismatch")
    if wanted.etag is not None and wanted.etag != etag:
        problems.append("Etag Mismatch")
    if problems:
        return None, problems
    modified = datetime.datetime.fromtimestamp(info.timestamp.seconds, datetime.UTC)
    segment = Segment(
        wanted.container,
        wanted.obj,
        etag,
        length,
        byte_range,
        sub_slo=sub_slo,
        content_type=info.content_type,
        last_modified=modified.strftime("%Y-%m-%dT%H:%M:%S.%f"),
    )
    return segment, []


def raw_manifest(segments: Sequence[Segment]) -> bytes:
    """`?multipart-manifest=get&format=raw`: the manifest in the form a PUT takes back."""
    entries: list[dict[str, Any]] = []
    for segment in segments:
        entry: dict[str, Any] = {"path": segment.name, "etag": segment.etag}
        if segment.range is None:
            entry["size_bytes"] = segment.length
        else:
            entry["range"] = f"{segment.range[0]}-{segment.range[1]}"
        entries.append(entry)
    return json.dumps(entries).encode()


def check_conditions(method: str, headers: Mapping[str, str], *, etag: str, last_modified_s: int) -> None:
    """NotModified or PreconditionFailed as the conditional headers say, against a large object's ETag."""
    status = evaluate_preconditions(method, headers, etag=etag, last_modified_s=last_modified_s)
    if status == 304:
        raise NotModified("not modified")
    if status == 412:
        raise PreconditionFailed("precondition failed")


# --- handlers ---------------------------------------------------------------------


async def put_slo(
    request: web.Request,
    client: ClusterClient,
    path: SwiftPath,
    body: bytes,
    *,
    authorise_read: Authorise,
    content_type: str,
    metadata: Mapping[str, str],
) -> web.Response:
    """Validate and store a manifest; 201 with the SLO ETag in quotes, or 400 with Swift's problem list."""
    assert path.container is not None and path.obj is not None
    if "X-Copy-From" in request.headers:
        raise MethodNotAllowed("Multipart Manifest PUTs cannot be COPY requests")
    wanted = parse_put_body(body, container=path.container, obj=path.obj)
    if len(wanted) > LARGE_OBJECT_SEGMENTS_MAX:
        raise ManifestTooLarge(f"Number of object-backed segments must be <= {LARGE_OBJECT_SEGMENTS_MAX}")
    one_per_container = {segment.container: segment.obj for segment in wanted}
    for container, obj in sorted(one_per_container.items()):  # ACLs are per container
        await authorise_read(SwiftPath(path.account, container, obj))
    distinct = sorted({(segment.container, segment.obj) for segment in wanted})

    async def head(name: tuple[str, str]) -> ObjectInfo | str:
        try:
            return await client.head_object(path.account, name[0], name[1])
        except DolmenError as error:
            return bulkformat.status_line(error_status(error))

    answers = await map_bounded(head, distinct, concurrency=SLO_SEGMENT_HEADS_CONCURRENCY_MAX)
    heads = dict(zip(distinct, answers, strict=True))
    segments: list[Segment] = []
    problems: list[tuple[str, str]] = []
    for index, segment_wanted in enumerate(wanted):
        answer = heads[(segment_wanted.container, segment_wanted.obj)]
        name = quote(segment_wanted.path)
        if isinstance(answer, str):
            problems.append((name, answer))
            continue
        segment, found = checked_segment(segment_wanted, answer, is_last=index == len(wanted) - 1)
        problems.extend((name, problem) for problem in found)
        if segment is not None:
            segments.append(segment)
    out_format = bulkformat.best_format(request.headers.get("Accept"))
    if problems:
        body_out = bulkformat.response_body(out_format, {}, problems, "upload")
        return web.Response(status=400, body=body_out, content_type=out_format, charset="utf-8")
    etag = slo_etag(segments)
    client_etag = _normal_etag(request.headers.get("Etag"))
    if client_etag and client_etag != etag:
        return web.Response(status=422, text="Unable to process the contained instructions")
    result = await put_manifest(
        client, path.account, path.container, path.obj, segments, content_type=content_type, metadata=metadata
    )
    return web.Response(
        status=201,
        headers={"Etag": f'"{etag}"', "Last-Modified": http_date(result.timestamp.seconds)},
    )


async def slo_response(
    request: web.Request,
    client: ClusterClient,
    path: SwiftPath,
    query: Mapping[str, str],
    info: ObjectInfo,
    headers: dict[str, str],
) -> web.StreamResponse:
    """GET or HEAD of a manifest: the large object, or with `multipart-manifest=get` the manifest itself."""
    assert path.container is not None and path.obj is not None
    headers = headers | {"X-Static-Large-Object": "True"}
    if query.get("multipart-manifest") == "get":
        return await _manifest_itself(request, client, path, query, headers)
    etag = info.metadata[SLO_ITEM]
    check_conditions(request.method, request.headers, etag=etag, last_modified_s=info.last_modified)
    headers |= {"Etag": f'"{etag}"', "X-Manifest-Etag": info.etag}
    if request.method == "HEAD":
        return await send_head(request, headers, large_object_length(info))
    body = await open_large_object(
        client, path.account, path.container, path.obj, info, range_header=request.headers.get("Range")
    )
    return await send_body(request, headers, body)


async def _manifest_itself(
    request: web.Request,
    client: ClusterClient,
    path: SwiftPath,
    query: Mapping[str, str],
    headers: dict[str, str],
) -> web.StreamResponse:
    assert path.container is not None and path.obj is not None
    info, segments = await read_manifest(client, path.account, path.container, path.obj)
    check_conditions(request.method, request.headers, etag=info.etag, last_modified_s=info.last_modified)
    body = raw_manifest(segments) if query.get("format") == "raw" else manifest_body(segments)
    headers = headers | {"Content-Type": "application/json; charset=utf-8", "Etag": info.etag}
    if request.method == "HEAD":
        return await send_head(request, headers, len(body))
    return web.Response(status=200, body=body, headers=headers)


async def send_head(request: web.Request, headers: dict[str, str], length: int) -> web.StreamResponse:
    response = BodyStreamResponse(status=200, headers=headers)
    response.content_length = length
    await response.prepare(request)
    await response.write_eof()
    return response


async def send_body(request: web.Request, headers: dict[str, str], body: Any) -> web.StreamResponse:
    """Stream a LargeObjectBody; an error after the first byte cuts the connection (the errors middleware)."""
    headers = dict(headers)
    if body.content_range is not None:
        headers["Content-Range"] = body.content_range
    response = BodyStreamResponse(status=body.status, headers=headers)
    response.content_length = body.length
    request["response"] = response
    try:
        await response.prepare(request)
        async for chunk in body.chunks:
            await response.write(chunk)
            request["bytes_out"] = request.get("bytes_out", 0) + len(chunk)
        await response.write_eof()
    finally:
        await body.aclose()
    return response


async def segments_to_delete(
    client: ClusterClient, account: str, container: str, obj: str, *, depth: int = 1
) -> list[tuple[str, str]]:
    """(container, object) of every segment of a manifest, nested manifests' segments first, then them."""
    _, segments = await read_manifest(client, account, container, obj)
    names: list[tuple[str, str]] = []
    for segment in segments:
        if segment.sub_slo and depth < LARGE_OBJECT_NESTING_MAX:
            # A nested manifest gone or replaced: only its name is deleted, below.
            with contextlib.suppress(NotFound, ManifestInvalid):
                names += await segments_to_delete(
                    client, account, segment.container, segment.obj, depth=depth + 1
                )
        names.append((segment.container, segment.obj))
    return list(dict.fromkeys(names))


async def delete_slo(
    request: web.Request, client: ClusterClient, path: SwiftPath, *, authorise_delete: Authorise
) -> web.Response:
    """`DELETE ?multipart-manifest=delete`: the segments, then the manifest; Swift's bulk-delete body.

    An object that is not a manifest is deleted alone, as Swift does.
    """
    assert path.container is not None and path.obj is not None
    out_format = bulkformat.best_format(request.headers.get("Accept"))
    try:
        names = await segments_to_delete(client, path.account, path.container, path.obj)
    except (NotFound, ManifestInvalid):
        names = []
    outcome = await delete_names(client, path.account, names, authorise=authorise_delete)
    manifest = await delete_names(
        client, path.account, [(path.container, path.obj)], authorise=authorise_delete
    )
    outcome.absorb(manifest)
    body = bulkformat.response_body(out_format, outcome.summary(), outcome.errors, "delete")
    return web.Response(status=200, body=body, content_type=out_format, charset="utf-8")
