"""Storing a manifest object with the items that make it a large object (proxy/LARGE_OBJECTS.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

from dolmen.proxy.errors import ManifestInvalid
from dolmen.proxy.largeobjects.manifest import (
    S3_ETAG_ITEM,
    SLO_ITEM,
    SLO_SIZE_ITEM,
    Segment,
    manifest_body,
    slo_etag,
    total_length,
)

from dolmen.cluster import LISTING_ETAG_OVERRIDE, LISTING_SIZE_OVERRIDE, ClusterClient, PutResult
from dolmen.limits import LARGE_OBJECT_MANIFEST_BYTES_MAX

EMPTY: Mapping[str, str] = {}


async def put_manifest(
    client: ClusterClient,
    account: str,
    container: str,
    obj: str,
    segments: Sequence[Segment],
    *,
    content_type: str,
    metadata: Mapping[str, str] = EMPTY,
    extra_sysmeta: Mapping[str, str] = EMPTY,
    if_none_match: bool = False,
    if_match: str | None = None,
) -> PutResult:
    """Store the manifest of `segments` (checked by the caller) as `obj`; the cluster client's errors
    (PreconditionFailed when `if_none_match` or `if_match` fails at the commit: ClusterClient.put_object).

    The result's `etag` is the manifest body's MD5; the large object's ETag is
    `slo_etag(segments)`, stored as the `dolmen-sys-slo` item. The container entry shows the
    total size and the large object's ETag (the S3 ETag for an S3 multipart upload) through the
    storage node's listing overrides (storage-node/PROTOCOL.md).
    """
    body = manifest_body(segments)
    if len(body) > LARGE_OBJECT_MANIFEST_BYTES_MAX:
        raise ManifestInvalid("Manifest is too large")
    items = {**metadata, **extra_sysmeta}
    items[SLO_ITEM] = slo_etag(segments)
    items[SLO_SIZE_ITEM] = str(total_length(segments))
    # Listings show the whole object: its size, and its ETag in the API that made it.
    listed = {
        LISTING_SIZE_OVERRIDE: items[SLO_SIZE_ITEM],
        LISTING_ETAG_OVERRIDE: extra_sysmeta.get(S3_ETAG_ITEM) or items[SLO_ITEM],
    }
    return await client.put_object(
        account,
        container,
        obj,
        _one_chunk(body),
        content_type=content_type,
        metadata=items,
        length=len(body),
        footer_metadata=lambda: listed,
        if_none_match=if_none_match,
        if_match=if_match,
    )


async def _one_chunk(body: bytes) -> AsyncIterator[bytes]:
    yield body
