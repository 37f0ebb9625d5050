"""The Swift v1 API: thin handlers that parse, authorise, call the cluster client and shape the answer.

One catch-all route per API version hands every request to `swift_request`,
which parses the raw target (never a normalised one), authorises, and
dispatches on (level, method). Handlers do not catch: the proxy's `errors`
middleware turns every exception into Swift's status and body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from dolmen.proxy.errors import (
    AccessDenied,
    BadRequest,
    ClientGone,
    ClientTooSlow,
    EntityTooLarge,
    LengthRequired,
    ManifestTooLarge,
    MethodNotAllowed,
    NotAuthenticated,
)
from dolmen.proxy.reserved import list_public_containers
from dolmen.proxy.s3.buckets import BucketRegistry
from dolmen.proxy.swift import (
    archive,
    bulk,
    cors,
    dlo,
    manifests,
    quotas,
    slo,
    staticweb,
    symlinks,
    tempurl,
    versioning,
)
from dolmen.proxy.swift import headers as swift_headers
from dolmen.proxy.swift.access import READ_ACL_ITEM, WRITE_ACL_ITEM, Access, Gatekeeper
from dolmen.proxy.swift.acl import clean_account_acl, clean_acl
from dolmen.proxy.swift.buckets import claim_bucket_name, release_bucket_name
from dolmen.proxy.swift.headers import (
    ACCOUNT_ACL_HEADER,
    ACCOUNT_ACL_ITEM,
    CONTAINER_ACL_HEADERS,
    http_date,
    metadata_headers,
    swift_timestamp,
    user_metadata,
)
from dolmen.proxy.swift.listings import (
    TEXT,
    ListingRequest,
    container_rows,
    object_rows,
    parse_listing_request,
    render_listing,
)
from dolmen.proxy.swift.paths import SwiftPath, parse_copy_target, parse_swift_path
from dolmen.proxy.swift.requests import parse_query, split_target

from dolmen.cluster import (
    ClusterClient,
    ListingQuery,
    NotFound,
    NotModified,
    ObjectInfo,
    PreconditionFailed,
    RangeNotSatisfiable,
)
from dolmen.limits import OBJECT_BODY_BYTES_MAX, SLO_MANIFEST_REQUEST_BYTES_MAX
from dolmen.serving import BodyStreamResponse, body_pieces

CLIENT = web.AppKey("cluster_client", ClusterClient)
GATEKEEPER = web.AppKey("gatekeeper", Gatekeeper)
CLIENT_TIMEOUT_S = web.AppKey("client_timeout_s", float)
CORS = web.AppKey("cors_settings", cors.CorsSettings)
TEMPURL = "swift_tempurl"  # request key: the verified TempURL of a request
VERSION_ID = "swift_version_id"  # request key: the version a `?version-id=` read addresses
OBJECT = "swift_object"  # request key: the object a TempURL addresses
CORS_METADATA = "swift_cors_metadata"  # request key: the container metadata of a request with Origin
BUCKET_REGISTRY = web.AppKey("bucket_registry", BucketRegistry)
BUCKET_REGION = web.AppKey("bucket_region", str)  # the S3 region a container's bucket claim names
CONDITIONAL_HEADERS = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
METHODS = {
    "account": ("GET", "HEAD", "POST"),
    "container": ("GET", "HEAD", "PUT", "POST", "DELETE"),
    "object": ("GET", "HEAD", "PUT", "POST", "DELETE", "COPY"),
}

Handler = Callable[[web.Request, SwiftPath, dict[str, str], Access], Awaitable[web.StreamResponse]]


def level(path: SwiftPath) -> str:
    return "account" if path.container is None else "object" if path.obj is not None else "container"


async def swift_request(request: web.Request) -> web.StreamResponse:
    raw_path, raw_query = split_target(request.raw_path)
    path = parse_swift_path(raw_path)
    query = parse_query(raw_query)
    kind = level(path)
    gatekeeper = request.app[GATEKEEPER]
    if request.method == "OPTIONS":  # CORS preflight: no authentication, as Swift
        return await options(request, path, METHODS[kind])
    # Bulk requests run before the request's own authorisation, as Swift's bulk middleware does:
    # each name in them is authorised as a request of its own.
    if request.method == "POST" and "bulk-delete" in query and path.obj is None:
        return await bulk.bulk_delete(
            request, request.app[CLIENT], path, authorise=_authoriser(request, "DELETE")
        )
    if request.method == "PUT" and "extract-archive" in query:
        return await archive.extract_archive(
            request,
            request.app[CLIENT],
            path,
            query["extract-archive"],
            authorise_put=_authoriser(request, "PUT"),
        )
    if request.method not in METHODS[kind]:
        raise MethodNotAllowed("The method is not allowed for this resource.")
    if "Origin" in request.headers and path.container is not None:
        request[CORS_METADATA] = await _container_metadata(request, path)
    if tempurl.requested(query):
        request[OBJECT] = path.obj
        request[TEMPURL], access = await tempurl.authorise_tempurl(
            gatekeeper,
            method=request.method,
            path=path,
            version=raw_path.split("/", 2)[1],
            query=query,
            headers=request.headers,
            client_ip=request.remote,
            now_s=time.time(),
        )
    else:
        if path.container is not None and staticweb.wants_static_web(request.method, request.headers):
            served = await _static_web(request, path)
            if served is not None:
                return served
        changes_acls = request.method in ("PUT", "POST") and _changes_acls(request.headers, kind)
        # COPY reads the addressed object; copy_object authorises the write at its Destination.
        method = "GET" if request.method == "COPY" else request.method
        access = await gatekeeper.authorise(method, path, request.headers, changes_acls=changes_acls)
    handler: Handler = HANDLERS[(kind, request.method)]
    return await handler(request, path, query, access)


async def _static_web(request: web.Request, path: SwiftPath) -> web.StreamResponse | None:
    """The static web answer, or None when the container is no web site the requester may read."""
    assert path.container is not None
    gatekeeper = request.app[GATEKEEPER]
    info = await gatekeeper.container_info(path.account, path.container)
    settings = staticweb.web_settings(info.metadata if info is not None else {})
    if not settings.active:
        return None
    try:
        access = await gatekeeper.authorise(
            "GET",
            SwiftPath(path.account, path.container, settings.index or "index"),
            request.headers,
            changes_acls=False,
        )
    except (NotAuthenticated, AccessDenied):
        return None  # not a public site: the ordinary path answers (and refuses)
    serve = get_object if request.method == "GET" else head_object
    return await staticweb.StaticWeb(
        request,
        path,
        settings,
        gatekeeper=gatekeeper,
        client=request.app[CLIENT],
        serve_object=lambda target: serve(request, target, {}, access),
    ).serve()


async def options(request: web.Request, path: SwiftPath, methods: tuple[str, ...]) -> web.StreamResponse:
    """OPTIONS: Swift's CORS preflight against the container's CORS metadata."""
    metadata = None if path.container is None else await _container_metadata(request, path)
    status, headers = cors.preflight(
        metadata=metadata, settings=request.app[CORS], headers=request.headers, allowed_methods=methods
    )
    return _no_body(status, headers)


async def _container_metadata(request: web.Request, path: SwiftPath) -> Mapping[str, str]:
    assert path.container is not None
    info = await request.app[GATEKEEPER].container_info(path.account, path.container)
    return info.metadata if info is not None else {}


async def adjust_answer(request: web.Request, response: web.StreamResponse) -> None:
    """Headers that TempURL and CORS add to any answer, errors included, just before it goes out."""
    tempurl_used = request.get(TEMPURL)
    if tempurl_used is not None:
        tempurl.adjust_response_headers(
            response.headers, tempurl_used, method=request.method, status=response.status, obj=request[OBJECT]
        )
    version = request.get(VERSION_ID)
    if version is not None and response.status < 300:
        response.headers["X-Object-Version-Id"] = version
    location = request.get(symlinks.LOCATION)
    if location is not None:
        response.headers["Content-Location"] = location
    metadata = request.get(CORS_METADATA)
    if metadata is not None:
        response.headers.update(
            cors.actual_headers(
                metadata=metadata,
                settings=request.app[CORS],
                origin=request.headers["Origin"],
                response_headers=response.headers,
            )
        )


def _authoriser(request: web.Request, method: str) -> bulk.Authorise:
    """Authorise `method` on another path for the same requester (segments, bulk names)."""

    async def authorise(target: SwiftPath) -> Access:
        return await request.app[GATEKEEPER].authorise(method, target, request.headers, changes_acls=False)

    return authorise


def _changes_acls(headers: Mapping[str, str], kind: str) -> bool:
    if kind == "account":
        return ACCOUNT_ACL_HEADER in {name.lower() for name in headers}
    if kind == "container":
        return any(name.lower() in CONTAINER_ACL_HEADERS for name in headers)
    return False


# --- accounts ---------------------------------------------------------------------


def account_headers(info: Any, access: Access) -> dict[str, str]:
    headers = {
        "X-Account-Container-Count": str(info.container_count if info else 0),
        "X-Account-Object-Count": str(info.object_count if info else 0),
        "X-Account-Bytes-Used": str(info.bytes_used if info else 0),
        "X-Timestamp": swift_timestamp(info.timestamp.seconds if info else time.time()),
    }
    if info is not None:
        headers |= metadata_headers(info.metadata, "account")
        if access.rights.manage and info.metadata.get(ACCOUNT_ACL_ITEM):
            headers["X-Account-Access-Control"] = info.metadata[ACCOUNT_ACL_ITEM]
    return headers


async def head_account(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    info = await request.app[GATEKEEPER].fresh_account_info(path.account)
    return _no_body(204, account_headers(info, access) | {"Content-Type": "text/plain; charset=utf-8"})


async def get_account(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    listing_request = parse_listing_request(query, request.headers.get("Accept"))
    try:  # the listing's answers tell the account's info too: no HEAD first
        listing = await list_public_containers(
            request.app[CLIENT], path.account, _listing_query(listing_request)
        )
    except NotFound:  # an account not created yet lists nothing
        info, rows = None, []
    else:
        info, rows = listing.info, container_rows(listing.entries)
    return _listing_response(
        rows, listing_request, account_headers(info, access), root="account", name=path.account
    )


async def post_account(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    metadata = user_metadata(request.headers, "account")
    quotas.check_account_quota_items(
        metadata, roles=access.requester.roles if access.requester else frozenset()
    )
    if ACCOUNT_ACL_HEADER in {name.lower() for name in request.headers}:
        metadata[ACCOUNT_ACL_ITEM] = clean_account_acl(request.headers[ACCOUNT_ACL_HEADER])
    gatekeeper = request.app[GATEKEEPER]
    await gatekeeper.ensure_account(path.account)
    await request.app[CLIENT].post_account(path.account, metadata)
    gatekeeper.invalidate(path.account)
    return _no_body(204, {})


# --- containers ---------------------------------------------------------------------


def container_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """User metadata and cleaned ACLs of a container PUT or POST."""
    metadata = user_metadata(headers, "container")
    quotas.check_container_quota_items(metadata)
    for name, value in headers.items():
        item = CONTAINER_ACL_HEADERS.get(name.lower())
        if item is not None:
            metadata[swift_headers.sysmeta_item(item)] = clean_acl(name, value)
    return metadata | versioning.container_items(headers)


def container_headers(info: Any, access: Access) -> dict[str, str]:
    headers = {
        "X-Container-Object-Count": str(info.object_count),
        "X-Container-Bytes-Used": str(info.bytes_used),
        "X-Timestamp": swift_timestamp(info.timestamp.seconds),
        "X-Storage-Policy": "Policy-0",
        "Accept-Ranges": "bytes",
    } | metadata_headers(info.metadata, "container")
    headers |= versioning.container_headers(info.metadata)
    if access.rights.manage:
        for header, item in (("X-Container-Read", READ_ACL_ITEM), ("X-Container-Write", WRITE_ACL_ITEM)):
            if info.metadata.get(item):
                headers[header] = info.metadata[item]
    return headers


async def _container_or_404(request: web.Request, path: SwiftPath, *, fresh: bool = False) -> Any:
    """The container's info (`fresh`: read now, for HEADs and listings that show its usage)."""
    assert path.container is not None
    gatekeeper = request.app[GATEKEEPER]
    read = gatekeeper.fresh_container_info if fresh else gatekeeper.container_info
    info = await read(path.account, path.container)
    if info is None:
        raise NotFound(f"no container {path.container!r}")
    return info


