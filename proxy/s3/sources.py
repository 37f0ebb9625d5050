"""An object's bytes whatever it is: a plain object from the cluster, a large object's segments.

Copies (CopyObject, UploadPartCopy) read their source through `object_body`,
so that copying a completed multipart upload copies its data, never its
manifest. Conditions are judged on the ETag S3 shows (a multipart object's
`<md5>-<N>`), with the storage node's own rules (evaluate_preconditions).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from dolmen.proxy.largeobjects import open_large_object
from dolmen.proxy.s3.mpobjects import is_large, s3_etag
from dolmen.storage_node.http_conditions import evaluate_preconditions

from dolmen.cluster import ClusterClient, NotModified, PreconditionFailed
from dolmen.cluster.objects import ObjectInfo


def judge_conditions(http_conditions: Mapping[str, str], info: ObjectInfo, method: str) -> None:
    """NotModified or PreconditionFailed as `If-*` conditions (HTTP names) decide for this object."""
    status = evaluate_preconditions(
        method, http_conditions, etag=s3_etag(info), last_modified_s=info.last_modified
    )
    if status == 304:
        raise NotModified()
    if status == 412:
        raise PreconditionFailed()


@contextlib.asynccontextmanager
async def object_body(
    client: ClusterClient,
    account: str,
    container: str,
    obj: str,
    *,
    http_conditions: Mapping[str, str],
    range_header: str | None = None,
) -> AsyncIterator[tuple[ObjectInfo, int, AsyncIterator[bytes]]]:
    """(info, length of what is sent, the bytes); NotFound, the conditions' errors, RangeNotSatisfiable."""
    info = await client.head_object(account, container, obj)
    judge_conditions(http_conditions, info, "GET")
    if is_large(info):
        body = await open_large_object(client, account, container, obj, info, range_header=range_header)
        try:
            yield info, body.length, body.chunks
        finally:
            await body.aclose()
        return
    asked = {"If-Match": f'"{info.etag}"'}  # the object judged above, not a newer one
    if range_header:
        asked["Range"] = range_header
    async with client.get_object(account, container, obj, asked) as reader:
        assert reader.headers is not None
        yield reader.info, int(reader.headers.get("Content-Length", reader.info.length)), reader.body
