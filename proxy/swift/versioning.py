"""Object versioning, both of Swift's modes.

**Older mode** (Swift's versioned_writes): a container's `X-Versions-Location`
("stack" mode) or `X-History-Location` ("history" mode) names another container
of the account. Before an object is overwritten, its current copy is copied
there as `<3 hex digits: UTF-8 length of the name><name>/<timestamp>` (Swift's
naming: the archived copy's own timestamp, `1700000000.12345`, so a name's
versions sort oldest first). On DELETE, stack mode restores the newest archived
version (and removes it from the archive); history mode archives the current copy,
writes a zero-byte delete marker (content type DELETE_MARKER_CONTENT_TYPE) and
deletes the object. The requester must be allowed to write the versions container,
which must exist: otherwise the write is refused with 412, as Swift does.

**Newer mode** (Swift's object_versioning): `X-Versions-Enabled: true` keeps
every version in the hidden container `reserved_container("versions", c)` of the
same account (counted in the account's usage and quota, never addressable by
the public APIs). Every object has a version id, its timestamp
(`X-Object-Version-Id`); the current version lives in the container, older ones
in the hidden container as `<name>\\x01<inverted timestamp>` (newest first). A
DELETE archives the current version and writes a delete marker; `?version-id=`
reads, heads or deletes one version (deleting the current one restores nothing,
as Swift); `?versions` lists every version with `version_id` and `is_latest`.
With versioning disabled again (`X-Versions-Enabled: false`), new writes are not
archived, but a current version written while it was enabled still is, so no
version id ever disappears. Deviation: objects written before versioning was
enabled have a timestamp version id too, where Swift says `null`.

The two modes exclude each other (400), as in Swift. A container with versioning
enabled, or whose hidden container still holds versions, cannot be deleted (409).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from dolmen.proxy.errors import AccessDenied, BadRequest, NotAuthenticated, VersionsLocationUnusable
from dolmen.proxy.reserved import reserved_container
from dolmen.proxy.swift.access import Gatekeeper
from dolmen.proxy.swift.headers import sysmeta_item
from dolmen.proxy.swift.listings import TRUE_VALUES
from dolmen.proxy.swift.paths import SwiftPath, check_container_name, decode_component
from dolmen.storage_node.timestamps import iso_8601

from dolmen.cluster import (
    ClusterClient,
    ContainerNotEmpty,
    ListingQuery,
    NotFound,
    ObjectEntry,
    ObjectInfo,
    Timestamp,
)
from dolmen.limits import OBJECT_NAME_BYTES_MAX

DELETE_MARKER_CONTENT_TYPE = "application/x-deleted;swift_versions_deleted=1"
LOCATION_ITEM = sysmeta_item("versions-location")
MODE_ITEM = sysmeta_item("versions-mode")
ENABLED_ITEM = sysmeta_item("versions-enabled")
VERSIONED_ITEM = sysmeta_item("versioned")  # on objects written while versioning was enabled
LEGACY_HEADERS = {"x-versions-location": "stack", "x-history-location": "history"}
ARCHIVE_SEPARATOR = "\x01"  # sorts before any other character a name may hold after its prefix
TICKS_PER_S = 100_000
TICKS_MAX = 10**15 - 1
STACK_RESTORE_CANDIDATES_MAX = 100  # archived entries read to find the version a stack DELETE restores
ARCHIVE_NAME_EXTRA_BYTES = 4 + 16  # length prefix or separator, plus the timestamp


# --- pure ---------------------------------------------------------------------------


def container_items(headers: Mapping[str, str]) -> dict[str, str]:
    """The versioning items a container PUT or POST sets; BadRequest as Swift for conflicting or bad headers."""
    lowered = {name.lower(): value for name, value in headers.items()}
    items: dict[str, str] = {}
    chosen = [name for name in LEGACY_HEADERS if name in lowered]
    if len(chosen) > 1:
        raise BadRequest("Only one of X-Versions-Location or X-History-Location may be specified")
    for name in LEGACY_HEADERS:
        if f"x-remove-{name.removeprefix('x-')}" in lowered:
            items[LOCATION_ITEM] = items[MODE_ITEM] = ""
    if chosen:
        location = decode_component(lowered[chosen[0]].strip())
        if location:
            if "/" in location:
                raise BadRequest("Container name cannot contain '/'")
            check_container_name(location)
        items[LOCATION_ITEM] = location
        items[MODE_ITEM] = LEGACY_HEADERS[chosen[0]] if location else ""
    if "x-versions-enabled" in lowered:
        if items.get(LOCATION_ITEM):
            raise BadRequest("Cannot enable object versioning on a container that uses X-Versions-Location")
        items[ENABLED_ITEM] = (
            "true" if lowered["x-versions-enabled"].strip().lower() in TRUE_VALUES else "false"
        )
    return items


def container_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    """X-Versions-Location / X-History-Location / X-Versions-Enabled of a container HEAD or GET."""
    headers: dict[str, str] = {}
    if metadata.get(LOCATION_ITEM):
        name = "X-History-Location" if metadata.get(MODE_ITEM) == "history" else "X-Versions-Location"
        headers[name] = metadata[LOCATION_ITEM]
    if metadata.get(ENABLED_ITEM):
        headers["X-Versions-Enabled"] = "True" if metadata[ENABLED_ITEM] == "true" else "False"
    return headers


def version_id(timestamp: Timestamp) -> str:
    """An object's version id: its timestamp, `1700000000.12345`."""
    return f"{timestamp.ticks // TICKS_PER_S:010d}.{timestamp.ticks % TICKS_PER_S:05d}"


