"""Object headers in S3 terms, pure: metadata, standard headers, overrides, digests, ranges, conditions.

`x-amz-meta-<name>` is the user metadata item `<name>` (lower-cased), the same
item the Swift API shows as `X-Object-Meta-<name>`. S3 bounds user metadata to
2 KiB (names and values, S3_USER_METADATA_BYTES_MAX): MetadataTooLarge past it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from dolmen.proxy.headertext import header_text
from dolmen.proxy.s3.errors import InvalidArgument, InvalidDigest, InvalidRequest, MetadataTooLarge

from dolmen.limits import METADATA_COUNT_MAX, S3_USER_METADATA_BYTES_MAX

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # what no header value may hold (HTAB may)

META_PREFIX = "x-amz-meta-"
# Headers an object keeps from its PUT and returns on GET and HEAD, beside Content-Type.
STANDARD_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")
CONDITIONAL_HEADERS = {
    "if-match": "If-Match",
    "if-none-match": "If-None-Match",
    "if-modified-since": "If-Modified-Since",
    "if-unmodified-since": "If-Unmodified-Since",
}
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
_SINGLE_RANGE = re.compile(r"bytes=(\d{1,19})-(\d{0,19})|bytes=-(\d{1,19})")
_AWS_CHUNKED = "aws-chunked"


DEFAULT_CONTENT_TYPE = "binary/octet-stream"  # what S3 stores when a PUT names none


def stored_content_type(headers: Mapping[str, str]) -> str:
    """The Content-Type a write stores (lower-cased `headers`, or a POST's form fields)."""
    return header_text(headers.get("content-type", "")) or DEFAULT_CONTENT_TYPE


def user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """The `x-amz-meta-*` items of lower-cased request headers; MetadataTooLarge past S3's 2 KiB."""
    items = {
        name[len(META_PREFIX) :]: header_text(value.strip())
        for name, value in headers.items()
        if name.startswith(META_PREFIX)
    }
    size_bytes = sum(len(name.encode()) + len(value.encode()) for name, value in items.items())
    if size_bytes > S3_USER_METADATA_BYTES_MAX or len(items) > METADATA_COUNT_MAX:
        raise MetadataTooLarge(Size=str(size_bytes), MaxSizeAllowed=str(S3_USER_METADATA_BYTES_MAX))
    if any(not name for name in items):
        raise InvalidRequest("A metadata name cannot be empty")
    return items


def metadata_headers(items: Mapping[str, str]) -> dict[str, str]:
    return {META_PREFIX + name: value for name, value in items.items()}


def standard_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The standard headers a PUT sets; `aws-chunked` is the transfer's encoding, not the object's."""
    kept = {name: header_text(headers[name].strip()) for name in STANDARD_HEADERS if name in headers}
    if "content-encoding" in kept:
        codings = [coding.strip() for coding in kept["content-encoding"].split(",")]
        remaining = ", ".join(coding for coding in codings if coding and coding.lower() != _AWS_CHUNKED)
        if remaining:
            kept["content-encoding"] = remaining
        else:
            del kept["content-encoding"]
    return kept


def is_aws_chunked(headers: Mapping[str, str]) -> bool:
    encoding = headers.get("content-encoding", "")
    return any(coding.strip().lower() == _AWS_CHUNKED for coding in encoding.split(","))


def response_overrides(query: Mapping[str, str], *, anonymous: bool) -> dict[str, str]:
    """The headers a GET's `response-*` parameters replace; S3 refuses them on anonymous requests."""
    overrides = {header: query[name] for name, header in RESPONSE_OVERRIDES.items() if name in query}
    if overrides and anonymous:
        raise InvalidRequest("Request specific response headers cannot be used for anonymous GET requests.")
    for name, value in overrides.items():
        if _CONTROL.search(value):  # no header can carry it (aiohttp would cut the answer)
            raise InvalidArgument(f"The {name} override holds a control character", ArgumentName=name)
    return overrides


def content_md5_hex(value: str) -> str:
    """The MD5 a `Content-MD5` header (base64) claims, as hex; InvalidDigest if it is no MD5."""
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidDigest() from None
    if len(digest) != 16:
        raise InvalidDigest()
    return digest.hex()


def byte_range(value: str | None) -> str | None:
    """The Range header to pass on: one valid byte range, or None (S3 serves the whole object otherwise)."""
    if not value:
        return None
    match = _SINGLE_RANGE.fullmatch(value.strip().replace(" ", ""))
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        return f"bytes=-{int(suffix)}" if int(suffix) > 0 else None
    if last and int(last) < int(first):
        return None
    return f"bytes={int(first)}-{int(last) if last else ''}"


def conditions(headers: Mapping[str, str]) -> dict[str, str]:
    """The HTTP conditions of a GET or HEAD, passed to the cluster client as they are."""
    return {http_name: headers[name] for name, http_name in CONDITIONAL_HEADERS.items() if name in headers}
