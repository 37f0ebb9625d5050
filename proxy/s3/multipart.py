"""S3 multipart uploads: thin handlers over the uploads container (names and rules in uploads.py).

The upload record is written when the upload is created and removed when it is
completed or aborted; every part is its own object (a new name per UploadPart),
checked like a PutObject body before it commits. An UploadPart that commits
after its upload ended removes its own part again (it checks the record once
more after the write), so a part either belongs to a live upload or is one the
cleaner finds when it sweeps the upload's end. Ending an upload schedules that
sweep (cleaner.py); the sweep scheduled at creation for the expiry time is the
backstop when a request is cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Mapping

from aiohttp import web
from dolmen.proxy.largeobjects import Segment, put_manifest
from dolmen.proxy.reserved import reserved_container
from dolmen.proxy.s3 import errors as s3
from dolmen.proxy.s3.buckets import BucketClaim
from dolmen.proxy.s3.checksums import (
    FULL_OBJECT,
    b64,
    check_algorithm,
    check_multipart_type,
    composite,
    decode,
    full_object,
    new_checksum,
    stored_checksum,
)
from dolmen.proxy.s3.checksums import footer_items as checksums_footer
from dolmen.proxy.s3.cleaner import (
    mark_multipart_bucket,
    replaced_upload,
    schedule_sweep,
    wait_until_every_proxy_sees_the_flag,
)
from dolmen.proxy.s3.copy import (
    COPY_SOURCE_RANGE_HEADER,
    check_copy_range,
    parse_copy_source,
    parse_copy_source_range,
    source_conditions,
)
from dolmen.proxy.s3.handlers import (
    Handler,
    S3Context,
    authorised_bucket,
    checksum_answer,
    put_verified,
    read_bounded,
    stored_metadata,
)
from dolmen.proxy.s3.headers import stored_content_type
from dolmen.proxy.s3.listing import parse_list_params
from dolmen.proxy.s3.mpobjects import manifest_items, metadata_checksum, s3_etag, upload_id_of
from dolmen.proxy.s3.render import XML_CONTENT_TYPE, Owner
from dolmen.proxy.s3.requestxml import parse_complete_multipart
from dolmen.proxy.s3.sources import judge_write_conditions
from dolmen.proxy.s3.uploads import (
    PART_PREFIX,
    UPLOAD_PREFIX,
    RequestedPart,
    StoredPart,
    UploadRecord,
    check_part_number,
    check_upload_id,
    check_upload_key,
    choose_parts,
    common_prefix,
    latest_parts,
    multipart_etag,
    new_upload_id,
    page_parts,
    parse_part_entry,
    parse_record_name,
    part_name,
    parts_prefix,
    record_name,
)
from dolmen.proxy.s3.uploads_xml import (
    PartsPage,
    UploadsPage,
    complete_xml,
    copy_part_xml,
    initiate_xml,
    list_parts_xml,
    list_uploads_xml,
)

from dolmen.cluster import ListingQuery, NotFound, ObjectEntry
from dolmen.limits import (
    LISTING_PAGE_ENTRIES_MAX,
    S3_COMPLETE_XML_BYTES_MAX,
    S3_LIST_PARTS_MAX,
    S3_LIST_UPLOADS_MAX,
    S3_PART_BYTES_MAX,
    S3_PART_HEADS_CONCURRENCY_MAX,
    S3_PARTS_MAX,
    S3_UPLOAD_RECORD_BYTES_MAX,
    S3_UPLOADS_LISTING_ROUNDS_MAX,
)

RECORD_CONTENT_TYPE = "application/json"


def owner_of(claim: BucketClaim) -> Owner:
    return Owner(id=claim.project_id, display_name=claim.project_id)


def initiator_of(claim: BucketClaim, project_id: str) -> Owner:
    """Who created an upload (its Initiator and Owner): the project, else the bucket's owner."""
    return Owner(id=project_id, display_name=project_id) if project_id else owner_of(claim)


def record_content_type(initiator: str) -> str:
    """An upload record's content type names its initiator, so that a listing of the uploads
    shows who made each one without reading every record."""
    return f"{RECORD_CONTENT_TYPE};initiator={initiator}" if initiator else RECORD_CONTENT_TYPE


def initiator_in(content_type: str) -> str:
    _, _, initiator = content_type.partition(";initiator=")
    return initiator


