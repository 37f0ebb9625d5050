"""Swift symlinks: `X-Symlink-Target` (and `-Account`, `-Etag` for static links), followed on GET and HEAD.

A symlink is an empty object carrying reserved items for its target. A GET or
HEAD follows it (authorised as a read of the target) at most SYMLINK_HOPS_MAX
times in a row, as Swift's `symloop_max`; `?symlink=get` reads the link itself.
A static link (`X-Symlink-Target-Etag`) is checked against its target when
written (409 if the target is missing or differs) and when followed (409).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, unquote

from dolmen.proxy.errors import BadRequest, InvalidCopySource, SymlinkConflict
from dolmen.proxy.largeobjects import SLO_ITEM, is_large_object
from dolmen.proxy.swift.headers import sysmeta_item
from dolmen.proxy.swift.paths import SwiftPath, check_account_name, check_container_name, check_object_name

from dolmen.cluster import ClusterClient, NotFound, ObjectInfo
from dolmen.limits import SYMLINK_HOPS_MAX

TARGET_ITEM = sysmeta_item("symlink-target")
ACCOUNT_ITEM = sysmeta_item("symlink-target-account")
ETAG_ITEM = sysmeta_item("symlink-target-etag")
BYTES_ITEM = sysmeta_item("symlink-target-bytes")
CONTENT_TYPE = "application/symlink"
HOPS = "swift_symlink_hops"  # request key: symlinks followed so far
LOCATION = "swift_symlink_location"  # request key: the target a followed link answered with


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def requested_target(headers: Mapping[str, str], path: SwiftPath) -> SwiftPath | None:
    """The target an object PUT asks to link to, or None; InvalidCopySource (412) or BadRequest as Swift."""
    target = _header(headers, "X-Symlink-Target")
    if target is None:
        if _header(headers, "X-Symlink-Target-Account") is not None:
            raise BadRequest("X-Symlink-Target-Account requires X-Symlink-Target")
        if _header(headers, "X-Symlink-Target-Etag") is not None:
            raise BadRequest("X-Symlink-Target-Etag requires X-Symlink-Target")
        return None
    container, slash, obj = unquote(target.strip()).lstrip("/").partition("/")
    if not slash or not container or not obj:
        raise InvalidCopySource("X-Symlink-Target header must be of the form <container name>/<object name>")
    check_container_name(container)
    check_object_name(obj)
    account = (_header(headers, "X-Symlink-Target-Account") or path.account).strip()
    check_account_name(account)
    target_path = SwiftPath(account, container, obj)
    if target_path == path:
        raise BadRequest("Symlink cannot target itself")
    return target_path


def link_items(target: SwiftPath, path: SwiftPath, target_info: ObjectInfo | None) -> dict[str, str]:
    """The reserved items a symlink stores; `target_info` (the target's HEAD) makes it a static link."""
    assert target.container is not None and target.obj is not None
    items = {TARGET_ITEM: f"{target.container}/{target.obj}"}
    if target.account != path.account:
        items[ACCOUNT_ITEM] = target.account
    if target_info is not None:
        items[ETAG_ITEM] = served_etag(target_info)
        items[BYTES_ITEM] = str(target_info.length)
    return items


def served_etag(info: ObjectInfo) -> str:
    return info.metadata[SLO_ITEM] if is_large_object(info) else info.etag


def check_static_etag(wanted: str, info: ObjectInfo) -> None:
    """SymlinkConflict (409) unless the target's ETag is the one a static link names."""
    found = served_etag(info)
    if wanted.strip().strip('"') != found:
        raise SymlinkConflict(f"Object Etag {found!r} does not match X-Symlink-Target-Etag header {wanted!r}")


async def static_target_info(
    client: ClusterClient, target: SwiftPath, headers: Mapping[str, str]
) -> ObjectInfo | None:
    """For a static link PUT, the target's info checked against `X-Symlink-Target-Etag`; else None."""
    wanted = _header(headers, "X-Symlink-Target-Etag")
    if wanted is None:
        return None
    assert target.container is not None and target.obj is not None
    try:
        info = await client.head_object(target.account, target.container, target.obj)
    except NotFound:
        raise SymlinkConflict(f"X-Symlink-Target does not exist: {target.container}/{target.obj}") from None
    check_static_etag(wanted, info)
    return info


def is_symlink(info: ObjectInfo) -> bool:
    return bool(info.metadata.get(TARGET_ITEM))


def link_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    """The headers a symlink shows (`?symlink=get`, or any HEAD of it)."""
    headers: dict[str, str] = {}
    if metadata.get(TARGET_ITEM):
        headers["X-Symlink-Target"] = quote(metadata[TARGET_ITEM])
        if metadata.get(ACCOUNT_ITEM):
            headers["X-Symlink-Target-Account"] = metadata[ACCOUNT_ITEM]
        if metadata.get(ETAG_ITEM):
            headers["X-Symlink-Target-Etag"] = metadata[ETAG_ITEM]
            headers["X-Symlink-Target-Bytes"] = metadata.get(BYTES_ITEM, "")
    return headers


def target_of(info: ObjectInfo, path: SwiftPath) -> SwiftPath:
    container, _, obj = info.metadata[TARGET_ITEM].partition("/")
    return SwiftPath(info.metadata.get(ACCOUNT_ITEM) or path.account, container, obj)


def count_hop(hops_so_far: int) -> int:
    """The hop count after following one more link; SymlinkConflict beyond SYMLINK_HOPS_MAX."""
    if hops_so_far >= SYMLINK_HOPS_MAX:
        raise SymlinkConflict(f"Too many levels of symbolic links, maximum allowed is {SYMLINK_HOPS_MAX}")
    return hops_so_far + 1
