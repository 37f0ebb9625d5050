"""Reserved containers: the hidden containers Dolmen keeps in a user's account, pure.

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
"""

from __future__ import annotations

import hashlib

from dolmen.limits import CONTAINER_NAME_BYTES_MAX

RESERVED_CONTAINER_PREFIX = ".dolmen+"
PURPOSES = frozenset({"uploads", "versions"})


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
