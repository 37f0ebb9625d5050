"""Parsing of the storage node's request paths, pure: raw request target in, typed parts out.

Paths are taken from the raw request target (before "?"), split on "/" first and
percent-decoded after, so that "%2F" inside an object name stays part of the name
and "." or ".." are names like any other (never paths on disk). Each decoded part
must be UTF-8 (strict: no lone surrogates, no overlong forms); names must not
contain NUL; lengths follow dolmen.limits.

    /<device>/<partition>/<account>/<container>/<object>    object verbs
    /<device>/<partition>/<account>[/<container>[/<object>]] container and account roles
    /<device>/<partition>                                   REPLICATE (all suffixes)
    /<device>/<partition>/<suffix>[-<suffix>...]            REPLICATE (those suffixes rehashed: no-op)
    /<device>/<partition>/<register key>                    PREPARE, ACCEPT, READ

Device: 1..DEVICE_NAME_BYTES_MAX of [A-Za-z0-9._-], not starting with "."; partition:
decimal without sign or leading zero, at most PARTITION_MAX. Errors are the
engine's BadRequest subclasses (InvalidName, InvalidPartition, InvalidRegister).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from dolmen.storage_node.config import DEVICE_NAME
from dolmen.storage_node.errors import BadRequest, InvalidName, InvalidPartition, InvalidRegister

from dolmen.limits import (
    ACCOUNT_NAME_BYTES_MAX,
    CONTAINER_NAME_BYTES_MAX,
    OBJECT_NAME_BYTES_MAX,
    PARTITION_MAX,
    REGISTER_KEY_BYTES_MAX,
)
from dolmen.values import value_class

_PARTITION = re.compile(r"0|[1-9][0-9]{0,9}")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


@value_class
class ObjectPath:
    device: str
    partition: int
    account: str
    container: str
    obj: str


@value_class
class PartitionPath:
    device: str
    partition: int
    rest: bytes  # percent-decoded remainder after "/<device>/<partition>/", b"" if none


def _decode(raw: str, what: str) -> bytes:
    if _PERCENT.search(raw):
        raise InvalidName(f"{what} has a malformed percent escape")
    try:
        return unquote_to_bytes(raw.encode("ascii"))
    except UnicodeEncodeError:
        # Non-ASCII in a raw target: the server gave us the bytes as UTF-8/surrogateescape text.
        return unquote_to_bytes(raw.encode("utf-8", "surrogateescape"))


def _name(raw: str, what: str, bytes_max: int) -> str:
    if raw.isascii() and "%" not in raw:  # the common case: the name is the text as sent
        if not raw:
            raise InvalidName(f"{what} name is empty")
        if len(raw) > bytes_max:
            raise InvalidName(f"{what} name is {len(raw)} bytes; at most {bytes_max}")
        if "\0" in raw:
            raise InvalidName(f"{what} name contains NUL")
        return raw
    data = _decode(raw, what)
    if not data:
        raise InvalidName(f"{what} name is empty")
    if len(data) > bytes_max:
        raise InvalidName(f"{what} name is {len(data)} bytes; at most {bytes_max}")
    if b"\0" in data:
        raise InvalidName(f"{what} name contains NUL")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidName(f"{what} name is not valid UTF-8") from None


def is_partition(text: str) -> bool:
    """A partition as paths and headers spell it: decimal, no sign or leading zero, <= PARTITION_MAX."""
    return _PARTITION.fullmatch(text) is not None and int(text) <= PARTITION_MAX


def _device_and_partition(device: str, partition: str) -> tuple[str, int]:
    if not DEVICE_NAME.fullmatch(device):
        raise BadRequest("malformed device name")
    if not is_partition(partition):
        raise InvalidPartition(f"partition must be a decimal 0..{PARTITION_MAX}")
    return device, int(partition)


def split_target(raw_target: str) -> tuple[str, str]:
    """(raw path, raw query) of a request target."""
    path, _, query = raw_target.partition("?")
    return path, query


def parse_object_path(raw_path: str) -> ObjectPath:
    """The parts of `/<device>/<partition>/<account>/<container>/<object>`; BadRequest if malformed."""
    parts = raw_path.split("/", 5)
    if len(parts) != 6 or parts[0] != "":
        raise BadRequest("object path must be /<device>/<partition>/<account>/<container>/<object>")
    device, partition = _device_and_partition(parts[1], parts[2])
    account = _name(parts[3], "account", ACCOUNT_NAME_BYTES_MAX)
    container = _name(parts[4], "container", CONTAINER_NAME_BYTES_MAX)
    if "/" in account or "/" in container:
        raise InvalidName("account and container names cannot contain '/'")
    obj = _name(parts[5], "object", OBJECT_NAME_BYTES_MAX)
    return ObjectPath(device, partition, account, container, obj)


@dataclass(frozen=True, slots=True)
class NamePath:
    """`/<device>/<partition>/<account>[/<container>[/<object>]]`, names decoded and checked."""

    device: str
    partition: int
    account: str
    container: str | None = None
    obj: str | None = None


def parse_name_path(raw_path: str) -> NamePath:
    """An account, container or object path; BadRequest if malformed."""
    parts = raw_path.split("/", 5)
    if not 4 <= len(parts) <= 6 or parts[0] != "":
        raise BadRequest("path must be /<device>/<partition>/<account>[/<container>[/<object>]]")
    device, partition = _device_and_partition(parts[1], parts[2])
    account = _name(parts[3], "account", ACCOUNT_NAME_BYTES_MAX)
    container = _name(parts[4], "container", CONTAINER_NAME_BYTES_MAX) if len(parts) > 4 else None
    if "/" in account or (container is not None and "/" in container):
        raise InvalidName("account and container names cannot contain '/'")
    obj = _name(parts[5], "object", OBJECT_NAME_BYTES_MAX) if len(parts) > 5 else None
    return NamePath(device, partition, account, container, obj)


def parse_partition_path(raw_path: str) -> PartitionPath:
    """`/<device>/<partition>[/<rest>]`, the rest percent-decoded to bytes (may be empty)."""
    parts = raw_path.split("/", 3)
    if len(parts) < 3 or parts[0] != "":
        raise BadRequest("path must be /<device>/<partition>[/...]")
    device, partition = _device_and_partition(parts[1], parts[2])
    rest = _decode(parts[3], "path") if len(parts) == 4 else b""
    return PartitionPath(device, partition, rest)


def parse_register_path(raw_path: str) -> tuple[PartitionPath, bytes]:
    """`/<device>/<partition>/<key>`: the register key is the percent-decoded rest (any bytes)."""
    path = parse_partition_path(raw_path)
    if not 1 <= len(path.rest) <= REGISTER_KEY_BYTES_MAX:
        raise InvalidRegister(f"register key must be 1..{REGISTER_KEY_BYTES_MAX} bytes")
    return path, path.rest


_SUFFIX = re.compile(rb"[0-9a-f]{3}")


def parse_suffixes(rest: bytes) -> list[str]:
    """The suffixes named in a REPLICATE path (`abc-0f1-...`); [] for none."""
    if not rest:
        return []
    suffixes = rest.split(b"-")
    if len(suffixes) > 4096 or not all(_SUFFIX.fullmatch(suffix) for suffix in suffixes):
        raise BadRequest("suffixes must be 3 lower-case hex digits joined by '-'")
    return [suffix.decode("ascii") for suffix in suffixes]
