"""Account role handlers (`X-Backend-Role: account`, PROTOCOL.md "Account server").

PUT|POST|DELETE|HEAD|GET /<device>/<partition>/<account>     the account, its container listing
LOOKUP /<device>/<partition>/<account>                       container rows, by name
PUT /<device>/<partition>/<account>/<container>              a container row (a stats report)
"""

from __future__ import annotations

from dolmen.storage_node.container_server import (
    Handler,
    is_child,
    record_delete,
    record_head_or_get,
    record_lookup,
    record_post,
    record_put,
    role_path,
)
from dolmen.storage_node.containers import ACCOUNT, SIZE_MAX, ContainerRow
from dolmen.storage_node.errors import BadRequest, MethodNotAllowed
from dolmen.storage_node.handler_context import context, decimal_header, disk, keyspaces_for
from dolmen.storage_node.http_server import Answer, Request, Response
from dolmen.storage_node.lookups import LOOKUP_VERB
from dolmen.storage_node.timestamps import Timestamp


def _timestamp_header(request: Request, name: str) -> Timestamp:
    text = request.headers.get(name)
    if text is None:
        raise BadRequest(f"{name} is required")
    return Timestamp.parse(text)


async def account_put(request: Request, path: str) -> Answer:
    where = role_path(path, ACCOUNT)
    if not is_child(where, ACCOUNT):
        return await record_put(request, where, ACCOUNT)
    assert where.container is not None
    headers = request.headers
    row = ContainerRow(
        name=where.container,
        put_timestamp=_timestamp_header(request, "X-Backend-Put-Timestamp"),
        delete_timestamp=_timestamp_header(request, "X-Backend-Delete-Timestamp"),
        object_count=decimal_header(headers, "X-Backend-Container-Object-Count", maximum=SIZE_MAX),
        bytes_used=decimal_header(headers, "X-Backend-Container-Bytes-Used", maximum=SIZE_MAX),
    )
    ctx = context(request)
    await disk(
        ctx, keyspaces_for(ctx, where.device).update_container_row(where.partition, where.account, row)
    )
    return Response(status=201)


def _account_only(path: str) -> None:
    if is_child(role_path(path, ACCOUNT), ACCOUNT):
        raise MethodNotAllowed("container rows change only by PUT (a delete timestamp marks them deleted)")


async def account_post(request: Request, path: str) -> Answer:
    _account_only(path)
    return await record_post(request, role_path(path, ACCOUNT), ACCOUNT)


async def account_delete(request: Request, path: str) -> Answer:
    _account_only(path)
    return await record_delete(request, role_path(path, ACCOUNT), ACCOUNT)


async def account_head_or_get(request: Request, path: str) -> Answer:
    _account_only(path)
    return await record_head_or_get(request, role_path(path, ACCOUNT), ACCOUNT)


async def account_lookup(request: Request, path: str) -> Answer:
    return await record_lookup(request, role_path(path, ACCOUNT), ACCOUNT)


HANDLERS: dict[str, Handler] = {
    "PUT": account_put,
    "POST": account_post,
    "DELETE": account_delete,
    "HEAD": account_head_or_get,
    "GET": account_head_or_get,
    LOOKUP_VERB: account_lookup,
}
