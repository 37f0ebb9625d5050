"""Reads of objects that stand for others: SLO and DLO manifests (the handlers' one entry point).

A plain GET or HEAD asks the cluster with the client's conditional and Range
headers; when the object turns out to be a manifest, those were judged against
the manifest's own bytes, so the read starts again here without them and they
are judged against the large object's ETag and length instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from dolmen.proxy.largeobjects import is_large_object
from dolmen.proxy.swift import dlo, slo
from dolmen.proxy.swift.bulk import Authorise
from dolmen.proxy.swift.paths import SwiftPath

from dolmen.cluster import ClusterClient, ObjectInfo
from dolmen.errors import DolmenError


def stands_for_others(info: ObjectInfo, query: Mapping[str, str]) -> bool:
    """True when a read of this object serves other objects' bytes (or an SLO's manifest view)."""
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
) -> web.StreamResponse:
    """GET or HEAD of a manifest, as `stands_for_others` said."""
    if is_large_object(info):
        return await slo.slo_response(request, client, path, query, info, headers)
    return await dlo.dlo_response(request, client, path, info, headers, authorise_read=authorise_read)
