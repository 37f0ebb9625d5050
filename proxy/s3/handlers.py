"""S3 operations: thin handlers that authorise, call the cluster client and shape the answer.

Every handler takes the listener's context, the request, its target, its
lower-cased headers and decoded query, and who signed it (None: anonymous).
A bucket is a container of its owner's account `AUTH_<project_id>`; the bucket
registry says which account owns a name. Authorisation is the Swift API's
(`Authoriser`, one per worker): identity's policy over the signer's roles on
the owning project (a reader reads, a member writes), then the container's ACLs,
which S3 ACLs set (`acl.py`), so a public-read bucket serves anonymous reads and
another project's user reads or writes what the ACLs grant them.

A bucket's name is claimed in the registry before its container is created,
and released after its container is deleted; a claim whose container is
missing (a create or delete cut short) is completed by its owner's next create.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from dolmen.proxy.errors import AccessDenied, NotAuthenticated
from dolmen.proxy.reserved import list_public_containers
from dolmen.proxy.s3 import errors as s3
from dolmen.proxy.s3.acl import (
    SwiftAcls,
    access_control_policy_xml,
    grants_of,
    grants_of_headers,
    swift_acls,
)
from dolmen.proxy.s3.auth import Authenticated, CredentialCache
from dolmen.proxy.s3.buckets import BucketClaim, BucketRegistry, claim_for_container, new_claim
from dolmen.proxy.s3.cache import TtlCache
from dolmen.proxy.s3.checksums import footer_items as checksums_footer
from dolmen.proxy.s3.cleaner import replaced_upload, sweep_replaced
from dolmen.proxy.s3.config import S3Config
from dolmen.proxy.s3.copy import (
    COPY_SOURCE_HEADER,
    check_not_a_self_copy,
    metadata_directive,
    parse_copy_source,
    source_conditions,
)
from dolmen.proxy.s3.headers import (
    STANDARD_HEADERS,
    content_md5_hex,
    standard_headers,
    stored_content_type,
    user_metadata,
)
from dolmen.proxy.s3.listing import (
    ListParams,
    ObjectRow,
    Page,
    bucket_list_scope,
    cluster_limit,
    list_objects_xml,
    list_versions_xml,
    open_token,
    page,
    parse_bucket_list_params,
    parse_list_params,
    seal_token,
    start_marker,
)
from dolmen.proxy.s3.mpobjects import is_large
from dolmen.proxy.s3.names import Target, is_valid_bucket_name
from dolmen.proxy.s3.payload import PayloadVerifier
from dolmen.proxy.s3.render import (
    XML_CONTENT_TYPE,
    BucketRow,
    DeleteFailure,
    Owner,
    copy_result_xml,
    delete_result_xml,
    list_buckets_xml,
    location_xml,
    quoted_etag,
)
from dolmen.proxy.s3.requestxml import (
    parse_access_control_policy,
    parse_delete_objects,
    parse_location_constraint,
)
from dolmen.proxy.s3.sources import NO_CONDITIONS, WriteConditions, judge_write_conditions, object_body
from dolmen.proxy.swift.access import READ_ACL_ITEM, WRITE_ACL_ITEM, Authoriser
from dolmen.proxy.swift.paths import SwiftPath

from dolmen.cluster import (
    ClusterClient,
    ContainerEntry,
    ContainerNotEmpty,
    ListingQuery,
    NotFound,
    ObjectEntry,
    Subdir,
)
from dolmen.cluster.objects import PutResult
from dolmen.errors import DolmenError
from dolmen.limits import (
    LISTING_PAGE_ENTRIES_MAX,
    S3_BUCKET_CONFIG_XML_BYTES_MAX,
    S3_COPY_SOURCE_BYTES_MAX,
    S3_DELETE_OBJECTS_CONCURRENCY_MAX,
    S3_REQUEST_XML_BYTES_MAX,
)
from dolmen.serving import body_pieces

ACCOUNT_PREFIX = "AUTH_"
# Standard headers (Cache-Control...) are kept as metadata items under this prefix, as the
# Swift API keeps them, so both APIs show them; users cannot set such items.
KEPT_HEADER_PREFIX = "dolmen-sys-"


@dataclass
class S3Context:
    config: S3Config
    client: ClusterClient
    credentials: CredentialCache
    authoriser: Authoriser
    registry: BucketRegistry
    token_key: bytes
    host_id: str

    def __post_init__(self) -> None:
        self.owners: TtlCache[BucketClaim] = TtlCache(
            self.registry.lookup, ttl_s=self.config.bucket_cache_ttl_s, entries_max=10_000
        )


Handler = Callable[
    [S3Context, web.Request, Target, Mapping[str, str], Mapping[str, str], Authenticated | None],
    Awaitable[web.StreamResponse],
]


def account_of(authenticated: Authenticated) -> str:
    return ACCOUNT_PREFIX + authenticated.credential.project_id


async def authorised_bucket(
    context: S3Context,
    bucket: str | None,
    authenticated: Authenticated | None,
    *,
    method: str,
    key: str | None = None,
    changes_acls: bool = False,
) -> BucketClaim:
    """The claim of `bucket` once the signer (None: anonymous) may `method` it (Swift's verbs:
    GET and HEAD read, PUT, POST and DELETE write) under the Swift API's rules; NoSuchBucket or
    AccessDenied otherwise. A container of the signer's own account with a bucket's name and no
    claim (made through the Swift API) is claimed for it on the way."""
    assert bucket is not None
    started_s = time.monotonic()
    claim = await context.owners.get(bucket)
    if claim is None and authenticated is not None:
        claim = await adopt_container(context, bucket, authenticated)
    if claim is None:
        raise s3.NoSuchBucket(BucketName=bucket)
    credential_context = authenticated.credential.context if authenticated is not None else None
    try:
        await context.authoriser.authorise_context(
            method, SwiftPath(claim.account, bucket, key), credential_context, changes_acls=changes_acls
        )
    except (NotAuthenticated, AccessDenied):
        gone = await claim_gone(context, bucket, since_s=started_s)
        raise (s3.NoSuchBucket(BucketName=bucket) if gone else s3.AccessDenied()) from None
    return claim


async def claim_gone(context: S3Context, bucket: str, *, since_s: float) -> bool:
    """Whether `bucket`'s claim is gone, asked of the registry only if this worker's memory of
    it is from before `since_s` (monotonic); False when the registry cannot tell now.

    That memory may predate a DeleteBucket through another worker or the Swift API: a missing
    key or a denial would then be answered where S3 answers NoSuchBucket. Only such answers
    ask, and one read per bucket refreshes the memory for every request that starts after it."""
    try:
        return await context.owners.get(bucket, filled_after=since_s) is None
    except DolmenError:
        return False


async def check_expected_owners(context: S3Context, bucket: str | None, headers: Mapping[str, str]) -> None:
    """A request meant only for buckets of a given owner (`x-amz-expected-bucket-owner`, and
    `x-amz-source-expected-bucket-owner` for a copy's source) is refused with AccessDenied
    when the bucket is another project's. A missing bucket is left to the operation
    (NoSuchBucket); a caller without access is refused either way, so the answer tells
    nobody whose a bucket is."""
    expected = headers.get("x-amz-expected-bucket-owner")
    if expected is not None and bucket is not None:
        await _check_owner(context, bucket, expected)
    expected_source = headers.get("x-amz-source-expected-bucket-owner")
    if expected_source is not None and COPY_SOURCE_HEADER in headers:
        await _check_owner(context, parse_copy_source(headers[COPY_SOURCE_HEADER]).bucket, expected_source)


async def _check_owner(context: S3Context, bucket: str, expected: str) -> None:
    claim = await context.owners.get(bucket)
    if claim is not None and claim.project_id != expected:
        raise s3.AccessDenied()


async def authorise_own_account(
    context: S3Context, authenticated: Authenticated, method: str, bucket: str | None = None
) -> None:
    """Whether the signer may `method` its own account (ListBuckets) or a bucket in it (CreateBucket)."""
    try:
        await context.authoriser.authorise_context(
            method, SwiftPath(account_of(authenticated), bucket), authenticated.credential.context
        )
    except (NotAuthenticated, AccessDenied):
        raise s3.AccessDenied() from None


async def owned_bucket(context: S3Context, bucket: str | None, authenticated: Authenticated | None) -> str:
    """The account holding `bucket`, if the signer may write to it (the strictest check)."""
    return (await authorised_bucket(context, bucket, authenticated, method="PUT")).account


async def adopt_container(
    context: S3Context, bucket: str, authenticated: Authenticated
) -> BucketClaim | None:
    """Claim an unclaimed bucket name for the signer's account if a container of that name is there."""
    account = account_of(authenticated)
    if await context.authoriser.container_info(account, bucket) is None:
        return None
    claim = await claim_for_container(
        context.registry, bucket, account, authenticated.credential.project_id, region=context.config.region
    )
    if claim is not None:
        context.owners.put(bucket, claim)
    return claim


async def read_bounded(request: web.Request, size_bytes_max: int) -> bytes:
    """A small request body (XML), refused past `size_bytes_max` without reading it all."""
    if request.content_length is not None and request.content_length > size_bytes_max:
        raise s3.MaxMessageLengthExceeded()
    body = await request.content.read(size_bytes_max + 1)
    if len(body) > size_bytes_max:
        raise s3.MaxMessageLengthExceeded()
    request["bytes_in"] = len(body)
    return body


# --- buckets ---------------------------------------------------------------


async def create_bucket(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    if authenticated is None:
        raise s3.AccessDenied()
    bucket = target.bucket
    assert bucket is not None
    await authorise_own_account(context, authenticated, "PUT", bucket)
    region = parse_location_constraint(
        await read_bounded(request, S3_BUCKET_CONFIG_XML_BYTES_MAX), region=context.config.region
    )
    account, project_id = account_of(authenticated), authenticated.credential.project_id
    grants = grants_of_headers(headers)
    metadata = acl_metadata(swift_acls(grants, owner_id=project_id)) if grants is not None else {}
    claim = new_claim(account=account, project_id=project_id, region=region, now_s=time.time())
    try:
        held = await context.registry.claim(bucket, claim)
    except s3.BucketAlreadyOwnedByYou:
        # Ours already: complete a create that was cut short before its container existed.
        if not await context.client.put_container(account, bucket, metadata):
            raise
    else:
        context.owners.put(bucket, held)
        await context.client.put_container(account, bucket, metadata)
    context.authoriser.invalidate(account, bucket)
    return web.Response(status=200, headers={"Location": f"/{bucket}"})


async def delete_bucket(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    """Only an empty bucket: the container goes first, then the name's claim."""
    account = (await authorised_bucket(context, target.bucket, authenticated, method="DELETE")).account
    assert target.bucket is not None
    try:
        await context.client.delete_container(account, target.bucket)
    except ContainerNotEmpty:
        raise s3.BucketNotEmpty(BucketName=target.bucket) from None
    except NotFound:
        pass  # a delete cut short after the container went: release the name now
    finally:
        context.authoriser.invalidate(account, target.bucket)
    await context.registry.release(target.bucket, account)
    context.owners.invalidate(target.bucket)
    return web.Response(status=204)


async def list_buckets(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    """The project's containers that are buckets (valid bucket names claimed by this account), in
    name order, paged by `max-buckets` and a continuation token, filtered by prefix and region."""
    if authenticated is None:
        raise s3.AccessDenied()
    await authorise_own_account(context, authenticated, "GET")
    params = parse_bucket_list_params(query)
    account = account_of(authenticated)
    scope = bucket_list_scope(account)
    marker = (
        open_token(context.token_key, scope, params.continuation_token) if params.continuation_token else ""
    )
    try:
        listing = await list_public_containers(
            context.client,
            account,
            ListingQuery(prefix=params.prefix or "", marker=marker, limit=LISTING_PAGE_ENTRIES_MAX),
        )
    except NotFound:
        listing = None
    candidates = [
        entry
        for entry in (listing.entries if listing else [])
        if isinstance(entry, ContainerEntry) and is_valid_bucket_name(entry.name)
    ]
    slots = asyncio.Semaphore(S3_DELETE_OBJECTS_CONCURRENCY_MAX)

    async def owned(name: str) -> BucketClaim | None:
        async with slots:
            claim = await context.owners.get(name)
        return claim if claim is not None and claim.account == account else None

    async with asyncio.TaskGroup() as group:
        checks = [group.create_task(owned(entry.name)) for entry in candidates]
    rows = [
        BucketRow(entry.name, entry.last_modified.seconds, claim.region)
        for entry, check in zip(candidates, checks, strict=True)
        if (claim := check.result()) is not None and params.region in (None, claim.region)
    ]
    next_token = None
    if params.max_buckets is not None and len(rows) > params.max_buckets:
        rows = rows[: params.max_buckets]
        next_token = seal_token(context.token_key, scope, rows[-1].name)
    owner = Owner(id=authenticated.credential.project_id, display_name=authenticated.credential.project_id)
    body = list_buckets_xml(owner, rows, prefix=params.prefix, continuation_token=next_token)
    return web.Response(body=body, content_type=XML_CONTENT_TYPE)


async def object_page(context: S3Context, account: str, bucket: str, params: ListParams, marker: str) -> Page:
    """One page of a bucket's keys and common prefixes after `marker`."""
    listing = await context.client.list_objects(
        account,
        bucket,
        ListingQuery(
            prefix=params.prefix, delimiter=params.delimiter, marker=marker, limit=cluster_limit(params)
        ),
    )
    entries: list[ObjectRow | str] = []
    for entry in listing.entries:
        if isinstance(entry, ObjectEntry):
            entries.append(ObjectRow(entry.name, entry.bytes, entry.etag, entry.last_modified.seconds))
        elif isinstance(entry, Subdir):
            entries.append(entry.name)
    return page(entries, marker=marker, max_keys=params.max_keys, cluster_truncated=listing.truncated)


async def list_objects(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    claim = await authorised_bucket(context, target.bucket, authenticated, method="GET")
    account, bucket = claim.account, target.bucket
    assert bucket is not None
    params = parse_list_params(query, version=2 if query.get("list-type") == "2" else 1)
    marker = start_marker(params, token_key=context.token_key, bucket=bucket)
    result = await object_page(context, account, bucket, params, marker)
    owner = Owner(id=claim.project_id, display_name=claim.project_id)
    body = list_objects_xml(params, result, bucket=bucket, owner=owner, token_key=context.token_key)
    return web.Response(body=body, content_type=XML_CONTENT_TYPE)


async def list_object_versions(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    """ListObjectVersions of a bucket without versioning: each object is its only version, `null`."""
    claim = await authorised_bucket(context, target.bucket, authenticated, method="GET")
    bucket = target.bucket
    assert bucket is not None
    params = parse_list_params({**query, "marker": query.get("key-marker", "")}, version=1)
    result = await object_page(context, claim.account, bucket, params, params.marker)
    owner = Owner(id=claim.project_id, display_name=claim.project_id)
    body = list_versions_xml(params, result, bucket=bucket, owner=owner)
    return web.Response(body=body, content_type=XML_CONTENT_TYPE)


async def head_bucket(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    await authorised_bucket(context, target.bucket, authenticated, method="HEAD")
    return web.Response(status=200, headers={"x-amz-bucket-region": context.config.region})


async def get_bucket_location(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    await authorised_bucket(context, target.bucket, authenticated, method="GET")
    return web.Response(body=location_xml(context.config.region), content_type=XML_CONTENT_TYPE)


# --- access control lists --------------------------------------------------


def acl_metadata(acls: SwiftAcls) -> dict[str, str]:
    """The container metadata items that hold a bucket's ACLs (an empty value clears one)."""
    return {READ_ACL_ITEM: acls.read, WRITE_ACL_ITEM: acls.write}


async def bucket_acls(context: S3Context, claim: BucketClaim, bucket: str) -> SwiftAcls:
    info = await context.client.head_container(claim.account, bucket)
    return SwiftAcls(read=info.metadata.get(READ_ACL_ITEM, ""), write=info.metadata.get(WRITE_ACL_ITEM, ""))


async def asked_acls(request: web.Request, headers: Mapping[str, str], owner_id: str) -> SwiftAcls:
    """The ACLs a Put*Acl request sets: from its headers, else from its AccessControlPolicy body."""
    grants = grants_of_headers(headers)
    if grants is None:
        grants = parse_access_control_policy(await read_bounded(request, S3_REQUEST_XML_BYTES_MAX))
    return swift_acls(grants, owner_id=owner_id)


async def get_bucket_acl(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    claim = await authorised_bucket(context, target.bucket, authenticated, method="GET", changes_acls=True)
    acls = await bucket_acls(context, claim, target.bucket)
    body = access_control_policy_xml(claim.project_id, grants_of(acls))
    return web.Response(body=body, content_type=XML_CONTENT_TYPE)


async def put_bucket_acl(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    claim = await authorised_bucket(context, target.bucket, authenticated, method="POST", changes_acls=True)
    acls = await asked_acls(request, headers, claim.project_id)
    await context.client.post_container(claim.account, target.bucket, acl_metadata(acls))
    context.authoriser.invalidate(claim.account, target.bucket)
    return web.Response(status=200)


async def get_object_acl(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    """An object's ACL is its bucket's (Swift has no per-object ACLs); the object must exist."""
    claim = await authorised_bucket(
        context, target.bucket, authenticated, method="GET", key=target.key, changes_acls=True
    )
    await context.client.head_object(claim.account, target.bucket, target.key)
    acls = await bucket_acls(context, claim, target.bucket)
    return web.Response(
        body=access_control_policy_xml(claim.project_id, grants_of(acls)), content_type=XML_CONTENT_TYPE
    )


async def put_object_acl(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    """Accepted when it asks for what the bucket grants already (objects share their bucket's ACL)."""
    claim = await authorised_bucket(
        context, target.bucket, authenticated, method="POST", key=target.key, changes_acls=True
    )
    await context.client.head_object(claim.account, target.bucket, target.key)
    await check_object_acl(
        context, claim, target.bucket, await asked_acls(request, headers, claim.project_id)
    )
    return web.Response(status=200)


async def check_object_acl(context: S3Context, claim: BucketClaim, bucket: str, asked: SwiftAcls) -> None:
    if not asked.grants_same_as(await bucket_acls(context, claim, bucket)):
        raise s3.S3NotImplemented(
            "Objects share their bucket's ACL: set the ACL on the bucket (PutBucketAcl) instead."
        )


# --- objects ---------------------------------------------------------------


def copied_metadata(items: Mapping[str, str]) -> dict[str, str]:
    """What a copy keeps of its source's metadata: user items and standard headers, no system item."""
    return {
        name: value
        for name, value in items.items()
        if not name.startswith(KEPT_HEADER_PREFIX) or name[len(KEPT_HEADER_PREFIX) :] in STANDARD_HEADERS
    }


def stored_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """The metadata items a PUT stores: x-amz-meta-* and the standard headers it sets."""
    items = user_metadata(headers)
    if any(name.startswith(KEPT_HEADER_PREFIX) for name in items):
        raise s3.InvalidArgument(f"Metadata names starting with {KEPT_HEADER_PREFIX!r} are reserved")
    items.update({KEPT_HEADER_PREFIX + name: value for name, value in standard_headers(headers).items()})
    return items


async def put_verified(
    context: S3Context,
    request: web.Request,
    headers: Mapping[str, str],
    authenticated: Authenticated,
    account: str,
    container: str,
    obj: str,
    *,
    content_type: str,
    metadata: Mapping[str, str],
    checksum_algorithm: str | None = None,
    conditions: WriteConditions = NO_CONDITIONS,
) -> tuple[PutResult, dict[str, str]]:
    """Stream the request's body into an object, committed only if it proves all it claims
    (signature, Content-MD5, checksum); the result and the checksums stored with it.
    `checksum_algorithm` is computed and stored even when the request claims none;
    `conditions`: what the nodes check at the commit (PreconditionFailed when it fails)."""
    verifier = PayloadVerifier.for_request(
        headers,
        payload_hash=authenticated.signed.payload_hash,
        signing=authenticated.signing,
        default_algorithm=checksum_algorithm,
    )
    expected_md5 = content_md5_hex(headers["content-md5"]) if "content-md5" in headers else None
    checksums: dict[str, str] = {}

    async def payload() -> AsyncIterator[bytes | memoryview]:
        received_bytes = 0
        async for raw in body_pieces(request.content):
            received_bytes += len(raw)
            request["bytes_in"] = received_bytes
            for piece in verifier.feed(raw):
                yield piece

    async def check_body() -> None:
        checksums.update(verifier.finish())

    result = await context.client.put_object(
        account,
        container,
        obj,
        payload(),
        content_type=content_type,
        metadata=metadata,
        length=verifier.payload_length,
        expected_etag=expected_md5,
        check_body=check_body,
        footer_metadata=lambda: checksums_footer(checksums),
        if_none_match=conditions.refuse_existing,
        if_match=conditions.if_match,
    )
    return result, checksums


def checksum_answer(checksums: Mapping[str, str]) -> dict[str, str]:
    return {f"x-amz-checksum-{name}": value for name, value in checksums.items()}


async def put_object(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    if authenticated is None:
        raise s3.AccessDenied()  # anonymous writes are not served (S3.md: ACLs)
    claim = await authorised_bucket(context, target.bucket, authenticated, method="PUT", key=target.key)
    account = claim.account
    grants = grants_of_headers(headers)
    if grants is not None:
        await check_object_acl(context, claim, target.bucket, swift_acls(grants, owner_id=claim.project_id))
    conditions = await judge_write_conditions(context.client, account, target.bucket, target.key, headers)
    replaced = await replaced_upload(context.client, context.authoriser, account, target.bucket, target.key)
    result, checksums = await put_verified(
        context,
        request,
        headers,
        authenticated,
        account,
        target.bucket,
        target.key,
        content_type=stored_content_type(headers),
        metadata=stored_metadata(headers),
        conditions=conditions,
    )
    await sweep_replaced(context.client, account, target.bucket, target.key, replaced)
    answer = {"ETag": quoted_etag(result.etag), **checksum_answer(checksums)}
    if checksums:
        answer["x-amz-checksum-type"] = "FULL_OBJECT"
    return web.Response(status=200, headers=answer)


async def delete_object(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    claim = await authorised_bucket(context, target.bucket, authenticated, method="DELETE", key=target.key)
    account = claim.account
    replaced = await replaced_upload(context.client, context.authoriser, account, target.bucket, target.key)
    with contextlib.suppress(NotFound):  # S3 deletes are idempotent: a missing key is deleted too
        await context.client.delete_object(account, target.bucket, target.key)
    await sweep_replaced(context.client, account, target.bucket, target.key, replaced)
    return web.Response(status=204)


async def copy_object(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    if authenticated is None:
        raise s3.AccessDenied()
    claim = await authorised_bucket(context, target.bucket, authenticated, method="PUT", key=target.key)
    account = claim.account
    source = parse_copy_source(headers["x-amz-copy-source"])
    check_not_a_self_copy(source, target.bucket or "", target.key or "", headers)
    directive = metadata_directive(headers)
    source_claim = await authorised_bucket(
        context, source.bucket, authenticated, method="GET", key=source.key
    )
    source_account = source_claim.account
    replaced = await replaced_upload(context.client, context.authoriser, account, target.bucket, target.key)
    try:
        opened = object_body(
            context.client,
            source_account,
            source.bucket,
            source.key,
            http_conditions=source_conditions(headers),
        )
        async with opened as (info, length, chunks):
            if length > S3_COPY_SOURCE_BYTES_MAX:
                raise s3.InvalidRequest(
                    "The specified copy source is larger than the maximum allowable size for a copy source: "
                    f"{S3_COPY_SOURCE_BYTES_MAX}"
                )
            if directive == "COPY":
                content_type, metadata = info.content_type, copied_metadata(info.metadata)
            else:
                content_type = stored_content_type(headers)
                metadata = stored_metadata(headers)
            result = await context.client.put_object(
                account,
                target.bucket,
                target.key,
                chunks,
                content_type=content_type,
                metadata=metadata,
                length=length,
                expected_etag=None if is_large(info) else info.etag,
            )
    except NotFound:
        raise s3.NoSuchKey(Key=source.key) from None
    await sweep_replaced(context.client, account, target.bucket, target.key, replaced)
    return web.Response(
        body=copy_result_xml(result.etag, result.timestamp.seconds), content_type=XML_CONTENT_TYPE
    )


async def delete_objects(context, request, target, headers, query, authenticated) -> web.StreamResponse:
    """Each key is authorised on its own (a write ACL grants objects, not the bucket): a key the
    signer may not delete is an AccessDenied entry of the result, as S3 reports it."""
    bucket = target.bucket
    account = (await authorised_bucket(context, bucket, authenticated, method="GET")).account
    body = await read_bounded(request, S3_REQUEST_XML_BYTES_MAX)
    if "content-md5" in headers and content_md5_hex(headers["content-md5"]) != hashlib.md5(body).hexdigest():
        raise s3.BadDigest()
    asked = parse_delete_objects(body)
    slots = asyncio.Semaphore(S3_DELETE_OBJECTS_CONCURRENCY_MAX)
    deleted: list[str] = []
    failures: list[DeleteFailure] = []

    async def delete_one(key: str, version_id: str | None) -> None:
        if version_id not in (None, "null"):
            failures.append(DeleteFailure(key, "NoSuchVersion", "The specified version does not exist."))
            return
        async with slots:
            try:
                await authorised_bucket(context, bucket, authenticated, method="DELETE", key=key)
                replaced = await replaced_upload(
                    context.client, context.authoriser, account, target.bucket, key
                )
                await context.client.delete_object(account, target.bucket, key)
                await sweep_replaced(context.client, account, target.bucket, key, replaced)
            except s3.AccessDenied:
                failures.append(DeleteFailure(key, "AccessDenied", "Access Denied"))
                return
            except NotFound:
                pass
            except DolmenError as error:
                failures.append(DeleteFailure(key, "InternalError", type(error).__name__))
                return
        deleted.append(key)

    async with asyncio.TaskGroup() as group:
        for key, version_id in asked.keys:
            group.create_task(delete_one(key, version_id))
    order = {key: index for index, (key, _) in enumerate(asked.keys)}
    deleted.sort(key=order.__getitem__)
    return web.Response(
        body=delete_result_xml(deleted, failures, quiet=asked.quiet), content_type=XML_CONTENT_TYPE
    )


HANDLERS: dict[str, Handler] = {
    "ListBuckets": list_buckets,
    "CreateBucket": create_bucket,
    "HeadBucket": head_bucket,
    "DeleteBucket": delete_bucket,
    "ListObjects": list_objects,
    "ListObjectsV2": list_objects,
    "ListObjectVersions": list_object_versions,
    "GetBucketLocation": get_bucket_location,
    "DeleteObjects": delete_objects,
    "PutObject": put_object,
    "DeleteObject": delete_object,
    "CopyObject": copy_object,
    "GetBucketAcl": get_bucket_acl,
    "PutBucketAcl": put_bucket_acl,
    "GetObjectAcl": get_object_acl,
    "PutObjectAcl": put_object_acl,
}
