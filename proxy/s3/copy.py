"""CopyObject's request: the source, the metadata directive and the source conditions, pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote_to_bytes

from dolmen.proxy.s3.errors import InvalidArgument, InvalidRange, InvalidRequest
from dolmen.proxy.s3.names import check_bucket_name, check_key

COPY_SOURCE_HEADER = "x-amz-copy-source"
COPY_SOURCE_RANGE_HEADER = "x-amz-copy-source-range"
_COPY_RANGE = re.compile(r"bytes=(\d{1,19})-(\d{1,19})")
_CONDITIONS = {
    "x-amz-copy-source-if-match": "If-Match",
    "x-amz-copy-source-if-none-match": "If-None-Match",
    "x-amz-copy-source-if-modified-since": "If-Modified-Since",
    "x-amz-copy-source-if-unmodified-since": "If-Unmodified-Since",
}
_SELF_COPY_CHANGES = (
    "x-amz-metadata-directive",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
    "x-amz-server-side-encryption",
)


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str


def parse_copy_source(value: str) -> CopySource:
    """`[/]bucket/key[?versionId=null]`, percent-encoded; InvalidArgument if it names no object."""
    path, _, query = value.partition("?")
    try:
        decoded = unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("Invalid copy source encoding", ArgumentName=COPY_SOURCE_HEADER) from None
    bucket, _, key = decoded.removeprefix("/").partition("/")
    if not bucket or not key:
        raise InvalidArgument("Invalid copy source object key", ArgumentName=COPY_SOURCE_HEADER)
    versions = parse_qs(query).get("versionId", [])
    if query and versions != ["null"]:
        raise InvalidArgument("Invalid version id specified", ArgumentName="versionId")
    return CopySource(bucket=check_bucket_name(bucket), key=check_key(key))


def metadata_directive(headers: Mapping[str, str]) -> str:
    """COPY (the default: the source's metadata) or REPLACE (the request's)."""
    directive = headers.get("x-amz-metadata-directive", "COPY").strip().upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown metadata directive.", ArgumentName="x-amz-metadata-directive")
    return directive


def source_conditions(headers: Mapping[str, str]) -> dict[str, str]:
    """The copy-source conditions as the HTTP conditional headers a read of the source takes."""
    return {http_name: headers[name] for name, http_name in _CONDITIONS.items() if name in headers}


def check_not_a_self_copy(source: CopySource, bucket: str, key: str, headers: Mapping[str, str]) -> None:
    """A copy onto itself must change something (REPLACE metadata at least), as S3 requires."""
    if (source.bucket, source.key) != (bucket, key):
        return
    changes = any(name in headers for name in _SELF_COPY_CHANGES if name != "x-amz-metadata-directive")
    if metadata_directive(headers) == "COPY" and not changes:
        raise InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself without changing "
            "the object's metadata, storage class, website redirect location or encryption attributes."
        )


def parse_copy_source_range(value: str | None) -> tuple[int, int] | None:
    """UploadPartCopy's `bytes=first-last` (inclusive, both given); InvalidArgument for another form."""
    if value is None:
        return None
    match = _COPY_RANGE.fullmatch(value.strip())
    if match is None or int(match[1]) > int(match[2]):
        raise InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are "
            "the zero-based offsets of the first and last bytes to copy",
            ArgumentName=COPY_SOURCE_RANGE_HEADER,
        )
    return int(match[1]), int(match[2])


def check_copy_range(copy_range: tuple[int, int], length: int) -> None:
    """InvalidRange unless the range lies within a source of `length` bytes."""
    if copy_range[1] >= length:
        raise InvalidRange(
            ActualObjectSize=str(length), RangeRequested=f"bytes={copy_range[0]}-{copy_range[1]}"
        )
