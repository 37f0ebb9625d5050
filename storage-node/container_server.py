"""Container role handlers (`X-Backend-Role: container`, PROTOCOL.md "Container server").

    PUT|POST|DELETE|HEAD|GET /<device>/<partition>/<account>/<container>   the container, its listing
    UPDATE|LOOKUP /<device>/<partition>/<account>/<container>              object entries, by name
    PUT|DELETE /<device>/<partition>/<account>/<container>/<object>        object entry updates

`record_*` handlers serve containers and accounts alike (account_server.py uses them too):
the two differ only in their header names, their children and what they report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dolmen.storage_node.containers import CONTAINER, SIZE_MAX, Info
from dolmen.storage_node.entries import ObjectEntry
from dolmen.storage_node.errors import BadRequest, MethodNotAllowed
from dolmen.storage_node.handler_context import (
    Context,
    context,
    decimal_header,
    disk,
    keyspaces_for,
    prefixed_metadata,
    read_small_body,
    required_timestamp,
)
from dolmen.storage_node.http_server import Answer, Request, Response
from dolmen.storage_node.listing_formats import CONTENT_TYPES, render
from dolmen.storage_node.listings import parse_listing_query
from dolmen.storage_node.lookups import LOOKUP_VERB, parse_lookup
from dolmen.storage_node.request_paths import NamePath, parse_name_path, split_target
from dolmen.storage_node.signed_bodies import BODY_SHA256_HEADER
from dolmen.storage_node.update_batches import UPDATE_VERB, parse_batch
from dolmen.storage_node.updates import parse_replica

from dolmen.limits import LOOKUP_BYTES_MAX, STORAGE_POLICY_INDEX_MAX, UPDATE_BATCH_BYTES_MAX

Handler = Callable[[Request, str], Awaitable[Answer]]
LISTING_HEADER = "X-Backend-Listing"
# X-Backend-Listing: the internal forms, JSON with each record's timestamp (PROTOCOL.md):
LISTING_FORMS = {"internal": True, "live": False}  # form -> whether it lists tombstones too
META_PREFIXES = {"container": "X-Container-Meta-", "account": "X-Account-Meta-"}


def role_path(path: str, role: str) -> NamePath:
    """The path of a container (with an optional object) or an account (with an optional container)."""
    where = parse_name_path(path)
    if role == CONTAINER and where.container is None:
        raise BadRequest("the container role needs /<device>/<partition>/<account>/<container>[/<object>]")
    if role != CONTAINER and where.obj is not None:
        raise BadRequest("the account role needs /<device>/<partition>/<account>[/<container>]")
    return where


def record_name(where: NamePath, role: str) -> str | None:
    """The container name of a container record; None for an account record."""
    return where.container if role == CONTAINER else None


def is_child(where: NamePath, role: str) -> bool:
    """Whether the path names an entry of the record (an object entry, a container row)."""
    return where.obj is not None if role == CONTAINER else where.container is not None


def info_headers(info: Info, role: str) -> dict[str, str]:
    """HEAD and GET headers of a container or account record."""
    headers = {
        "X-Timestamp": info.created.normal,
        "X-Backend-Put-Timestamp": info.put_timestamp.internal,
        "X-Backend-Delete-Timestamp": info.delete_timestamp.internal,
        "X-Backend-Timestamp": info.newest.internal,
    }
    if role == CONTAINER:
        headers["X-Container-Object-Count"] = str(info.object_count)
        headers["X-Container-Bytes-Used"] = str(info.bytes_used)
        headers["X-Backend-Storage-Policy-Index"] = str(info.policy_index)
    else:
        headers["X-Account-Container-Count"] = str(info.container_count)
        headers["X-Account-Object-Count"] = str(info.object_count)
        headers["X-Account-Bytes-Used"] = str(info.bytes_used)
    prefix = META_PREFIXES[role]
    for name, value in info.public_metadata().items():
        headers[f"{prefix}{name}"] = value
    return headers


async def record_put(request: Request, where: NamePath, role: str) -> Answer:
    ctx = context(request)
    headers = request.headers
    created = await disk(
        ctx,
        keyspaces_for(ctx, where.device).put(
            role,
            where.partition,
            where.account,
            record_name(where, role),
            required_timestamp(headers),
            metadata=prefixed_metadata(headers, META_PREFIXES[role]),
            policy_index=decimal_header(
                headers, "X-Backend-Storage-Policy-Index", maximum=STORAGE_POLICY_INDEX_MAX, default=0
            ),
            account_replica=parse_replica(headers, "X-Backend-Account-") if role == CONTAINER else None,
        ),
    )
    await _report_now(ctx, where, role)
    return Response(status=201 if created else 202)


async def record_post(request: Request, where: NamePath, role: str) -> Answer:
    ctx = context(request)
    info = await disk(
        ctx,
        keyspaces_for(ctx, where.device).post(
            role,
            where.partition,
            where.account,
            record_name(where, role),
            required_timestamp(request.headers),
            metadata=prefixed_metadata(request.headers, META_PREFIXES[role]),
        ),
    )
    return Response(status=204, headers={"X-Backend-Timestamp": info.newest.internal})


async def record_delete(request: Request, where: NamePath, role: str) -> Answer:
    ctx = context(request)
    info = await disk(
        ctx,
        keyspaces_for(ctx, where.device).delete(
            role,
            where.partition,
            where.account,
            record_name(where, role),
            required_timestamp(request.headers),
        ),
    )
    await _report_now(ctx, where, role)
    return Response(status=204, headers={"X-Backend-Timestamp": info.newest.internal})


async def _report_now(ctx: Context, where: NamePath, role: str) -> None:
    """A container created or deleted: its account replica hears of it before the answer goes."""
    if role == CONTAINER and where.container is not None:
        await ctx.updater.report_now(where.device, where.partition, where.account, where.container)


async def record_head_or_get(request: Request, where: NamePath, role: str) -> Answer:
    """HEAD: the record's headers; GET: its listing (PROTOCOL.md: formats, query, internal form)."""
    ctx = context(request)
    keyspaces = keyspaces_for(ctx, where.device)
    name = record_name(where, role)
    if request.method == "HEAD":
        info = await disk(ctx, keyspaces.head(role, where.partition, where.account, name))
        return Response(status=204, headers=info_headers(info, role))
    query = parse_listing_query(split_target(request.raw_path)[1])
    listing_form = request.headers.get(LISTING_HEADER)
    if listing_form is not None and listing_form not in LISTING_FORMS:
        raise BadRequest(f"{LISTING_HEADER} must be one of {', '.join(LISTING_FORMS)}")
    internal = listing_form is not None
    if internal and query.delimiter:
        raise BadRequest("an internal listing takes no delimiter: roll-ups come after the merge")
    tombstones = LISTING_FORMS[listing_form] if listing_form is not None else False
    info, entries = await disk(
        ctx, keyspaces.listing(role, where.partition, where.account, name, query, tombstones=tombstones)
    )
    listing_format = "json" if internal else query.format
    headers = info_headers(info, role)
    if listing_format == "plain" and not entries:
        return Response(status=204, headers=headers)
    body = render(entries, listing_format, internal=internal, role=role, name=name or where.account)
    headers["Content-Type"] = CONTENT_TYPES[listing_format]
    return Response(status=200, headers=headers, body=body)


