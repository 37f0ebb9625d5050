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
from dolmen.proxy.s3 import errors as s3
from dolmen.proxy.s3.mpobjects import is_large, s3_etag
from dolmen.storage_node.http_conditions import evaluate_preconditions

from dolmen.cluster import ClusterClient, NotFound, NotModified, PreconditionFailed
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


async def judge_write_conditions(
    client: ClusterClient, account: str, bucket: str, key: str, headers: Mapping[str, str]
) -> bool:
    """S3's conditional writes (`headers` lower-cased): NoSuchKey for If-Match on no object,
    PreconditionFailed when If-Match or If-None-Match fails on the current one. True when the
    write must refuse an object that exists by then (`If-None-Match: *`, which the storage nodes
    judge at commit, atomically). An ETag condition is judged on a read just before the write:
    a write racing in between is not seen (S3 answers such a race with 409)."""
    if_match, if_none_match = headers.get("if-match"), headers.get("if-none-match")
    refuse_existing = if_none_match is not None and if_none_match.strip() == "*"
    if if_match is None and (if_none_match is None or refuse_existing):
        return refuse_existing
    try:
        info = await client.head_object(account, bucket, key)
    except NotFound:
        if if_match is not None:
            raise s3.NoSuchKey(Key=key) from None
        return refuse_existing
    asked = {
        name: value for name, value in (("If-Match", if_match), ("If-None-Match", if_none_match)) if value
    }
    if (
        evaluate_preconditions("PUT", asked, etag=s3_etag(info), last_modified_s=info.last_modified)
        is not None
    ):
        raise s3.PreconditionFailed(Condition="If-Match" if if_match is not None else "If-None-Match")
    return refuse_existing


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
    try:
        judge_conditions(http_conditions, info, "GET")
    except NotModified:  # a copy has no 304: a source condition that fails is 412, as S3 answers
        raise PreconditionFailed() from None
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