async def put_record(context: S3Context, account: str, container: str, record: UploadRecord) -> None:
    """Write an upload record; the uploads container is made on a bucket's first upload."""

    async def body():
        yield record.encode()

    try:
        await context.client.put_object(
            account,
            container,
            record_name(record.key, record.upload_id),
            body(),
            content_type=record_content_type(record.initiator),
        )
    except NotFound:
        await context.client.put_container(account, container)
        await context.client.put_object(
            account,
            container,
            record_name(record.key, record.upload_id),
            body(),
            content_type=record_content_type(record.initiator),
        )


async def load_record(
    context: S3Context, account: str, container: str, key: str, upload_id: str
) -> UploadRecord:
    """The live upload's record; NoSuchUpload if it was never made, or was completed or aborted."""
    try:
        async with context.client.get_object(account, container, record_name(key, upload_id)) as reader:
            if reader.info.length > S3_UPLOAD_RECORD_BYTES_MAX:
                raise s3.InternalError()
            body = b"".join([chunk async for chunk in reader.body])
    except NotFound:
        raise s3.NoSuchUpload(UploadId=upload_id) from None
    return UploadRecord.decode(body)


async def list_stored_parts(
    context: S3Context, account: str, container: str, upload_id: str
) -> list[StoredPart]:
    """Every stored part of an upload (all versions), in name order; bounded by S3_PARTS_MAX pages."""
    parts: list[StoredPart] = []
    marker = ""
    for _ in range(S3_PARTS_MAX):  # each round returns at least one entry or ends
        listing = await context.client.list_objects(
            account, container, ListingQuery(prefix=parts_prefix(upload_id), marker=marker)
        )
        for entry in listing.entries:
            if isinstance(entry, ObjectEntry):
                part = parse_part_entry(entry.name, entry.etag, entry.bytes, entry.last_modified.seconds)
                if part is not None:
                    parts.append(part)
        if not listing.truncated or not listing.entries:
            return parts
        marker = listing.entries[-1].name
    raise s3.InternalError()


async def part_checksums(
    context: S3Context, account: str, container: str, parts: list[StoredPart]
) -> list[str | None]:
    """Each part's stored checksum (base64), read from its footer, a bounded number at a time."""
    slots = asyncio.Semaphore(S3_PART_HEADS_CONCURRENCY_MAX)

    async def one(part: StoredPart) -> str | None:
        async with slots:
            info = await context.client.head_object(account, container, part.name)
        stored = stored_checksum(info.extra)
        return stored[1] if stored else None

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(part)) for part in parts]
    return [task.result() for task in tasks]


def upload_target(target) -> tuple[str, str]:
    assert target.bucket is not None and target.key is not None
    return reserved_container("uploads", target.bucket), target.key


# --- handlers --------------------------------------------------------------


async def create_multipart_upload(
    context, request, target, headers, query, authenticated
) -> web.StreamResponse:
    account = (
        await authorised_bucket(context, target.bucket, authenticated, method="PUT", key=target.key)
    ).account
    initiator = authenticated.credential.project_id if authenticated is not None else ""
    container, key = upload_target(target)
    check_upload_key(key)
    algorithm = headers.get("x-amz-checksum-algorithm")
    checksum_type = None
    if algorithm is not None:
        algorithm = check_algorithm(algorithm)
        checksum_type = check_multipart_type(algorithm, headers.get("x-amz-checksum-type"))
    elif "x-amz-checksum-type" in headers:
        raise s3.InvalidRequest("x-amz-checksum-type needs an x-amz-checksum-algorithm.")
    record = UploadRecord(
        key=key,
        upload_id=new_upload_id(time.time(), secrets.token_bytes(8)),
        content_type=stored_content_type(headers),
        metadata=stored_metadata(headers),
        checksum_algorithm=algorithm,
        checksum_type=checksum_type,
        initiator=initiator,
    )
    await mark_multipart_bucket(context.client, context.authoriser, account, target.bucket)
    # The expiry sweep first: an upload is never without the sweep that ends it.
    await schedule_sweep(
        context.client,
        account=account,
        bucket=target.bucket,
        key=key,
        upload_id=record.upload_id,
        due_s=time.time() + context.config.upload_expiry_s,
    )
    await put_record(context, account, container, record)
    answer = {}
    if algorithm is not None:
        answer = {"x-amz-checksum-algorithm": algorithm.upper(), "x-amz-checksum-type": checksum_type or ""}
    return web.Response(
        body=initiate_xml(target.bucket, key, record.upload_id), content_type=XML_CONTENT_TYPE, headers=answer
    )


