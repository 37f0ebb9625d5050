"""Reserved containers: the hidden containers Dolmen keeps in a user's account.

S3 multipart parts, Swift object versions (`X-Versions-Enabled`) and other
internal state live in containers of the owner's account, so that they count in
the account's usage and quotas, but no public API can address them:

- their names start with `RESERVED_CONTAINER_PREFIX` (`.dolmen+`); an S3 bucket
  name cannot start with `.` and the Swift API refuses any container name with
  this prefix (400, as for any invalid name);
- account listings of the Swift and S3 APIs leave them out (account HEAD still
  counts their objects and bytes, as Swift counts its reserved containers).

A reserved name is `.dolmen+<purpose>+<owner container>`; when that exceeds the
container-name limit, the owner's name is replaced by its SHA-256 (hex), so the
mapping stays one-to-one in practice and deterministic.

`list_public_containers` is the one account listing both public APIs use: the
cluster's listing without reserved containers, still filling `limit`. Reserved
names sort together (one shared prefix), so it needs at most
PUBLIC_LISTING_ROUNDS_MAX cluster listings: before the reserved range, past it.
"""

from __future__ import annotations

import dataclasses
import hashlib

from dolmen.cluster import ClusterClient, Listing, ListingQuery
from dolmen.limits import CONTAINER_NAME_BYTES_MAX

RESERVED_CONTAINER_PREFIX = ".dolmen+"
PURPOSES = frozenset({"uploads", "versions"})
PUBLIC_LISTING_ROUNDS_MAX = 3  # names before the reserved range, the range's edge, names after it
# Listing markers that step over every reserved name (markers are exclusive; names sort as UTF-8 bytes).
_AFTER_RESERVED = RESERVED_CONTAINER_PREFIX + "\U0010ffff"
_BEFORE_RESERVED = RESERVED_CONTAINER_PREFIX


def is_reserved(container: str) -> bool:
    return container.startswith(RESERVED_CONTAINER_PREFIX)


def reserved_container(purpose: str, owner_container: str) -> str:
    """The hidden container that holds `purpose` data of `owner_container`."""
    assert purpose in PURPOSES, purpose
    assert owner_container and not is_reserved(owner_container), owner_container
    name = f"{RESERVED_CONTAINER_PREFIX}{purpose}+{owner_container}"
    if len(name.encode()) <= CONTAINER_NAME_BYTES_MAX:
        return name
    digest = hashlib.sha256(owner_container.encode()).hexdigest()
    return f"{RESERVED_CONTAINER_PREFIX}{purpose}+{digest}"


async def list_public_containers(client: ClusterClient, account: str, query: ListingQuery) -> Listing:
    """The account's containers (and subdirs) that a public API may show, up to `query.limit`,
    with the account's info. Raises what `client.list_containers` raises (NotFound for a
    missing account).
    """
    entries: list = []
    marker = query.marker
    for _ in range(PUBLIC_LISTING_ROUNDS_MAX):
        page = await client.list_containers(
            account, dataclasses.replace(query, marker=marker, limit=query.limit - len(entries))
        )
        visible = [entry for entry in page.entries if not is_reserved(entry.name)]
        entries += visible
        if not page.truncated or len(visible) == len(page.entries) or len(entries) >= query.limit:
            return Listing(entries, page.truncated, page.info)
        last = page.entries[-1].name
        marker = last if not is_reserved(last) else _BEFORE_RESERVED if query.reverse else _AFTER_RESERVED
    return Listing(entries, truncated=True, info=page.info)
