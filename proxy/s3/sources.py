"""An object's bytes whatever it is: a plain object from the cluster, a large object's segments.

Copies (CopyObject, UploadPartCopy) read their source through `object_body`,
so that copying a completed multipart upload copies its data, never its
manifest. Conditions are judged on the ETag S3 shows (a multipart object's
`<md5>-<N>`), with the storage node's own rules (evaluate_preconditions).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True)
class WriteConditions:
    """What a conditional write asks of the nodes at its commit: that no object is there
    (`refuse_existing`), or that the object judged is still the one there (`if_match`: its
    stored ETag)."""

    refuse_existing: bool = False
    if_match: str | None = None


NO_CONDITIONS = WriteConditions()


async def judge_write_conditions(
    client: ClusterClient, account: str, bucket: str, key: str, headers: Mapping[str, str]
) -> WriteConditions:
    """S3's conditional writes (`headers` lower-cased): NoSuchKey for If-Match on no object,
    PreconditionFailed when If-Match or If-None-Match fails on the current one. An ETag
    condition is judged here (S3's ETag, also of a multipart object), and the write then
    commits only where the object judged is still the one stored, or still none: a write
    racing in between makes it fail (412), never slip through."""
    if_match, if_none_match = headers.get("if-match"), headers.get("if-none-match")
    refuse_existing = if_none_match is not None and if_none_match.strip() == "*"
    if if_match is None and (if_none_match is None or refuse_existing):
        return WriteConditions(refuse_existing=refuse_existing)
    try:
        info = await client.head_object(account, bucket, key)
    except NotFound:
        if if_match is not None:
            raise s3.NoSuchKey(Key=key) from None
        return WriteConditions(refuse_existing=True)
    asked = {
        name: value for name, value in (("If-Match", if_match), ("If-None-Match", if_none_match)) if value
    }
    if (
        evaluate_preconditions("PUT", asked, etag=s3_etag(info), last_modified_s=info.last_modified)
        is not None
    ):
        raise s3.PreconditionFailed(Condition="If-Match" if if_match is not None else "If-None-Match")
    return WriteConditions(if_match=info.etag)


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
