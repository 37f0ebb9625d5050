"""Reads of objects that stand for others: SLO and DLO manifests, symlinks (the handlers' one entry point).

A plain GET or HEAD asks the cluster with the client's conditional and Range
headers; when the object turns out to be a manifest, those were judged against
the manifest's own bytes, so the read starts again here without them and they
are judged against the large object's ETag and length instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote

from aiohttp import web
from dolmen.proxy.largeobjects import S3_ETAG_ITEM, S3_PARTS_ITEM, SLO_ITEM, SLO_SIZE_ITEM, is_large_object
from dolmen.proxy.swift import dlo, slo, symlinks
from dolmen.proxy.swift.bulk import Authorise
from dolmen.proxy.swift.paths import SwiftPath

from dolmen.cluster import ClusterClient, ObjectInfo
from dolmen.errors import DolmenError

KEPT_ON_POST = frozenset(
    {SLO_ITEM, SLO_SIZE_ITEM, S3_ETAG_ITEM, S3_PARTS_ITEM, symlinks.TARGET_ITEM, symlinks.ACCOUNT_ITEM}
    | {symlinks.ETAG_ITEM, symlinks.BYTES_ITEM}
)


def kept_on_post(metadata: Mapping[str, str]) -> dict[str, str]:
    """The reserved items that make an object a large object or a symlink: a POST, which replaces
    the metadata, keeps them (as Swift keeps its sysmeta), so the object stays what it is."""
    return {name: value for name, value in metadata.items() if name in KEPT_ON_POST}


def stands_for_others(info: ObjectInfo, query: Mapping[str, str]) -> bool:
    """True when a read of this object serves other objects' bytes (or an SLO's manifest view)."""
    if symlinks.is_symlink(info):
        return query.get("symlink") != "get"
    return is_large_object(info) or (dlo.is_dlo(info) and query.get("multipart-manifest") != "get")


async def info_despite_conditions(
    client: ClusterClient, path: SwiftPath, query: Mapping[str, str], refused: DolmenError
) -> ObjectInfo:
    """The object's info when the node refused a conditional or ranged read; re-raise unless it is a manifest."""
    assert path.container is not None and path.obj is not None
    info = await client.head_object(path.account, path.container, path.obj)
    if not stands_for_others(info, query):
        raise refused
    return info


async def respond(
    request: web.Request,
    client: ClusterClient,
    path: SwiftPath,
    query: Mapping[str, str],
    info: ObjectInfo,
    headers: dict[str, str],
    *,
    authorise_read: Authorise,
    serve: Callable[[SwiftPath], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """GET or HEAD of a manifest or symlink, as `stands_for_others` said; `serve` reads another path."""
    if symlinks.is_symlink(info):
        return await _follow(request, client, path, info, authorise_read=authorise_read, serve=serve)
    if is_large_object(info):
        return await slo.slo_response(request, client, path, query, info, headers)
    return await dlo.dlo_response(request, client, path, info, headers, authorise_read=authorise_read)


async def _follow(
    request: web.Request,
    client: ClusterClient,
    path: SwiftPath,
    info: ObjectInfo,
    *,
    authorise_read: Authorise,
    serve: Callable[[SwiftPath], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """Serve a symlink's target (authorised as a read of it), counting hops; a static link is checked."""
    request[symlinks.HOPS] = symlinks.count_hop(request.get(symlinks.HOPS, 0))
    target = symlinks.target_of(info, path)
    assert target.container is not None and target.obj is not None
    await authorise_read(target)
    wanted = info.metadata.get(symlinks.ETAG_ITEM)
    if wanted:
        symlinks.check_static_etag(
            wanted, await client.head_object(target.account, target.container, target.obj)
        )
    request[symlinks.LOCATION] = f"/v1/{target.account}/{quote(target.container)}/{quote(target.obj)}"
    return await serve(target)
