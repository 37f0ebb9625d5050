"""What every role's handlers share: the node's context, the disk deadline, common header parsing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dolmen.storage_node.config import StorageNodeConfig
from dolmen.storage_node.containers import Keyspaces
from dolmen.storage_node.deadlines import Deadlines
from dolmen.storage_node.device import DeviceStore
from dolmen.storage_node.errors import BadRequest, UnknownDevice
from dolmen.storage_node.http_server import MalformedBody, Request
from dolmen.storage_node.timestamps import Timestamp
from dolmen.storage_node.updater import Updater

from dolmen.errors import DolmenError
from dolmen.metrics import HttpMetrics

CONTEXT = "dolmen.context"  # the request's key of the Context (server.handle puts it there)


class DiskTimeout(DolmenError):
    """A disk step took longer than disk_timeout_s (503; a write may still land, whole)."""


class ClientGone(DolmenError):
    """The client disconnected before its request was complete (499; nothing stored)."""


class ClientTooSlow(DolmenError):
    """The client sent nothing for client_timeout_s (408; nothing stored)."""


class BodyTooLarge(DolmenError):
    """A request body over its bound, e.g. a register value over 64 KiB (413)."""


@dataclass(frozen=True, slots=True)
class Context:
    config: StorageNodeConfig
    stores: dict[str, DeviceStore]
    signing_keys: dict[int, bytes]
    clock: Callable[[], float]
    deadlines: Deadlines
    keyspaces: dict[str, Keyspaces]
    updater: Updater
    metrics: HttpMetrics


def context(request: Request) -> Context:
    return request[CONTEXT]


def store_for(ctx: Context, device: str) -> DeviceStore:
    store = ctx.stores.get(device)
    if store is None:
        raise UnknownDevice("this node does not serve that device")
    return store


def keyspaces_for(ctx: Context, device: str) -> Keyspaces:
    keyspaces = ctx.keyspaces.get(device)
    if keyspaces is None:
        raise UnknownDevice("this node does not serve that device")
    return keyspaces


async def disk(ctx: Context, step: Awaitable[Any]) -> Any:
    """Await one store call under disk_timeout_s (a cancelled write may still land, whole)."""
    try:
        with ctx.deadlines.within(ctx.config.disk_timeout_s):
            return await step
    except TimeoutError:
        raise DiskTimeout("disk step timed out") from None


def required_timestamp(headers: Mapping[str, str]) -> Timestamp:
    text = headers.get("X-Timestamp")
    if text is None:
        raise BadRequest("X-Timestamp is required")
    return Timestamp.parse(text)


def prefixed_metadata(headers: Mapping[str, str], prefix: str) -> dict[str, str]:
    """Headers `<prefix><name>` as {lower-case name: value} (limits are checked by the engine)."""
    prefix = prefix.lower()
    length = len(prefix)
    found = {}
    for name, value in headers.items():  # every header of every request: lower only a match whole
        if len(name) >= length and name[:length].lower() == prefix:
            found[name[length:].lower()] = value
    return found


def decimal_header(headers: Mapping[str, str], name: str, *, maximum: int, default: int | None = None) -> int:
    """A non-negative decimal header up to `maximum`; BadRequest if missing (without default) or malformed."""
    text = headers.get(name)
    if text is None:
        if default is None:
            raise BadRequest(f"{name} is required")
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 20 or int(text) > maximum:
        raise BadRequest(f"{name} must be a decimal 0..{maximum}")
    return int(text)


async def read_small_body(request: Request, ctx: Context, bytes_max: int) -> bytes:
    """A whole request body known to be small (Content-Length required, at most `bytes_max`)."""
    length = request.content_length
    if length is None:
        raise BadRequest("Content-Length is required")
    if length > bytes_max:
        raise BodyTooLarge(f"body over {bytes_max} bytes")
    try:
        with ctx.deadlines.within(ctx.config.client_timeout_s):
            data = await request.content.readexactly(length)
    except TimeoutError:
        raise ClientTooSlow("body not received within client_timeout_s") from None
    except (asyncio.IncompleteReadError, ConnectionError):
        raise ClientGone("body shorter than Content-Length") from None
    except MalformedBody as error:
        raise BadRequest(f"malformed request body: {error}") from None
    request["bytes_in"] += len(data)
    return data