def parse_version_id(text: str) -> Timestamp:
    """The timestamp a `version-id` names; BadRequest when it names none."""
    seconds, dot, fraction = text.partition(".")
    if not (dot and len(seconds) == 10 and len(fraction) == 5 and (seconds + fraction).isdigit()):
        raise BadRequest("Invalid version-id")
    return Timestamp(int(seconds + fraction))


def legacy_prefix(obj: str) -> str:
    return f"{len(obj.encode()):03x}{obj}/"


def legacy_name(obj: str, timestamp: Timestamp) -> str:
    return legacy_prefix(obj) + version_id(timestamp)


def archive_name(obj: str, timestamp: Timestamp) -> str:
    """The hidden container's name of a version: newer versions of a name sort first."""
    inverted = TICKS_MAX - timestamp.ticks
    return f"{obj}{ARCHIVE_SEPARATOR}{inverted // TICKS_PER_S:010d}.{inverted % TICKS_PER_S:05d}"


def split_archive_name(stored: str) -> tuple[str, Timestamp]:
    obj, _, inverted = stored.rpartition(ARCHIVE_SEPARATOR)
    return obj, Timestamp(TICKS_MAX - parse_version_id(inverted).ticks)


def check_archivable(obj: str) -> None:
    """BadRequest when a versioned name leaves no room for its archive suffix."""
    if len(obj.encode()) + ARCHIVE_NAME_EXTRA_BYTES > OBJECT_NAME_BYTES_MAX:
        raise BadRequest(
            f"Object name length exceeds {OBJECT_NAME_BYTES_MAX - ARCHIVE_NAME_EXTRA_BYTES} in a versioned container"
        )


@dataclass(frozen=True, slots=True)
class VersionRow:
    name: str
    timestamp: Timestamp
    bytes: int
    etag: str
    content_type: str


def versions_rows(
    current: Sequence[VersionRow],
    archived: Sequence[VersionRow],
    *,
    limit: int,
    current_complete: bool = True,
    archived_complete: bool = True,
    continued: str | None = None,
) -> list[dict[str, object]]:
    """The `?versions` listing: every version of every name, names in order, newest version first.

    A page that stopped short (`*_complete` false) only covers rows up to its last
    one, so nothing past that is listed yet: the client's next page (marker,
    version_marker) starts there. `continued` names the object whose newer versions
    an earlier page listed (none of its rows here is the latest).
    """

    def key(row: VersionRow) -> tuple[bytes, int]:
        return row.name.encode(), -row.timestamp.ticks

    merged = sorted([*current, *archived], key=key)
    bounds = [
        key(page[-1])
        for page, complete in ((current, current_complete), (archived, archived_complete))
        if page and not complete
    ]
    if bounds:
        merged = [row for row in merged if key(row) <= min(bounds)]
    rows: list[dict[str, object]] = []
    previous = continued
    for row in merged[:limit]:
        rows.append(
            {
                "name": row.name,
                "bytes": row.bytes,
                "hash": row.etag,
                "content_type": row.content_type,
                "last_modified": iso_8601(row.timestamp.ticks),
                "version_id": version_id(row.timestamp),
                "is_latest": row.name != previous,
            }
        )
        previous = row.name
    return rows


# --- I/O ------------------------------------------------------------------------------


async def before_container_write(
    client: ClusterClient, gatekeeper: Gatekeeper, path: SwiftPath, items: Mapping[str, str]
) -> None:
    """Before a container PUT or POST: refuse mixing the modes; create the hidden container when enabling."""
    assert path.container is not None
    if not (items.get(ENABLED_ITEM) or items.get(LOCATION_ITEM)):
        return
    info = await gatekeeper.container_info(path.account, path.container)
    current = info.metadata if info is not None else {}
    if items.get(ENABLED_ITEM) == "true":
        if current.get(LOCATION_ITEM) and items.get(LOCATION_ITEM, current[LOCATION_ITEM]):
            raise BadRequest("Cannot enable object versioning on a container that uses X-Versions-Location")
        await client.put_container(path.account, reserved_container("versions", path.container))
    if items.get(LOCATION_ITEM) and current.get(ENABLED_ITEM):
        raise BadRequest("Cannot set X-Versions-Location on a container that has used object versioning")


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


