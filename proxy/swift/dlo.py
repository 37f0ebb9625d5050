"""Swift dynamic large objects: `X-Object-Manifest: <container>/<prefix>`, assembled from the listing.

The manifest is an ordinary object carrying the reserved item DLO_ITEM; a GET
or HEAD lists the segment container under the prefix (one page of at most
DLO_SEGMENTS_MAX names, Swift's container listing limit) and streams the
objects in name order. The ETag is Swift's: the MD5 of the segments' ETags
concatenated, in quotes. `?multipart-manifest=get` returns the manifest object
itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from urllib.parse import unquote

from aiohttp import web
from dolmen.proxy.errors import BadRequest, SegmentInvalid
from dolmen.proxy.largeobjects import Segment, open_segments, total_length
from dolmen.proxy.swift.bulk import Authorise
from dolmen.proxy.swift.headers import sysmeta_item
from dolmen.proxy.swift.paths import SwiftPath, check_container_name
from dolmen.proxy.swift.slo import check_conditions, send_body, send_head

from dolmen.cluster import ClusterClient, ListingQuery, ObjectEntry, ObjectInfo
from dolmen.limits import DLO_SEGMENTS_MAX

DLO_ITEM = sysmeta_item("object-manifest")
HEADER = "X-Object-Manifest"


def manifest_items(headers: Mapping[str, str]) -> dict[str, str]:
    """The reserved item an object PUT or POST with `X-Object-Manifest` stores; BadRequest as Swift."""
    value = next((value for name, value in headers.items() if name.lower() == HEADER.lower()), None)
    if value is None:
        return {}
    container, slash, _ = unquote(value.strip()).lstrip("/").partition("/")
    if not slash or not container:
        raise BadRequest(f"{HEADER} must be in the format container/prefix")
    check_container_name(container)
    return {DLO_ITEM: value.strip()}


def manifest_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    return {HEADER: metadata[DLO_ITEM]} if metadata.get(DLO_ITEM) else {}


def is_dlo(info: ObjectInfo) -> bool:
    return bool(info.metadata.get(DLO_ITEM))


def segment_source(info: ObjectInfo) -> tuple[str, str]:
    """(container, prefix) a DLO manifest names."""
    container, _, prefix = unquote(info.metadata[DLO_ITEM]).lstrip("/").partition("/")
    return container, prefix


def dlo_etag(segments: Sequence[Segment]) -> str:
    """Swift's DLO ETag: MD5 (hex) of the segments' ETags concatenated."""
    return hashlib.md5(
        "".join(segment.etag for segment in segments).encode(), usedforsecurity=False
    ).hexdigest()


async def listed_segments(client: ClusterClient, account: str, container: str, prefix: str) -> list[Segment]:
    """The segments under `prefix`, in name order; SegmentInvalid past DLO_SEGMENTS_MAX."""
    listing = await client.list_objects(
        account, container, ListingQuery(prefix=prefix, limit=DLO_SEGMENTS_MAX)
    )
    if listing.truncated:
        raise SegmentInvalid(f"more than {DLO_SEGMENTS_MAX} segments under {container}/{prefix}")
    return [
        Segment(container, entry.name, entry.etag, entry.bytes, None)
        for entry in listing.entries
        if isinstance(entry, ObjectEntry)
    ]


async def dlo_response(
    request: web.Request,
    client: ClusterClient,
    path: SwiftPath,
    info: ObjectInfo,
    headers: dict[str, str],
    *,
    authorise_read: Authorise,
) -> web.StreamResponse:
    """GET or HEAD of a DLO manifest: the segments' bytes, with Swift's DLO ETag and total length."""
    container, prefix = segment_source(info)
    await authorise_read(SwiftPath(path.account, container, prefix or "-"))
    segments = await listed_segments(client, path.account, container, prefix)
    etag = dlo_etag(segments)
    check_conditions(request.method, request.headers, etag=etag, last_modified_s=info.last_modified)
    headers = headers | {"Etag": f'"{etag}"'}
    length = total_length(segments)
    if request.method == "HEAD":
        return await send_head(request, headers, length)
    body = await open_segments(
        client, path.account, segments, length, range_header=request.headers.get("Range")
    )
    return await send_body(request, headers, body)
