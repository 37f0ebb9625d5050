"""S3 reads of objects: HEAD, GET (a byte range or one part, conditions, overrides) and GetObjectAttributes.

Plain objects stream from the cluster client as they are; completed multipart
uploads and SLOs (large objects) stream their segments through
`open_large_object`, showing S3's ETag and the whole object's length. A GET
asks the cluster for the object with its conditions and range first (one round
trip for plain objects); when the answer is a manifest, or the node refused a
condition or range that only the large object can judge, the conditions are
evaluated against the large object and its segments served instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from aiohttp import web
from dolmen.proxy.concurrency import map_bounded
from dolmen.proxy.largeobjects import open_large_object, read_manifest
from dolmen.proxy.s3 import errors as s3
from dolmen.proxy.s3.attributes import PartAttributes, attributes_xml, parse_attributes_request
from dolmen.proxy.s3.checksums import response_headers, stored_checksum
from dolmen.proxy.s3.handlers import KEPT_HEADER_PREFIX, Handler, authorised_bucket
from dolmen.proxy.s3.headers import META_PREFIX, STANDARD_HEADERS, byte_range, conditions, response_overrides
from dolmen.proxy.s3.mpobjects import is_large, metadata_checksum, part_range, part_sizes, s3_etag, s3_length
from dolmen.proxy.s3.render import XML_CONTENT_TYPE, http_date, quoted_etag
from dolmen.proxy.s3.sources import judge_conditions
from dolmen.proxy.s3.uploads import check_part_number

from dolmen.cluster import ClusterClient, NotModified, PreconditionFailed, RangeNotSatisfiable
from dolmen.cluster.objects import ObjectInfo
from dolmen.limits import S3_PART_READS_CONCURRENCY
from dolmen.serving import BodyStreamResponse


def object_checksum(info: ObjectInfo) -> tuple[str, str, str] | None:
    """The object's stored checksum: a plain object's footer, a multipart object's manifest items."""
    return stored_checksum(info.extra) or metadata_checksum(info.metadata)


