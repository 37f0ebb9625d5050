"""Swift request paths: `/v1/<account>[/<container>[/<object>]]`, pure.

As Swift, the path is percent-decoded first and split second, so a container
name never holds `/` while an object name may; `.` and `..` inside an object
name are part of the name (the raw target is parsed, never a normalised one).
Rules, in order:
- not `/v1` or `/v1.0` followed by an account, or an empty container in front
  of an object: NoSuchPath (404, as Swift's proxy answers a path it cannot split);
- bytes that are not UTF-8, or a NUL: InvalidUtf8 (412, "Invalid UTF8 or contains NULL");
- an account without the `AUTH_` prefix (which also keeps the `.` system
  accounts out of reach), a reserved container name (`dolmen.proxy.reserved`),
  or a name over Swift's lengths: InvalidName (400).
A trailing slash after the container (`/v1/a/c/`) addresses the container.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from dolmen.proxy.errors import InvalidCopySource, InvalidName, InvalidUtf8, NoSuchPath
from dolmen.proxy.reserved import is_reserved

from dolmen.limits import ACCOUNT_NAME_BYTES_MAX, CONTAINER_NAME_BYTES_MAX, OBJECT_NAME_BYTES_MAX

API_VERSIONS = ("v1", "v1.0")
ACCOUNT_PREFIX = "AUTH_"


@dataclass(frozen=True, slots=True)
class SwiftPath:
    """The names a Swift request addresses; `container` and `obj` are None above their level."""

    account: str
    container: str | None = None
    obj: str | None = None

    def __post_init__(self) -> None:
        assert self.obj is None or self.container is not None, self

    @property
    def project_id(self) -> str:
        return self.account.removeprefix(ACCOUNT_PREFIX)


def decode_component(raw: str) -> str:
    """Percent-decode `raw` as strict UTF-8 without NUL; InvalidUtf8 otherwise. `raw` may hold
    bytes that were not UTF-8 as lone surrogates (as aiohttp decodes paths and headers)."""
    try:
        text = unquote_to_bytes(raw.encode("utf-8", "surrogateescape")).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidUtf8("Invalid UTF8 or contains NULL") from None
    if "\x00" in text:
        raise InvalidUtf8("Invalid UTF8 or contains NULL")
    return text


def account_for_project(project_id: str) -> str:
    return ACCOUNT_PREFIX + project_id


def parse_swift_path(raw_path: str) -> SwiftPath:
    """The SwiftPath of a raw request path (without the query string)."""
    path = decode_component(raw_path)
    parts = path.split("/", 4)
    if len(parts) < 3 or parts[0] != "" or parts[1] not in API_VERSIONS or not parts[2]:
        raise NoSuchPath("The resource could not be found.")
    account = parts[2]
    container = parts[3] if len(parts) > 3 and parts[3] else None
    obj = parts[4] if len(parts) > 4 and parts[4] else None
    if obj is not None and container is None:
        raise NoSuchPath("The resource could not be found.")
    check_account_name(account)
    if container is not None:
        check_container_name(container)
    if obj is not None:
        check_object_name(obj)
    return SwiftPath(account, container, obj)


def check_account_name(account: str) -> None:
    if not account.startswith(ACCOUNT_PREFIX) or len(account) == len(ACCOUNT_PREFIX):
        raise InvalidName(f"Account name must start with {ACCOUNT_PREFIX}")
    size = len(account.encode())
    if size > ACCOUNT_NAME_BYTES_MAX:
        raise InvalidName(f"Account name length of {size} longer than {ACCOUNT_NAME_BYTES_MAX}")


def _utf8_size(name: str) -> int:
    """Bytes of `name` in UTF-8; InvalidUtf8 if it holds bytes that were not UTF-8 (surrogates)."""
    try:
        return len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidUtf8("Invalid UTF8 or contains NULL") from None


def check_container_name(container: str) -> None:
    if is_reserved(container):
        raise InvalidName("Container name is reserved")
    size = _utf8_size(container)
    if size > CONTAINER_NAME_BYTES_MAX:
        raise InvalidName(f"Container name length of {size} longer than {CONTAINER_NAME_BYTES_MAX}")


def check_object_name(obj: str) -> None:
    size = _utf8_size(obj)
    if size > OBJECT_NAME_BYTES_MAX:
        raise InvalidName(f"Object name length of {size} longer than {OBJECT_NAME_BYTES_MAX}")


def parse_copy_target(header: str, *, default_account: str) -> SwiftPath:
    """The object named by `X-Copy-From` / `Destination`: `[/]container/object`, percent-encoded.

    `default_account` is the request's account (Swift also accepts
    `X-Copy-From-Account` / `Destination-Account`, which the caller passes instead).
    Raises InvalidCopySource (412, as Swift) when either part is missing.
    """
    text = decode_component(header).removeprefix("/")
    container, _, obj = text.partition("/")
    if not container or not obj:
        raise InvalidCopySource("X-Copy-From header must be of the form <container name>/<object name>")
    check_container_name(container)
    check_object_name(obj)
    return SwiftPath(default_account, container, obj)
