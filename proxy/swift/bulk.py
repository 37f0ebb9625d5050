"""Swift's bulk delete (`POST ?bulk-delete`) and the deleting that SLO deletes share.

Bulk delete runs before the request's own authorisation, as Swift's bulk
middleware does: each name is authorised as a DELETE of its own (per
container), so one request cannot delete what its sender could not.
The body is newline-separated, URL-encoded `/container[/object]` names, at
most BULK_DELETES_MAX of them, read in chunks (a name longer than Swift's
bound is refused before the next chunk is read). Deletes run
BULK_DELETES_CONCURRENCY_MAX at a time; after BULK_FAILED_DELETES_MAX
failures the rest are not tried. The answer is always 200; its body (text,
JSON or XML by `Accept`) tells what happened, as Swift's does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from aiohttp import web
from dolmen.proxy.concurrency import map_bounded
from dolmen.proxy.errors import BadRequest, EntityTooLarge, LengthRequired
from dolmen.proxy.swift import bulkformat
from dolmen.proxy.swift.paths import SwiftPath, check_container_name, check_object_name
from dolmen.proxy.swift.responses import error_status

from dolmen.cluster import ClusterClient, NotFound
from dolmen.errors import DolmenError
from dolmen.limits import (
    BULK_DELETES_CONCURRENCY_MAX,
    BULK_DELETES_MAX,
    BULK_FAILED_DELETES_MAX,
    CONTAINER_NAME_BYTES_MAX,
    HTTP_CHUNK_BYTES,
    OBJECT_NAME_BYTES_MAX,
)

NAME_LINE_BYTES_MAX = 3 * (CONTAINER_NAME_BYTES_MAX + OBJECT_NAME_BYTES_MAX + 2)  # every byte %-encoded

Authorise = Callable[[SwiftPath], Awaitable[object]]


@dataclass(slots=True)
class DeleteOutcome:
    """What a bulk delete did: counts, and the (quoted name, status line) of each failure."""

    deleted: int = 0
    not_found: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    server_error: bool = False

    def absorb(self, other: DeleteOutcome) -> None:
        self.deleted += other.deleted
        self.not_found += other.not_found
        self.errors += other.errors
        self.server_error |= other.server_error

    def summary(self) -> dict[str, object]:
        status = (502 if self.server_error else 400) if self.errors else 200
        summary: dict[str, object] = {
            "Response Status": bulkformat.status_line(status),
            "Response Body": "",
            "Number Deleted": self.deleted,
            "Number Not Found": self.not_found,
        }
        if not (self.errors or self.deleted or self.not_found):
            summary["Response Status"] = bulkformat.status_line(400)
            summary["Response Body"] = "Invalid bulk delete."
        return summary


def parse_name(line: str) -> tuple[str, str | None]:
    """(container, object or None) of one bulk-delete line; BadRequest for a name Swift would refuse."""
    # Bytes that are not UTF-8, raw or %-escaped, stay lone surrogates: the name checks refuse
    # them (412), rather than a replacement character naming some other object.
    container, _, obj = unquote(line.strip(), errors="surrogateescape").lstrip("/").partition("/")
    if not container:
        raise BadRequest("Invalid bulk delete name")
    check_container_name(container)
    if obj:
        check_object_name(obj)
    return container, obj or None


async def delete_names(
    client: ClusterClient,
    account: str,
    names: Sequence[tuple[str, str | None]],
    *,
    authorise: Authorise,
) -> DeleteOutcome:
    """Delete objects (and empty containers, last) of `account`, each authorised as a DELETE."""
    outcome = DeleteOutcome()
    allowed: dict[str, str | None] = {}  # container -> None, or the status line that refuses it
    for container, obj in names:
        if container not in allowed:
            try:
                await authorise(SwiftPath(account, container, obj))
                allowed[container] = None
            except DolmenError as error:
                allowed[container] = bulkformat.status_line(error_status(error))

    async def delete(name: tuple[str, str | None]) -> None:
        container, obj = name
        label = quote("/" + container + ("" if obj is None else "/" + obj))
        if len(outcome.errors) >= BULK_FAILED_DELETES_MAX:
            return
        refused = allowed[container]
        if refused is not None:
            outcome.errors.append((label, refused))
            return
        try:
            if obj is None:
                await client.delete_container(account, container)
            else:
                await client.delete_object(account, container, obj)
            outcome.deleted += 1
        except NotFound:
            outcome.not_found += 1
        except DolmenError as error:
            status = error_status(error)
            outcome.server_error |= status >= 500
            outcome.errors.append((label, bulkformat.status_line(status)))

    objects = [name for name in names if name[1] is not None]
    containers = [name for name in names if name[1] is None]
    await map_bounded(delete, objects, concurrency=BULK_DELETES_CONCURRENCY_MAX)
    await map_bounded(delete, containers, concurrency=1)  # after their objects
    return outcome


async def read_lines(request: web.Request) -> list[str]:
    """The names of a bulk-delete body, streamed; LengthRequired, EntityTooLarge, BadRequest as Swift."""
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if request.content_length is None and not chunked:
        raise LengthRequired("Missing Content-Length header.")
    lines: list[str] = []
    async for line in _lines(request.content.iter_chunked(HTTP_CHUNK_BYTES)):
        if line.strip():
            lines.append(line.decode("utf-8", errors="surrogateescape").strip())
        if len(lines) > BULK_DELETES_MAX:
            raise EntityTooLarge(f"Maximum Bulk Deletes: {BULK_DELETES_MAX} per request")
    return lines


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line
        if len(pending) > NAME_LINE_BYTES_MAX:
            raise BadRequest("Invalid File Name")
    if pending:
        yield pending


async def bulk_delete(
    request: web.Request, client: ClusterClient, path: SwiftPath, *, authorise: Authorise
) -> web.Response:
    """`POST ?bulk-delete`: always 200, the outcome in the body (Swift's format by `Accept`)."""
    out_format = bulkformat.best_format(request.headers.get("Accept"))
    incoming = request.headers.get("Content-Type")
    if incoming and not incoming.startswith("text/plain"):
        return web.Response(status=406, text="Not Acceptable")
    try:
        lines = await read_lines(request)
    except (BadRequest, EntityTooLarge, LengthRequired) as error:  # reported in the body, as Swift
        summary = DeleteOutcome().summary()
        summary |= {
            "Response Status": bulkformat.status_line(error_status(error)),
            "Response Body": error.detail,
        }
        body = bulkformat.response_body(out_format, summary, [], "delete")
        return web.Response(status=200, body=body, content_type=out_format, charset="utf-8")
    names: list[tuple[str, str | None]] = []
    invalid: list[tuple[str, str]] = []
    for line in lines:
        try:
            names.append(parse_name(line))
        except DolmenError as error:
            label = quote(
                unquote(line, errors="surrogateescape"), errors="surrogateescape"
            )  # as Swift shows names
            invalid.append((label, bulkformat.status_line(error_status(error))))
    outcome = await delete_names(client, path.account, names, authorise=authorise)
    outcome.errors[:0] = invalid
    body = bulkformat.response_body(out_format, outcome.summary(), outcome.errors, "delete")
    return web.Response(status=200, body=body, content_type=out_format, charset="utf-8")