def object_headers(info: ObjectInfo, headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers of a GET or HEAD answer for an object; its checksum if `headers` ask for it."""
    answer = {
        "ETag": quoted_etag(s3_etag(info)),
        "Last-Modified": http_date(info.last_modified),
        "Content-Type": info.content_type,
        "Accept-Ranges": "bytes",
    }
    for name, value in info.metadata.items():
        if name.startswith(KEPT_HEADER_PREFIX):
            header = name[len(KEPT_HEADER_PREFIX) :]
            if header in STANDARD_HEADERS:
                answer[header] = value
        else:
            answer[META_PREFIX + name] = value
    if headers is not None and checksum_mode(headers):
        answer.update(response_headers(object_checksum(info)))
    return answer


def check_conditions(headers: Mapping[str, str], info: ObjectInfo, method: str) -> None:
    """NotModified (with the object's ETag) or PreconditionFailed as the request's conditions decide
    on the object's S3 ETag."""
    try:
        judge_conditions(conditions(headers), info, method)
    except NotModified:
        raise web.HTTPNotModified(headers=not_modified_headers(info)) from None


def not_modified_headers(info: ObjectInfo) -> dict[str, str]:
    """What a 304 still says of the object, as S3 sends it."""
    return {"ETag": quoted_etag(s3_etag(info)), "Last-Modified": http_date(info.last_modified)}


def part_answer(info: ObjectInfo, number: int) -> tuple[str | None, dict[str, str]]:
    """The Range that reads part `number`, and the parts count header of a multipart object."""
    sizes = part_sizes(info)
    span = part_range(sizes, number, s3_length(info))
    extra = {"x-amz-mp-parts-count": str(len(sizes))} if sizes is not None else {}
    return (f"bytes={span[0]}-{span[1]}" if span else None), extra


def checksum_mode(headers: Mapping[str, str]) -> bool:
    return headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"


async def part_checksum_headers(
    client: ClusterClient, account: str, bucket: str, key: str, info: ObjectInfo, number: int
) -> dict[str, str]:
    """A multipart object's part `number`'s own checksum (its type is the object's), or nothing."""
    whole = metadata_checksum(info.metadata)
    if whole is None or part_sizes(info) is None:
        return {}
    _, segments = await read_manifest(client, account, bucket, key)
    if not 1 <= number <= len(segments):
        return {}
    part = await client.head_object(account, segments[number - 1].container, segments[number - 1].obj)
    stored = stored_checksum(part.extra)
    return response_headers((stored[0], stored[1], whole[2])) if stored is not None else {}


async def part_checksums(
    client: ClusterClient, account: str, bucket: str, key: str, numbers: range
) -> dict[int, str]:
    """The checksums (base64) the parts `numbers` of a multipart object were uploaded with, read
    from the parts themselves (S3_PART_READS_CONCURRENCY at a time)."""
    _, segments = await read_manifest(client, account, bucket, key)

    async def checksum_of(number: int) -> tuple[int, str | None]:
        segment = segments[number - 1]
        stored = stored_checksum((await client.head_object(account, segment.container, segment.obj)).extra)
        return number, stored[1] if stored is not None else None

    found = await map_bounded(
        checksum_of,
        [number for number in numbers if number <= len(segments)],
        concurrency=S3_PART_READS_CONCURRENCY,
    )
    return {number: checksum for number, checksum in found if checksum is not None}


async def head_object(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    claim = await authorised_bucket(context, target.bucket, authenticated, method="HEAD", key=target.key)
    account = claim.account
    info = await context.client.head_object(account, target.bucket, target.key)
    check_conditions(headers, info, "HEAD")
    answer = object_headers(info, headers)
    length = s3_length(info)
    answer["Content-Length"] = str(length)
    if "partNumber" not in query:
        return web.Response(status=200, headers=answer)
    number = check_part_number(query["partNumber"])
    part_header, extra = part_answer(info, number)
    answer.update(extra)
    if checksum_mode(headers):
        answer.update(
            await part_checksum_headers(context.client, account, target.bucket, target.key, info, number)
        )
    if part_header is None:
        return web.Response(status=200, headers=answer)
    first, last = (int(bound) for bound in part_header.removeprefix("bytes=").split("-"))
    answer["Content-Length"] = str(last - first + 1)
    answer["Content-Range"] = f"bytes {first}-{last}/{length}"
    return web.Response(status=206, headers=answer)


async def get_object(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    claim = await authorised_bucket(context, target.bucket, authenticated, method="GET", key=target.key)
    account = claim.account
    overrides = response_overrides(query, anonymous=authenticated is None)
    requested_range = byte_range(headers.get("range"))
    extra: dict[str, str] = {}
    if "partNumber" in query:
        number = check_part_number(query["partNumber"])
        if requested_range:
            raise s3.InvalidRequest("Cannot specify both Range header and partNumber query parameter.")
        info = await context.client.head_object(account, target.bucket, target.key)
        check_conditions(headers, info, "GET")
        requested_range, extra = part_answer(info, number)
        if checksum_mode(headers):
            extra.update(
                await part_checksum_headers(context.client, account, target.bucket, target.key, info, number)
            )
        asked: dict[str, str] = {}
    else:
        asked = conditions(headers)
    if requested_range:
        asked["Range"] = requested_range
    try:
        async with context.client.get_object(account, target.bucket, target.key, asked) as reader:
            info = reader.info
            if requested_range and info.length == 0:
                raise RangeNotSatisfiable(0)  # S3: no byte of an empty object can be asked for
            if not is_large(info):
                answer = object_headers(info, None if requested_range else headers)
                answer.update(overrides)
                answer.update(extra)
                assert reader.headers is not None
                for name in ("Content-Range", "Content-Length"):
                    if name in reader.headers:
                        answer[name] = reader.headers[name]
                return await stream_answer(request, reader.status, answer, reader.body)
    except (NotModified, PreconditionFailed, RangeNotSatisfiable) as refused:
        info = await context.client.head_object(account, target.bucket, target.key)
        if isinstance(refused, NotModified) and not is_large(info):
            raise web.HTTPNotModified(headers=not_modified_headers(info)) from None
        if not is_large(info):
            raise
    check_conditions(headers, info, "GET")
    body = await open_large_object(
        context.client, account, target.bucket, target.key, info, range_header=requested_range
    )
    try:
        answer = object_headers(info, None if requested_range else headers)
        answer.update(overrides)
        answer.update(extra)
        answer["Content-Length"] = str(body.length)
        if body.content_range:
            answer["Content-Range"] = body.content_range
        return await stream_answer(request, body.status, answer, body.chunks)
    finally:
        await body.aclose()


async def stream_answer(
    request: web.Request, status: int, headers: Mapping[str, str], chunks: AsyncIterator[bytes]
) -> web.StreamResponse:
    response = BodyStreamResponse(status=status, headers=headers)
    request["response"] = response
    await response.prepare(request)
    sent_bytes = 0
    async for chunk in chunks:
        await response.write(chunk)
        sent_bytes += len(chunk)
        request["bytes_out"] = sent_bytes
    await response.write_eof()
    return response


async def get_object_attributes(
    context, request, target, headers, query, authenticated
) -> web.StreamResponse:
    account = (
        await authorised_bucket(context, target.bucket, authenticated, method="GET", key=target.key)
    ).account
    asked = parse_attributes_request(headers)
    info = await context.client.head_object(account, target.bucket, target.key)
    sizes = part_sizes(info)
    checksums: dict[int, str] = {}
    if sizes and "ObjectParts" in asked.attributes and metadata_checksum(info.metadata) is not None:
        first = asked.part_number_marker + 1
        shown = range(first, min(len(sizes), asked.part_number_marker + asked.max_parts) + 1)
        checksums = await part_checksums(context.client, account, target.bucket, target.key, shown)
    parts = (
        [PartAttributes(number, size, checksums.get(number)) for number, size in enumerate(sizes, 1)]
        if sizes
        else None
    )
    body = attributes_xml(
        asked, etag=s3_etag(info), size=s3_length(info), checksum=object_checksum(info), parts=parts
    )
    return web.Response(
        body=body, content_type=XML_CONTENT_TYPE, headers={"Last-Modified": http_date(info.last_modified)}
    )


READ_HANDLERS: dict[str, Handler] = {
    "GetObject": get_object,
    "HeadObject": head_object,
    "GetObjectAttributes": get_object_attributes,
}