async def upload_part(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    account = (
        await authorised_bucket(context, target.bucket, authenticated, method="PUT", key=target.key)
    ).account
    assert authenticated is not None
    container, key = upload_target(target)
    number = check_part_number(query.get("partNumber"))
    upload_id = check_upload_id(query.get("uploadId"))
    record = await load_record(context, account, container, key, upload_id)
    name = part_name(upload_id, number, secrets.token_hex(8))
    result, checksums = await put_verified(
        context,
        request,
        headers,
        authenticated,
        account,
        container,
        name,
        content_type="application/octet-stream",
        metadata={},
        checksum_algorithm=record.checksum_algorithm,
    )
    await keep_part_if_live(context, account, container, key, upload_id, name)
    return web.Response(status=200, headers={"ETag": f'"{result.etag}"', **checksum_answer(checksums)})


async def upload_part_copy(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    """A part copied from an object (a byte range of it with x-amz-copy-source-range), streamed."""
    account = (
        await authorised_bucket(context, target.bucket, authenticated, method="PUT", key=target.key)
    ).account
    container, key = upload_target(target)
    number = check_part_number(query.get("partNumber"))
    upload_id = check_upload_id(query.get("uploadId"))
    source = parse_copy_source(headers["x-amz-copy-source"])
    copy_range = parse_copy_source_range(headers.get(COPY_SOURCE_RANGE_HEADER))
    source_account = (
        await authorised_bucket(context, source.bucket, authenticated, method="GET", key=source.key)
    ).account
    record = await load_record(context, account, container, key, upload_id)
    name = part_name(upload_id, number, secrets.token_hex(8))
    asked = source_conditions(headers)
    checksum = new_checksum(record.checksum_algorithm) if record.checksum_algorithm else None
    try:
        if copy_range is not None:
            info = await context.client.head_object(source_account, source.bucket, source.key, asked)
            check_copy_range(copy_range, info.length)
            asked = {"Range": f"bytes={copy_range[0]}-{copy_range[1]}"}
        async with context.client.get_object(source_account, source.bucket, source.key, asked) as reader:
            length = int(reader.headers["Content-Length"]) if reader.headers else reader.info.length
            if length > S3_PART_BYTES_MAX:
                raise s3.InvalidRequest("The specified copy source is larger than the maximum part size.")

            async def body() -> AsyncIterator[bytes]:
                async for chunk in reader.body:
                    if checksum is not None:
                        checksum.update(chunk)
                    yield chunk

            def footer() -> dict[str, str]:
                if checksum is None or record.checksum_algorithm is None:
                    return {}
                return checksums_footer({record.checksum_algorithm: b64(checksum.digest())})

            result = await context.client.put_object(
                account,
                container,
                name,
                body(),
                content_type="application/octet-stream",
                length=length,
                footer_metadata=footer,
            )
    except NotFound:
        raise s3.NoSuchKey(Key=source.key) from None
    await keep_part_if_live(context, account, container, key, upload_id, name)
    stored = (
        (record.checksum_algorithm, b64(checksum.digest()))
        if checksum and record.checksum_algorithm
        else None
    )
    return web.Response(
        body=copy_part_xml(result.etag, result.timestamp.seconds, stored), content_type=XML_CONTENT_TYPE
    )


async def keep_part_if_live(
    context: S3Context, account: str, container: str, key: str, upload_id: str, name: str
) -> None:
    """A part that committed after its upload ended is removed at once (NoSuchUpload)."""
    try:
        await context.client.head_object(account, container, record_name(key, upload_id))
    except NotFound:
        with contextlib.suppress(NotFound):
            await context.client.delete_object(account, container, name)
        raise s3.NoSuchUpload(UploadId=upload_id) from None


async def complete_multipart_upload(
    context, request, target, headers, query, authenticated
) -> web.StreamResponse:
    """Assemble the named parts into the object: a manifest over them, no copy of the data."""
    account = (
        await authorised_bucket(context, target.bucket, authenticated, method="PUT", key=target.key)
    ).account
    container, key = upload_target(target)
    upload_id = check_upload_id(query.get("uploadId"))
    requested = parse_complete_multipart(await read_bounded(request, S3_COMPLETE_XML_BYTES_MAX))
    try:
        record = await load_record(context, account, container, key, upload_id)
    except s3.NoSuchUpload:
        return await completed_again(context, account, target.bucket, key, upload_id)
    conditions = await judge_write_conditions(context.client, account, target.bucket, key, headers)
    newest, _ = latest_parts(await list_stored_parts(context, account, container, upload_id))
    chosen = choose_parts(requested, newest)
    etag = multipart_etag([part.etag for part in chosen])
    checksum = await upload_checksum(context, account, container, record, requested, chosen, headers)
    segments = [
        Segment(container=container, obj=part.name, etag=part.etag, length=part.size, range=None)
        for part in chosen
    ]
    await wait_until_every_proxy_sees_the_flag(context.client, context.authoriser, account, target.bucket)
    replaced = await replaced_upload(context.client, context.authoriser, account, target.bucket, key)
    await put_manifest(
        context.client,
        account,
        target.bucket,
        key,
        segments,
        content_type=record.content_type,
        metadata=record.metadata,
        extra_sysmeta=manifest_items(
            etag=etag, part_sizes=[part.size for part in chosen], upload_id=upload_id, checksum=checksum
        ),
        if_none_match=conditions.refuse_existing,
        if_match=conditions.if_match,
    )
    with contextlib.suppress(NotFound):
        await context.client.delete_object(account, container, record_name(key, upload_id))
    for ended in {upload_id, replaced} - {None}:  # this upload's unused parts; the replaced one's all
        assert ended is not None
        await schedule_sweep(
            context.client, account=account, bucket=target.bucket, key=key, upload_id=ended, due_s=time.time()
        )
    location = f"/{target.bucket}/{key}"
    body = complete_xml(location=location, bucket=target.bucket, key=key, etag=etag, checksum=checksum)
    return web.Response(body=body, content_type=XML_CONTENT_TYPE)


async def completed_again(
    context: S3Context, account: str, bucket: str, key: str, upload_id: str
) -> web.Response:
    """A Complete of an upload that is the key's object already answers as the first did (S3 does)."""
    try:
        info = await context.client.head_object(account, bucket, key)
    except NotFound:
        raise s3.NoSuchUpload(UploadId=upload_id) from None
    if upload_id_of(info) != upload_id:
        raise s3.NoSuchUpload(UploadId=upload_id)
    body = complete_xml(
        location=f"/{bucket}/{key}",
        bucket=bucket,
        key=key,
        etag=s3_etag(info),
        checksum=metadata_checksum(info.metadata),
    )
    return web.Response(body=body, content_type=XML_CONTENT_TYPE)


async def upload_checksum(
    context: S3Context,
    account: str,
    container: str,
    record: UploadRecord,
    requested: list[RequestedPart],
    chosen: list[StoredPart],
    headers: Mapping[str, str],
) -> tuple[str, str, str] | None:
    """The object's checksum from its parts' (COMPOSITE or FULL_OBJECT), checked against the request's."""
    algorithm = record.checksum_algorithm
    if algorithm is None:
        return None
    values = await part_checksums(context, account, container, chosen)
    for asked, value in zip(requested, values, strict=True):
        claimed = asked.checksums.get(algorithm)
        if value is None or (claimed is not None and claimed != value):
            raise s3.InvalidPart(
                f"The checksum of part {asked.number} does not match.", PartNumber=str(asked.number)
            )
    digests = [decode(algorithm, value or "") for value in values]
    if record.checksum_type == FULL_OBJECT:
        value = full_object(
            algorithm, [(digest, part.size) for digest, part in zip(digests, chosen, strict=True)]
        )
    else:
        value = composite(algorithm, digests)
    claimed_whole = headers.get(f"x-amz-checksum-{algorithm}")
    if claimed_whole is not None and claimed_whole.strip() != value:
        raise s3.BadDigest(f"The {algorithm.upper()} you specified did not match the calculated checksum.")
    return algorithm, value, record.checksum_type or FULL_OBJECT


async def abort_multipart_upload(
    context, request, target, headers, query, authenticated
) -> web.StreamResponse:
    account = (
        await authorised_bucket(context, target.bucket, authenticated, method="DELETE", key=target.key)
    ).account
    container, key = upload_target(target)
    upload_id = check_upload_id(query.get("uploadId"))
    await load_record(context, account, container, key, upload_id)
    await schedule_sweep(
        context.client, account=account, bucket=target.bucket, key=key, upload_id=upload_id, due_s=time.time()
    )
    with contextlib.suppress(NotFound):
        await context.client.delete_object(account, container, record_name(key, upload_id))
    return web.Response(status=204)


async def list_parts(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    claim = await authorised_bucket(context, target.bucket, authenticated, method="GET", key=target.key)
    account = claim.account
    container, key = upload_target(target)
    upload_id = check_upload_id(query.get("uploadId"))
    record = await load_record(context, account, container, key, upload_id)
    marker = _count(query, "part-number-marker", 0, S3_PARTS_MAX)
    max_parts = _count(query, "max-parts", S3_LIST_PARTS_MAX, S3_LIST_PARTS_MAX)
    newest, _ = latest_parts(await list_stored_parts(context, account, container, upload_id))
    shown, truncated = page_parts(newest, marker=marker, max_parts=max_parts)
    checksums: list[str | None] = [None] * len(shown)
    if record.checksum_algorithm:
        checksums = await part_checksums(context, account, container, shown)
    page = PartsPage(
        bucket=target.bucket,
        key=key,
        upload_id=upload_id,
        owner=initiator_of(claim, record.initiator),
        marker=marker,
        max_parts=max_parts,
        parts=shown,
        checksums=checksums,
        truncated=truncated,
        checksum_algorithm=record.checksum_algorithm,
        checksum_type=record.checksum_type,
    )
    return web.Response(body=list_parts_xml(page), content_type=XML_CONTENT_TYPE)


async def list_multipart_uploads(
    context, request, target, headers, query, authenticated
) -> web.StreamResponse:
    claim = await authorised_bucket(context, target.bucket, authenticated, method="GET")
    account = claim.account
    assert target.bucket is not None
    container = reserved_container("uploads", target.bucket)
    params = parse_list_params({k: v for k, v in query.items() if k != "max-uploads"}, version=1)
    max_uploads = _count(query, "max-uploads", S3_LIST_UPLOADS_MAX, S3_LIST_UPLOADS_MAX)
    key_marker = query.get("key-marker", "")
    upload_id_marker = query.get("upload-id-marker", "") if key_marker else ""
    marker = (
        record_name(key_marker, upload_id_marker)
        if upload_id_marker
        else (UPLOAD_PREFIX + key_marker + "\U0010ffff" if key_marker else "")
    )
    uploads: list[tuple[str, str, Owner]] = []
    prefixes: list[str] = []
    truncated = False
    for _ in range(S3_UPLOADS_LISTING_ROUNDS_MAX):
        try:
            listing = await context.client.list_objects(
                account,
                container,
                ListingQuery(
                    prefix=UPLOAD_PREFIX + params.prefix, marker=marker, limit=LISTING_PAGE_ENTRIES_MAX
                ),
            )
        except NotFound:
            break  # no upload was ever made in this bucket
        for entry in listing.entries:
            marker = entry.name
            parsed = parse_record_name(entry.name)
            if parsed is None:
                continue
            key, upload_id = parsed
            rolled = common_prefix(key, params.prefix, params.delimiter)
            if rolled is not None and prefixes and prefixes[-1] == rolled:
                continue
            if len(uploads) + len(prefixes) == max_uploads:
                truncated = True
                break
            if rolled is not None:
                prefixes.append(rolled)
                marker = UPLOAD_PREFIX + rolled + "\U0010ffff"  # past every upload under it
            else:
                uploads.append((key, upload_id, initiator_of(claim, initiator_in(entry.content_type))))
        if truncated or not listing.truncated:
            break
    page = UploadsPage(
        bucket=target.bucket,
        prefix=params.prefix,
        delimiter=params.delimiter,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        max_uploads=max_uploads,
        uploads=uploads,
        common_prefixes=prefixes,
        truncated=truncated,
        url_encoded=params.url_encoded,
    )
    return web.Response(body=list_uploads_xml(page), content_type=XML_CONTENT_TYPE)


def _count(query: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise s3.InvalidArgument(f"Provided {name} not an integer or within integer range", ArgumentName=name)
    return min(int(value), maximum)


MULTIPART_HANDLERS: dict[str, Handler] = {
    "CreateMultipartUpload": create_multipart_upload,
    "UploadPart": upload_part,
    "UploadPartCopy": upload_part_copy,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
    "ListParts": list_parts,
    "ListMultipartUploads": list_multipart_uploads,
}
assert PART_PREFIX < UPLOAD_PREFIX  # parts and records never share a listing prefix
