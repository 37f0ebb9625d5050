"""Swift request and response headers: metadata, expiry, content type, pure.

User metadata travels as `X-<Kind>-Meta-<name>` (values not in UTF-8 are read as Latin-1:
headertext.py) and is checked against Swift's
limits (METADATA_* in dolmen/limits.py): an empty name, a name over 128 bytes,
a value over 256 bytes, more than 90 items or more than 4,096 bytes in all is
InvalidMetadata (400). `X-Remove-<Kind>-Meta-<name>` asks to remove an item
(an empty value, which container and account merges read as removal).

Some headers that Swift keeps beside the user metadata (ACLs, and the content
headers of Swift's object-server `allowed_headers`: `Content-Disposition`,
`Content-Encoding`, `Cache-Control`, `Content-Language`, `Expires`,
`X-Robots-Tag`) are stored as metadata items under
the reserved prefix SYSMETA_PREFIX; users cannot set items there (400) and
never see them as `X-*-Meta-*`.
"""

from __future__ import annotations

import email.utils
import math
import mimetypes
from collections.abc import Mapping

from dolmen.proxy.errors import InvalidDeleteAt, InvalidMetadata
from dolmen.proxy.headertext import header_text

from dolmen.limits import (
    METADATA_COUNT_MAX,
    METADATA_NAME_BYTES_MAX,
    METADATA_TOTAL_BYTES_MAX,
    METADATA_VALUE_BYTES_MAX,
)

SYSMETA_PREFIX = "dolmen-sys-"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
CONTAINER_ACL_HEADERS = {"x-container-read": "read", "x-container-write": "write"}
ACCOUNT_ACL_HEADER = "x-account-access-control"
ACCOUNT_ACL_ITEM = SYSMETA_PREFIX + "access-control"
# The S3 API stores its standard headers under the same item names, so both APIs show them.
OBJECT_KEPT_HEADERS = (
    "Content-Disposition",
    "Content-Encoding",
    "Cache-Control",
    "Content-Language",
    "Expires",
    "X-Robots-Tag",
)


def sysmeta_item(name: str) -> str:
    return SYSMETA_PREFIX + name.lower()


def user_metadata(headers: Mapping[str, str], kind: str) -> dict[str, str]:
    """The user metadata items a request sets (lower-cased names); InvalidMetadata if over a limit.

    `kind` is "account", "container" or "object". Removals map to "".
    """
    assert kind in ("account", "container", "object")
    prefix = f"x-{kind}-meta-"
    remove_prefix = f"x-remove-{kind}-meta-"
    items: dict[str, str] = {}
    for header, value in headers.items():
        lowered = header.lower()
        if lowered.startswith(prefix):
            name, item_value = lowered[len(prefix) :], header_text(value.strip())
        elif lowered.startswith(remove_prefix) and kind != "object":
            name, item_value = lowered[len(remove_prefix) :], ""
        else:
            continue
        if not name:
            raise InvalidMetadata("Metadata name cannot be empty")
        if name.startswith(SYSMETA_PREFIX):
            raise InvalidMetadata(f"Metadata names starting with {SYSMETA_PREFIX!r} are reserved")
        items[name] = item_value
    check_metadata_limits(items)
    return items


def check_metadata_limits(items: Mapping[str, str]) -> None:
    """Swift's metadata limits over user items; InvalidMetadata names the first one broken."""
    total_bytes = 0
    for name, value in items.items():
        name_bytes, value_bytes = len(name.encode()), len(value.encode())
        if name_bytes > METADATA_NAME_BYTES_MAX:
            raise InvalidMetadata(f"Metadata name too long; max {METADATA_NAME_BYTES_MAX}")
        if value_bytes > METADATA_VALUE_BYTES_MAX:
            raise InvalidMetadata(f"Metadata value longer than {METADATA_VALUE_BYTES_MAX}")
        total_bytes += name_bytes + value_bytes
    if len(items) > METADATA_COUNT_MAX:
        raise InvalidMetadata(f"Too many metadata items; max {METADATA_COUNT_MAX}")
    if total_bytes > METADATA_TOTAL_BYTES_MAX:
        raise InvalidMetadata(f"Total metadata too large; max {METADATA_TOTAL_BYTES_MAX}")


def metadata_headers(metadata: Mapping[str, str], kind: str) -> dict[str, str]:
    """The `X-<Kind>-Meta-*` response headers of stored metadata, without reserved items."""
    prefix = f"X-{kind.capitalize()}-Meta-"
    return {
        prefix + name: value
        for name, value in metadata.items()
        if value and not name.startswith(SYSMETA_PREFIX)
    }


def object_kept_items(headers: Mapping[str, str]) -> dict[str, str]:
    """Reserved items for the content headers an object keeps (OBJECT_KEPT_HEADERS)."""
    kept = {
        sysmeta_item(name): header_text(headers[name].strip())
        for name in OBJECT_KEPT_HEADERS
        if name in headers
    }
    for name, value in kept.items():
        if len(value.encode()) > METADATA_VALUE_BYTES_MAX:
            raise InvalidMetadata(
                f"{name.removeprefix(SYSMETA_PREFIX)} longer than {METADATA_VALUE_BYTES_MAX}"
            )
    return {name: value for name, value in kept.items() if value}


def object_kept_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    return {
        name: metadata[sysmeta_item(name)] for name in OBJECT_KEPT_HEADERS if sysmeta_item(name) in metadata
    }


def delete_at_from_headers(headers: Mapping[str, str], *, now_s: float) -> int | None:
    """The expiry (Unix seconds) an object write asks for, or None; InvalidDeleteAt as Swift.

    `X-Delete-After` (seconds from now) wins over `X-Delete-At`; the result
    must lie after `now_s`.
    """
    after = headers.get("X-Delete-After")
    if after is not None:
        delete_at_s = int(now_s + _integer(after, "Non-integer X-Delete-After"))
        if delete_at_s <= now_s:
            raise InvalidDeleteAt("X-Delete-After in past")
        return delete_at_s
    at = headers.get("X-Delete-At")
    if at is None:
        return None
    delete_at_s = _integer(at, "Non-integer X-Delete-At")
    if delete_at_s <= now_s:
        raise InvalidDeleteAt("X-Delete-At in past")
    return delete_at_s


def _integer(text: str, complaint: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 20:
        raise InvalidDeleteAt(complaint)
    return int(text)


def given_content_type(headers: Mapping[str, str]) -> str:
    """The request's Content-Type as text ("" when it names none)."""
    return header_text(headers.get("Content-Type", "").strip())


def object_content_type(headers: Mapping[str, str], obj: str) -> str:
    """The Content-Type to store: the client's, else guessed from the name (as Swift), else the default."""
    given = given_content_type(headers)
    detect = headers.get("X-Detect-Content-Type", "").strip().lower() == "true"
    if given and not detect:
        return given
    guessed, _ = mimetypes.guess_type(obj, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE


def client_etag(headers: Mapping[str, str]) -> str | None:
    """The MD5 the client announced in `ETag`, lower-case without quotes, or None."""
    value = headers.get("ETag")
    if value is None:
        return None
    return value.strip().strip('"').lower()


def http_date(seconds: float) -> str:
    """Last-Modified: the time rounded up to a whole second, as Swift."""
    return email.utils.formatdate(math.ceil(seconds), usegmt=True)


def swift_timestamp(seconds: float) -> str:
    """`X-Timestamp`'s form: seconds with five decimals."""
    return f"{seconds:016.5f}"