async def record_lookup(request: Request, where: NamePath, role: str) -> Answer:
    """LOOKUP: the stored children of the names in the body, tombstones included, in the
    internal form (PROTOCOL.md): what the cluster client asks where two replicas' listings differ."""
    if is_child(where, role):
        raise MethodNotAllowed(f"LOOKUP applies to the {role}, not to one of its children")
    ctx = context(request)
    body = await read_small_body(request, ctx, LOOKUP_BYTES_MAX)
    names = parse_lookup(body, request.headers.get(BODY_SHA256_HEADER))
    name = record_name(where, role)
    keyspaces = keyspaces_for(ctx, where.device)
    info, rows = await disk(ctx, keyspaces.children(role, where.partition, where.account, name, names))
    body = render(rows, "json", internal=True, role=role, name=name or where.account)
    headers = info_headers(info, role)
    headers["Content-Type"] = CONTENT_TYPES["json"]
    return Response(status=200, headers=headers, body=body)


# --- the container role ----------------------------------------------------------------


async def container_put(request: Request, path: str) -> Answer:
    where = role_path(path, CONTAINER)
    if not is_child(where, CONTAINER):
        return await record_put(request, where, CONTAINER)
    headers = request.headers
    entry = ObjectEntry(
        name=where.obj or "",
        timestamp=required_timestamp(headers),
        deleted=False,
        size=decimal_header(headers, "X-Backend-Object-Size", maximum=SIZE_MAX),
        etag=headers.get("X-Backend-Object-Etag", ""),
        content_type=headers.get("X-Backend-Object-Content-Type", ""),
    )
    return await _entry_update(request, where, entry)


async def container_delete(request: Request, path: str) -> Answer:
    where = role_path(path, CONTAINER)
    if not is_child(where, CONTAINER):
        return await record_delete(request, where, CONTAINER)
    entry = ObjectEntry(name=where.obj or "", timestamp=required_timestamp(request.headers), deleted=True)
    return await _entry_update(request, where, entry)


async def _entry_update(request: Request, where: NamePath, entry: ObjectEntry) -> Answer:
    ctx = context(request)
    assert where.container is not None
    applied = await disk(
        ctx,
        keyspaces_for(ctx, where.device).update_object(
            where.partition, where.account, where.container, entry
        ),
    )
    return Response(status=201 if applied else 202)


async def container_update(request: Request, path: str) -> Answer:
    """UPDATE: object entry updates of the container, several in one commit (update_batches.py)."""
    where = role_path(path, CONTAINER)
    if is_child(where, CONTAINER):
        raise MethodNotAllowed("UPDATE applies to the container, not to an object entry")
    assert where.container is not None
    ctx = context(request)
    body = await read_small_body(request, ctx, UPDATE_BATCH_BYTES_MAX)
    entries = parse_batch(body, request.headers.get(BODY_SHA256_HEADER))
    await disk(
        ctx,
        keyspaces_for(ctx, where.device).update_objects(
            where.partition, where.account, where.container, entries
        ),
    )
    return Response(status=204)


async def container_post(request: Request, path: str) -> Answer:
    where = role_path(path, CONTAINER)
    if is_child(where, CONTAINER):
        raise MethodNotAllowed("POST applies to the container, not to an object entry")
    return await record_post(request, where, CONTAINER)


async def container_head_or_get(request: Request, path: str) -> Answer:
    where = role_path(path, CONTAINER)
    if is_child(where, CONTAINER):
        raise MethodNotAllowed("object entries are read through the container's listing")
    return await record_head_or_get(request, where, CONTAINER)


async def container_lookup(request: Request, path: str) -> Answer:
    return await record_lookup(request, role_path(path, CONTAINER), CONTAINER)


HANDLERS: dict[str, Handler] = {
    "PUT": container_put,
    "POST": container_post,
    "DELETE": container_delete,
    "HEAD": container_head_or_get,
    "GET": container_head_or_get,
    UPDATE_VERB: container_update,
    LOOKUP_VERB: container_lookup,
}