async def head_container(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    info = await _container_or_404(request, path, fresh=True)
    return _no_body(204, container_headers(info, access) | {"Content-Type": "text/plain; charset=utf-8"})


async def get_container(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    assert path.container is not None
    listing_request = parse_listing_request(query, request.headers.get("Accept"))
    if "versions" in query:
        info = await _container_or_404(request, path, fresh=True)
        versions = _versioning(request, path, info)
        rows = await versions.list_versions(_listing_query(listing_request), query.get("version_marker", ""))
    else:  # the listing's answers tell the container's info too: no HEAD first
        listing = await request.app[CLIENT].list_objects(
            path.account, path.container, _listing_query(listing_request)
        )
        info, rows = listing.info, object_rows(listing.entries)
    return _listing_response(
        rows, listing_request, container_headers(info, access), root="container", name=path.container
    )


async def put_container(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    assert path.container is not None
    metadata = container_metadata(request.headers)
    gatekeeper = request.app[GATEKEEPER]
    await gatekeeper.ensure_account(path.account)
    await versioning.before_container_write(request.app[CLIENT], gatekeeper, path, metadata)
    created = await request.app[CLIENT].put_container(path.account, path.container, metadata)
    gatekeeper.invalidate(path.account, path.container)
    if created:
        await claim_bucket_name(request.app[BUCKET_REGISTRY], path, region=request.app[BUCKET_REGION])
    return _no_body(201 if created else 202, {})


async def post_container(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    assert path.container is not None
    metadata = container_metadata(request.headers)
    await versioning.before_container_write(request.app[CLIENT], request.app[GATEKEEPER], path, metadata)
    await request.app[CLIENT].post_container(path.account, path.container, metadata)
    request.app[GATEKEEPER].invalidate(path.account, path.container)
    return _no_body(204, {})


async def delete_container(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    assert path.container is not None
    gatekeeper, registry = request.app[GATEKEEPER], request.app[BUCKET_REGISTRY]
    try:
        versions = _versioning(request, path, await _container_or_404(request, path))
        await versions.check_container_delete()
        await request.app[CLIENT].delete_container(path.account, path.container)
    except NotFound:
        await release_bucket_name(registry, path)  # a retry after a failed release completes it
        raise
    finally:
        gatekeeper.invalidate(path.account, path.container)
    await versions.after_container_delete()
    await release_bucket_name(registry, path)
    return _no_body(204, {})


# --- objects ---------------------------------------------------------------------


def object_headers(info: ObjectInfo) -> dict[str, str]:
    headers = {
        "Content-Type": info.content_type,
        "Etag": info.etag,
        "Last-Modified": http_date(info.last_modified),
        "X-Timestamp": swift_timestamp(info.timestamp.seconds),
        "Accept-Ranges": "bytes",
    }
    headers |= metadata_headers(info.metadata, "object")
    headers |= swift_headers.object_kept_headers(info.metadata)
    headers |= dlo.manifest_headers(info.metadata) | symlinks.link_headers(info.metadata)
    if info.delete_at is not None:
        headers["X-Delete-At"] = str(info.delete_at)
    if info.metadata.get(versioning.VERSIONED_ITEM):
        headers["X-Object-Version-Id"] = versioning.version_id(info.timestamp)
    return headers


def object_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """User metadata and kept content headers (OBJECT_KEPT_HEADERS) of an object PUT, POST or copy."""
    return (
        user_metadata(headers, "object")
        | swift_headers.object_kept_items(headers)
        | dlo.manifest_items(headers)
    )


def _conditional(request: web.Request) -> dict[str, str]:
    return {name: request.headers[name] for name in CONDITIONAL_HEADERS if name in request.headers}


async def head_object(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    path = await _version_path(request, path, query)
    assert path.container is not None and path.obj is not None
    client = request.app[CLIENT]
    try:
        info = await client.head_object(path.account, path.container, path.obj, headers=_conditional(request))
    except (NotModified, PreconditionFailed) as refused:
        info = await manifests.info_despite_conditions(client, path, query, refused)
    if manifests.stands_for_others(info, query):
        return await _manifest_read(request, path, query, info, access)
    response = BodyStreamResponse(status=200, headers=object_headers(info))
    response.content_length = info.length
    await response.prepare(request)
    await response.write_eof()
    return response


async def get_object(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    path = await _version_path(request, path, query)
    assert path.container is not None and path.obj is not None
    asked = _conditional(request)
    if "Range" in request.headers:
        asked["Range"] = request.headers["Range"]
    client = request.app[CLIENT]
    try:
        async with client.get_object(path.account, path.container, path.obj, headers=asked) as reader:
            if not manifests.stands_for_others(reader.info, query):
                return await _send_object(request, reader)
            info = reader.info
    except (NotModified, PreconditionFailed, RangeNotSatisfiable) as refused:
        info = await manifests.info_despite_conditions(client, path, query, refused)
    return await _manifest_read(request, path, query, info, access)


async def _send_object(request: web.Request, reader: Any) -> web.StreamResponse:
    headers = object_headers(reader.info)
    node_headers: Mapping[str, str] = reader.headers or {}
    for name in ("Content-Range", "Content-Type", "Content-Length"):
        if name in node_headers:
            headers[name] = node_headers[name]
    response = BodyStreamResponse(status=reader.status, headers=headers)
    if "Content-Length" not in node_headers and reader.status == 200:
        response.content_length = reader.info.length
    request["response"] = response
    await response.prepare(request)
    async for chunk in reader.body:
        await response.write(chunk)
        request["bytes_out"] = request.get("bytes_out", 0) + len(chunk)
    await response.write_eof()
    return response


async def _manifest_read(
    request: web.Request, path: SwiftPath, query: dict[str, str], info: ObjectInfo, access: Access
) -> web.StreamResponse:
    return await manifests.respond(
        request,
        request.app[CLIENT],
        path,
        query,
        info,
        object_headers(info),
        authorise_read=_authoriser(request, "GET"),
        serve=lambda target: (get_object if request.method == "GET" else head_object)(
            request, target, {}, access
        ),
    )


async def put_object(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    assert path.container is not None and path.obj is not None
    copy_from = request.headers.get("X-Copy-From")
    if copy_from is not None:
        source_account = _copy_account(request.headers.get("X-Copy-From-Account"), path)
        source = parse_copy_target(copy_from, default_account=source_account)
        await request.app[GATEKEEPER].authorise("GET", source, request.headers, changes_acls=False)
        return await _copy(request, source, path)
    length = _body_length(request)
    if query.get("multipart-manifest") == "put":
        return await _put_slo(request, path)
    target = symlinks.requested_target(request.headers, path)
    if target is not None:
        return await _put_symlink(request, path, target)
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise BadRequest("If-None-Match only supports *")
    if "version-id" in query:
        raise BadRequest("version-id is not allowed on PUT")
    container = await _container_or_404(request, path)
    metadata = object_metadata(request.headers)
    guard = await quotas.guard_write(request.app[GATEKEEPER], path.account, path.container, length)
    versions = _versioning(request, path, container)
    metadata |= await versions.before_write(
        path.obj, request.headers, authorised_by_token=TEMPURL not in request
    )
    result = await request.app[CLIENT].put_object(
        path.account,
        path.container,
        path.obj,
        guard.wrap(_request_body(request)),
        content_type=swift_headers.object_content_type(request.headers, path.obj),
        metadata=metadata,
        length=length,
        delete_at=swift_headers.delete_at_from_headers(request.headers, now_s=time.time()),
        if_none_match=if_none_match is not None,
        expected_etag=swift_headers.client_etag(request.headers),
        check_body=guard.check,
    )
    request.app[GATEKEEPER].object_written(path.account, path.container)
    return _no_body(201, _written_headers(result, metadata))


async def _put_slo(request: web.Request, path: SwiftPath) -> web.StreamResponse:
    assert path.container is not None and path.obj is not None
    if (request.content_length or 0) > SLO_MANIFEST_REQUEST_BYTES_MAX:
        raise ManifestTooLarge(f"Manifest File > {SLO_MANIFEST_REQUEST_BYTES_MAX} bytes")
    body = bytearray()
    async for chunk in _request_body(request):
        body += chunk
        if len(body) > SLO_MANIFEST_REQUEST_BYTES_MAX:
            raise ManifestTooLarge(f"Manifest File > {SLO_MANIFEST_REQUEST_BYTES_MAX} bytes")
    await _container_or_404(request, path)
    response = await slo.put_slo(
        request,
        request.app[CLIENT],
        path,
        bytes(body),
        authorise_read=_authoriser(request, "HEAD"),
        content_type=swift_headers.object_content_type(request.headers, path.obj),
        metadata=object_metadata(request.headers),
    )
    request.app[GATEKEEPER].object_written(path.account, path.container)
    return response


async def _put_symlink(request: web.Request, path: SwiftPath, target: SwiftPath) -> web.StreamResponse:
    assert path.container is not None and path.obj is not None
    if request.content_length != 0:
        raise BadRequest("Symlink requests require a zero byte body")
    await _container_or_404(request, path)
    if "X-Symlink-Target-Etag" in request.headers:
        await _authoriser(request, "HEAD")(target)
    target_info = await symlinks.static_target_info(request.app[CLIENT], target, request.headers)
    result = await request.app[CLIENT].put_object(
        path.account,
        path.container,
        path.obj,
        _request_body(request),
        content_type=swift_headers.given_content_type(request.headers) or symlinks.CONTENT_TYPE,
        metadata=object_metadata(request.headers) | symlinks.link_items(target, path, target_info),
        length=0,
        delete_at=swift_headers.delete_at_from_headers(request.headers, now_s=time.time()),
    )
    request.app[GATEKEEPER].object_written(path.account, path.container)
    return _no_body(201, {"Etag": result.etag, "Last-Modified": http_date(result.timestamp.seconds)})


async def copy_object(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    destination = request.headers.get("Destination")
    if destination is None:
        raise BadRequest("Destination header required")
    target_account = _copy_account(request.headers.get("Destination-Account"), path)
    target = parse_copy_target(destination, default_account=target_account)
    await request.app[GATEKEEPER].authorise("PUT", target, request.headers, changes_acls=False)
    return await _copy(request, path, target)


async def _copy(request: web.Request, source: SwiftPath, target: SwiftPath) -> web.StreamResponse:
    """Copy `source` to `target` (both authorised), streaming; the request's metadata is laid over the source's."""
    assert source.container is not None and source.obj is not None
    assert target.container is not None and target.obj is not None
    gatekeeper = request.app[GATEKEEPER]
    versions = _versioning(request, target, await _container_or_404(request, target))
    client = request.app[CLIENT]
    async with client.get_object(
        source.account, source.container, source.obj, headers=_conditional(request)
    ) as reader:
        info = reader.info
        fresh = request.headers.get("X-Fresh-Metadata", "").lower() == "true"
        metadata = {} if fresh else dict(info.metadata)
        metadata.pop(versioning.VERSIONED_ITEM, None)  # the target's container decides its versioning
        metadata |= object_metadata(request.headers)
        content_type = swift_headers.given_content_type(request.headers) or info.content_type
        await quotas.guard_write(gatekeeper, target.account, target.container, info.length)
        metadata |= await versions.before_write(target.obj, request.headers, authorised_by_token=True)
        result = await client.put_object(
            target.account,
            target.container,
            target.obj,
            reader.body,
            content_type=content_type,
            metadata=metadata,
            length=info.length,
            delete_at=swift_headers.delete_at_from_headers(request.headers, now_s=time.time()),
        )
    gatekeeper.object_written(target.account, target.container)
    return _no_body(
        201,
        _written_headers(result, metadata)
        | {
            "X-Copied-From": f"{source.container}/{source.obj}",
            "X-Copied-From-Account": source.account,
            "X-Copied-From-Last-Modified": str(info.last_modified),
        },
    )


def _copy_account(header: str | None, path: SwiftPath) -> str:
    if header is None:
        return path.account
    return parse_swift_path(f"/v1/{header.strip()}").account


async def post_object(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    assert path.container is not None and path.obj is not None
    if "version-id" in query:
        raise BadRequest("version-id is not allowed on POST")
    metadata = object_metadata(request.headers)
    content_type = swift_headers.given_content_type(request.headers) or None
    current = await request.app[CLIENT].head_object(path.account, path.container, path.obj)
    metadata |= manifests.kept_on_post(current.metadata)
    await request.app[CLIENT].post_object(
        path.account,
        path.container,
        path.obj,
        metadata,
        content_type=content_type,
        delete_at=swift_headers.delete_at_from_headers(request.headers, now_s=time.time()),
    )
    return _no_body(202, {})


async def delete_object(
    request: web.Request, path: SwiftPath, query: dict[str, str], access: Access
) -> web.StreamResponse:
    assert path.container is not None and path.obj is not None
    if query.get("multipart-manifest") == "delete":
        try:
            return await slo.delete_slo(
                request, request.app[CLIENT], path, authorise_delete=_authoriser(request, "DELETE")
            )
        finally:
            request.app[GATEKEEPER].object_written(path.account, path.container)
    versions = _versioning(request, path, await _container_or_404(request, path))
    try:
        if "version-id" in query:
            await versions.delete_version(path.obj, query["version-id"])
            return _no_body(204, {"X-Object-Version-Id": query["version-id"]})
        answer = await versions.delete(path.obj, request.headers, authorised_by_token=TEMPURL not in request)
        if answer is None:
            await request.app[CLIENT].delete_object(path.account, path.container, path.obj)
    finally:
        request.app[GATEKEEPER].object_written(path.account, path.container)
    return _no_body(204, answer or {})


# --- helpers ---------------------------------------------------------------------


def _versioning(request: web.Request, path: SwiftPath, container: Any) -> versioning.Versioning:
    return versioning.Versioning(request.app[CLIENT], request.app[GATEKEEPER], path, container.metadata)


async def _version_path(request: web.Request, path: SwiftPath, query: dict[str, str]) -> SwiftPath:
    """Where a read with `?version-id=` finds that version (the object itself when none is asked)."""
    if "version-id" not in query:
        return path
    assert path.obj is not None
    versions = _versioning(request, path, await _container_or_404(request, path))
    container, stored = await versions.locate(path.obj, query["version-id"])
    request[VERSION_ID] = query["version-id"]
    return SwiftPath(path.account, container, stored)


def _written_headers(result: Any, metadata: Mapping[str, str]) -> dict[str, str]:
    headers = {"Etag": result.etag, "Last-Modified": http_date(result.timestamp.seconds)}
    if metadata.get(versioning.VERSIONED_ITEM):
        headers["X-Object-Version-Id"] = versioning.version_id(result.timestamp)
    return headers


def _body_length(request: web.Request) -> int | None:
    """The announced body length (None for chunked); LengthRequired or EntityTooLarge as Swift."""
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if request.content_length is None and not chunked:
        raise LengthRequired("Missing Content-Length header.")
    if request.content_length is not None and request.content_length > OBJECT_BODY_BYTES_MAX:
        raise EntityTooLarge("Your request is too large.")
    return None if chunked else request.content_length


async def _request_body(request: web.Request) -> AsyncIterator[bytes]:
    """The request body as aiohttp received it (`dolmen.serving.body_pieces`), each piece
    within client_timeout_s.

    A cancel (the cluster client gave up) leaves the rest unread; aiohttp then
    closes the connection rather than reuse it.
    """
    timeout_s = request.app[CLIENT_TIMEOUT_S]
    pieces = body_pieces(request.content)
    total = 0
    while True:
        try:
            async with asyncio.timeout(timeout_s):
                chunk = await anext(pieces, b"")
        except TimeoutError:
            raise ClientTooSlow("The client sent nothing for too long.") from None
        except ConnectionError:
            raise ClientGone("The client disconnected.") from None
        if not chunk:
            if request.content_length is not None and total < request.content_length:
                raise ClientGone("The client disconnected.")
            return
        total += len(chunk)
        request["bytes_in"] = total
        if total > OBJECT_BODY_BYTES_MAX:
            raise EntityTooLarge("Your request is too large.")
        yield chunk


def _listing_query(listing_request: ListingRequest) -> ListingQuery:
    return ListingQuery(
        prefix=listing_request.prefix,
        delimiter=listing_request.delimiter,
        marker=listing_request.marker,
        end_marker=listing_request.end_marker,
        limit=listing_request.limit,
        reverse=listing_request.reverse,
    )


def _listing_response(
    rows: list[dict[str, object]],
    listing_request: ListingRequest,
    headers: dict[str, str],
    *,
    root: str,
    name: str,
) -> web.Response:
    if not rows and listing_request.content_type == TEXT:
        return _no_body(204, headers | {"Content-Type": "text/plain; charset=utf-8"})
    body = render_listing(rows, listing_request.content_type, root=root, name=name)
    return web.Response(
        status=200,
        body=body,
        headers=headers | {"Content-Type": f"{listing_request.content_type}; charset=utf-8"},
    )


def _no_body(status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(status=status, headers=headers)


HANDLERS: dict[tuple[str, str], Handler] = {
    ("account", "HEAD"): head_account,
    ("account", "GET"): get_account,
    ("account", "POST"): post_account,
    ("container", "HEAD"): head_container,
    ("container", "GET"): get_container,
    ("container", "PUT"): put_container,
    ("container", "POST"): post_container,
    ("container", "DELETE"): delete_container,
    ("object", "HEAD"): head_object,
    ("object", "GET"): get_object,
    ("object", "PUT"): put_object,
    ("object", "POST"): post_object,
    ("object", "DELETE"): delete_object,
    ("object", "COPY"): copy_object,
}
assert all((kind, method) in HANDLERS for kind, methods in METHODS.items() for method in methods)
