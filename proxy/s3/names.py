"""Bucket and key names, and where they are in a request (path style or virtual-hosted style), pure.

Bucket names follow S3's rules for new buckets: 3 to 63 characters of lower-case
letters, digits, dots and hyphens, starting and ending with a letter or digit,
no `..`, not shaped like an IP address, none of S3's reserved prefixes and
suffixes. So a bucket name is always a valid container name, and never one of
the reserved or system names (those start with `.`). Keys are 1 to 1,024 bytes
of UTF-8, as in S3; they are object names unchanged, so that the Swift API sees
the same objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from dolmen.proxy.s3.errors import InvalidArgument, InvalidBucketName, KeyTooLongError

from dolmen.limits import OBJECT_NAME_BYTES_MAX

BUCKET_NAME_CHARS_MIN = 3
BUCKET_NAME_CHARS_MAX = 63
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def is_valid_bucket_name(name: str) -> bool:
    return (
        _BUCKET.fullmatch(name) is not None
        and ".." not in name
        and not _IP_ADDRESS.fullmatch(name)
        and not name.startswith(_RESERVED_PREFIXES)
        and not name.endswith(_RESERVED_SUFFIXES)
    )


def check_bucket_name(name: str) -> str:
    if not is_valid_bucket_name(name):
        raise InvalidBucketName(BucketName=name[: BUCKET_NAME_CHARS_MAX * 4])
    return name


def check_key(key: str) -> str:
    """The key if S3 and the store accept it: 1 to 1,024 bytes of UTF-8, no NUL."""
    try:
        size_bytes = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidArgument("Object keys must be valid UTF-8", ArgumentName="key") from None
    if size_bytes > OBJECT_NAME_BYTES_MAX:
        raise KeyTooLongError(MaxSizeAllowed=str(OBJECT_NAME_BYTES_MAX), Size=str(size_bytes))
    if not key or "\x00" in key:
        raise InvalidArgument("Object keys must be 1 to 1024 bytes without NUL", ArgumentName="key")
    return key


@dataclass(frozen=True)
class Target:
    """What a request addresses: the service (no bucket), a bucket, or an object."""

    bucket: str | None
    key: str | None
    virtual_hosted: bool


def parse_target(host: str, raw_path: str, *, domain: str) -> Target:
    """Bucket and key from the Host header and the raw (percent-encoded) path.

    `<bucket>.<domain>` in Host is virtual-hosted style: the whole path is the
    key. Otherwise the first path segment is the bucket and the rest the key.
    The path is decoded exactly once; `//` and `.` segments are part of keys.
    """
    hostname = _hostname(host)
    path = _decode(raw_path)
    if not path.startswith("/"):
        raise InvalidArgument("The request path must start with /")
    suffix = "." + domain.lower() if domain else ""
    if suffix and hostname.endswith(suffix) and len(hostname) > len(suffix):
        bucket = hostname[: -len(suffix)]
        key = path[1:]
        return Target(check_bucket_name(bucket), check_key(key) if key else None, virtual_hosted=True)
    bucket, slash, key = path[1:].partition("/")
    if not bucket:
        return Target(None, None, virtual_hosted=False)
    return Target(check_bucket_name(bucket), check_key(key) if key else None, virtual_hosted=False)


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal is never a virtual host
        return host
    return host.rpartition(":")[0] if ":" in host else host


def _decode(raw_path: str) -> str:
    try:
        return unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("The request path is not valid UTF-8") from None