class Versioning:
    """The versioning steps of one request, for both modes."""

    def __init__(
        self, client: ClusterClient, gatekeeper: Gatekeeper, path: SwiftPath, metadata: Mapping[str, str]
    ) -> None:
        assert path.container is not None
        self.client = client
        self.gatekeeper = gatekeeper
        self.account = path.account
        self.container: str = path.container
        self.location = metadata.get(LOCATION_ITEM, "")
        self.mode = metadata.get(MODE_ITEM, "stack")
        self.enabled = metadata.get(ENABLED_ITEM) == "true"
        self.ever_enabled = bool(metadata.get(ENABLED_ITEM))
        self.hidden = reserved_container("versions", self.container)

    # containers

    async def check_container_delete(self) -> None:
        """ContainerNotEmpty (409) while versioning is on or versions remain."""
        if not self.ever_enabled:
            return
        if self.enabled:
            raise ContainerNotEmpty("disable object versioning before deleting the container")
        try:
            listing = await self.client.list_objects(self.account, self.hidden, ListingQuery(limit=1))
        except NotFound:
            return
        if listing.entries:
            raise ContainerNotEmpty("the container still has object versions")

    async def after_container_delete(self) -> None:
        if self.ever_enabled:
            with contextlib.suppress(NotFound):
                await self.client.delete_container(self.account, self.hidden)

    # writes

    async def before_write(
        self, obj: str, headers: Mapping[str, str], *, authorised_by_token: bool
    ) -> dict[str, str]:
        """Archive the current copy that a write replaces; the metadata items the new copy carries."""
        if self.location:
            current = await self._current(obj)
            if current is not None:
                await self._authorise_location(obj, headers, authorised_by_token)
                await self._require_location()
                await self._copy(self.container, obj, self.location, legacy_name(obj, current.timestamp))
            return {}
        if not self.ever_enabled:
            return {}
        if self.enabled:
            check_archivable(obj)
        current = await self._current(obj)
        if current is not None and (self.enabled or current.metadata.get(VERSIONED_ITEM)):
            await self._copy(self.container, obj, self.hidden, archive_name(obj, current.timestamp))
        return {VERSIONED_ITEM: "1"} if self.enabled else {}

    async def delete(
        self, obj: str, headers: Mapping[str, str], *, authorised_by_token: bool
    ) -> dict[str, str] | None:
        """A versioned DELETE without version-id: its answer headers, or None for a plain delete."""
        if self.location:
            await self._authorise_location(obj, headers, authorised_by_token)
            if self.mode == "stack":
                return await self._stack_pop(obj)
            current = await self._current(obj)
            if current is not None:
                await self._require_location()
                await self._copy(self.container, obj, self.location, legacy_name(obj, current.timestamp))
                marker_at = Timestamp(max(current.timestamp.ticks + 1, _now_ticks()))
                await self._marker(self.location, legacy_name(obj, marker_at))
            return None
        if not self.ever_enabled:
            return None
        current = await self._current(obj)
        if current is None or not (self.enabled or current.metadata.get(VERSIONED_ITEM)):
            return None
        await self._copy(self.container, obj, self.hidden, archive_name(obj, current.timestamp))
        if not self.enabled:
            return None
        marker_at = Timestamp(max(current.timestamp.ticks + 1, _now_ticks()))
        await self._marker(self.hidden, archive_name(obj, marker_at))
        await self.client.delete_object(self.account, self.container, obj)
        return {"X-Object-Version-Id": version_id(marker_at)}

    async def _stack_pop(self, obj: str) -> dict[str, str] | None:
        """Stack mode: put the newest archived version back in place of the object (None: nothing to restore)."""
        try:
            listing = await self.client.list_objects(
                self.account,
                self.location,
                ListingQuery(prefix=legacy_prefix(obj), reverse=True, limit=STACK_RESTORE_CANDIDATES_MAX),
            )
        except NotFound:
            return None
        versions = [entry for entry in listing.entries if isinstance(entry, ObjectEntry)]
        if not versions:
            return None
        newest = versions[0]
        if newest.content_type == DELETE_MARKER_CONTENT_TYPE:
            await self.client.delete_object(self.account, self.location, newest.name)
            return None
        await self._copy(self.location, newest.name, self.container, obj)
        await self.client.delete_object(self.account, self.location, newest.name)
        return {}

    async def _authorise_location(
        self, obj: str, headers: Mapping[str, str], authorised_by_token: bool
    ) -> None:
        """The requester must be allowed to write the versions container (a TempURL acts as the owner)."""
        if authorised_by_token:
            target = SwiftPath(self.account, self.location, legacy_prefix(obj) + "x")
            try:
                await self.gatekeeper.authorise("PUT", target, headers, changes_acls=False)
            except (NotAuthenticated, AccessDenied):
                raise VersionsLocationUnusable("You may not write the versions container") from None

    async def _require_location(self) -> None:
        if await self.gatekeeper.container_info(self.account, self.location) is None:
            raise VersionsLocationUnusable("The versions container does not exist")

    # one version

    async def locate(self, obj: str, version: str) -> tuple[str, str]:
        """(container, stored name) of `version` of `obj`; NotFound if it is gone or a delete marker."""
        if not self.ever_enabled:
            raise BadRequest("version-id is only valid in a container that has used object versioning")
        wanted = parse_version_id(version)
        current = await self._current(obj)
        if current is not None and current.timestamp.ticks == wanted.ticks:
            return self.container, obj
        stored = archive_name(obj, wanted)
        info = await self.client.head_object(self.account, self.hidden, stored)
        if info.content_type == DELETE_MARKER_CONTENT_TYPE:
            raise NotFound("a delete marker")
        return self.hidden, stored

    async def delete_version(self, obj: str, version: str) -> None:
        if not self.ever_enabled:
            raise BadRequest("version-id is only valid in a container that has used object versioning")
        wanted = parse_version_id(version)
        current = await self._current(obj)
        if current is not None and current.timestamp.ticks == wanted.ticks:
            await self.client.delete_object(self.account, self.container, obj)
        else:
            await self.client.delete_object(self.account, self.hidden, archive_name(obj, wanted))

    async def list_versions(self, query: ListingQuery, version_marker: str) -> list[dict[str, object]]:
        """One page of `?versions` (prefix, marker and version_marker, end_marker, limit)."""
        if not self.ever_enabled:
            raise BadRequest(
                "versions listings are only valid in a container that has used object versioning"
            )
        current_page = await self.client.list_objects(
            self.account,
            self.container,
            ListingQuery(
                prefix=query.prefix, marker=query.marker, end_marker=query.end_marker, limit=query.limit
            ),
        )
        if query.marker and version_marker:
            archive_marker = archive_name(query.marker, parse_version_id(version_marker))
        elif query.marker:
            archive_marker = query.marker + ARCHIVE_SEPARATOR + "\U0010ffff"
        else:
            archive_marker = ""
        try:
            archived_page = await self.client.list_objects(
                self.account,
                self.hidden,
                ListingQuery(prefix=query.prefix, marker=archive_marker, limit=query.limit),
            )
            archived_entries, archived_truncated = archived_page.entries, archived_page.truncated
        except NotFound:
            archived_entries, archived_truncated = [], False
        current = [
            VersionRow(entry.name, entry.last_modified, entry.bytes, entry.etag, entry.content_type)
            for entry in current_page.entries
            if isinstance(entry, ObjectEntry)
        ]
        archived = []
        for entry in archived_entries:
            if isinstance(entry, ObjectEntry) and ARCHIVE_SEPARATOR in entry.name:
                name, timestamp = split_archive_name(entry.name)
                if not query.end_marker or name.encode() < query.end_marker.encode():
                    archived.append(VersionRow(name, timestamp, entry.bytes, entry.etag, entry.content_type))
        return versions_rows(
            current,
            archived,
            limit=query.limit,
            current_complete=not current_page.truncated,
            archived_complete=not archived_truncated,
            continued=query.marker if query.marker and version_marker else None,
        )

    # helpers

    async def _current(self, obj: str) -> ObjectInfo | None:
        try:
            return await self.client.head_object(self.account, self.container, obj)
        except NotFound:
            return None

    async def _copy(self, source_container: str, source: str, target_container: str, target: str) -> None:
        """Copy one stored object, streaming, with its content type and metadata."""
        async with self.client.get_object(self.account, source_container, source) as reader:
            info = reader.info
            await self.client.put_object(
                self.account,
                target_container,
                target,
                reader.body,
                content_type=info.content_type,
                metadata=dict(info.metadata),
                length=info.length,
            )
        self.gatekeeper.object_written(self.account, target_container)

    async def _marker(self, container: str, name: str) -> None:
        await self.client.put_object(
            self.account, container, name, _nothing(), content_type=DELETE_MARKER_CONTENT_TYPE, length=0
        )
        self.gatekeeper.object_written(self.account, container)


def _now_ticks() -> int:
    return int(time.time() * TICKS_PER_S)
