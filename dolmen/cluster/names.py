"""Names: the rules the storage nodes enforce, checked before any request, and their wire form (pure).

Accounts and containers are 1..256 bytes of UTF-8 without "/" or NUL; objects 1..1,024
bytes without NUL ("/" allowed). A system account (name starting with ".") holds the
platform's own records and is refused unless the caller says `internal=True`; the public
APIs never do. Wire form: every name percent-encoded whole (so "/", "%", "." and ".." travel
as name bytes, never as path structure).
"""

from __future__ import annotations

import functools
from urllib.parse import quote

from dolmen.cluster.errors import BadName, SystemAccountRefused
from dolmen.limits import ACCOUNT_NAME_BYTES_MAX, CONTAINER_NAME_BYTES_MAX, OBJECT_NAME_BYTES_MAX

SYSTEM_ACCOUNT_PREFIX = "."


def _check(name: str, what: str, bytes_max: int, *, slash_allowed: bool) -> None:
    if not isinstance(name, str) or not name:
        raise BadName(f"{what} name must be a non-empty string")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadName(f"{what} name is not valid Unicode") from None
    if size > bytes_max:
        raise BadName(f"{what} name is {size} bytes; at most {bytes_max}")
    if "\0" in name:
        raise BadName(f"{what} name contains NUL")
    if not slash_allowed and "/" in name:
        raise BadName(f"{what} name cannot contain '/'")


def check_names(
    account: str, container: str | None = None, obj: str | None = None, *, internal: bool = False
) -> None:
    """Raise BadName or SystemAccountRefused unless these names may be used by this caller."""
    _check(account, "account", ACCOUNT_NAME_BYTES_MAX, slash_allowed=False)
    if account.startswith(SYSTEM_ACCOUNT_PREFIX) and not internal:
        raise SystemAccountRefused(f"account {account!r} is a system account")
    if container is not None:
        _check(container, "container", CONTAINER_NAME_BYTES_MAX, slash_allowed=False)
    if obj is not None:
        assert container is not None
        _check(obj, "object", OBJECT_NAME_BYTES_MAX, slash_allowed=True)


def encode_part(name: str | bytes) -> str:
    """One path part, percent-encoded so the node reads back exactly these bytes."""
    encoded = quote(name, safe="")
    if encoded in (".", ".."):
        return encoded.replace(".", "%2E")  # HTTP libraries drop dot segments
    return encoded


def node_path(device: str, partition: int, *names: str | bytes) -> str:
    """`/<device>/<partition>/<name>...` with every name percent-encoded."""
    return f"/{device}/{partition}{_names_path(names)}"


@functools.lru_cache(maxsize=1024)  # one request goes to several replicas: encode its names once
def _names_path(names: tuple[str | bytes, ...]) -> str:
    return "".join("/" + encode_part(name) for name in names)
