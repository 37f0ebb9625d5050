"""ListObjects (v1 and v2) over a container listing, pure: parameters, paging, tokens, XML.

The listener asks the cluster for `cluster_limit(params)` entries after
`start_marker(...)`, with the request's prefix and delimiter, turns them into
`ObjectRow`s and common-prefix strings, and renders `page(...)` with
`list_objects_xml`. Paging rules:

- a common prefix is the last entry of a page as its own name ("photos/"); the
  next page starts after it and drops that same prefix when the container
  lists it again, so a page never repeats the previous one's last entry;
- v2 continuation tokens are sealed with a key (HMAC-SHA256, 128 bits) over
  the bucket name and the marker: a token is only valid for the bucket that
  issued it, and nobody can make one that starts elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from dolmen.proxy.s3.errors import InvalidArgument
from dolmen.proxy.s3.render import Owner, document, element, escape, iso8601, quoted_etag

from dolmen.limits import OBJECT_NAME_BYTES_MAX, S3_LIST_BUCKETS_MAX, S3_LIST_KEYS_MAX

TOKEN_MAC_BYTES = 16
TOKEN_CHARS_MAX = 4 * (TOKEN_MAC_BYTES + OBJECT_NAME_BYTES_MAX * 4) // 3 + 4
_TOKEN_CONTEXT = b"dolmen-s3-continuation-v1\0"


@dataclass(frozen=True)
class ListParams:
    version: int  # 1 or 2
    prefix: str
    delimiter: str
    marker: str  # v1 `marker`; v2 `start-after`
    continuation_token: str | None  # v2 only; None when absent (an empty one is echoed, as S3 does)
    max_keys: int
    url_encoded: bool
    fetch_owner: bool


def parse_list_params(query: Mapping[str, str], *, version: int) -> ListParams:
    """The listing parameters of a request; InvalidArgument for a bad max-keys or encoding-type."""
    assert version in (1, 2)
    max_keys_text = query.get("max-keys", str(S3_LIST_KEYS_MAX))
    if not max_keys_text.isascii() or not max_keys_text.isdigit() or len(max_keys_text) > 10:
        raise InvalidArgument(
            "Provided max-keys not an integer or within integer range", ArgumentName="max-keys"
        )
    encoding = query.get("encoding-type")
    if encoding not in (None, "url"):
        raise InvalidArgument("Invalid Encoding Method specified in Request", ArgumentName="encoding-type")
    fetch_owner = query.get("fetch-owner", "false").lower()
    if version == 2 and fetch_owner not in ("true", "false"):
        raise InvalidArgument("Invalid fetch-owner value", ArgumentName="fetch-owner")
    token = query.get("continuation-token") if version == 2 else None
    marker_name = "marker" if version == 1 else "start-after"
    for name in ("prefix", "delimiter", marker_name):
        if "\x00" in query.get(name, ""):
            raise InvalidArgument(f"The {name} holds a NUL character, which no key holds", ArgumentName=name)
    return ListParams(
        version=version,
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        marker=query.get(marker_name, ""),
        continuation_token=token,
        max_keys=min(int(max_keys_text), S3_LIST_KEYS_MAX),
        url_encoded=encoding == "url",
        fetch_owner=version == 1 or fetch_owner == "true",
    )


# --- continuation tokens ---------------------------------------------------


def _token_mac(key: bytes, bucket: str, marker: bytes) -> bytes:
    message = _TOKEN_CONTEXT + bucket.encode("utf-8") + b"\0" + marker
    return hmac.new(key, message, hashlib.sha256).digest()[:TOKEN_MAC_BYTES]


def seal_token(key: bytes, bucket: str, marker: str) -> str:
    """An opaque continuation token for `marker` in `bucket`."""
    marker_bytes = marker.encode("utf-8", "surrogateescape")
    raw = _token_mac(key, bucket, marker_bytes) + marker_bytes
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def open_token(key: bytes, bucket: str, token: str) -> str:
    """The marker a token of this bucket carries; InvalidArgument for any other string."""
    refused = InvalidArgument(
        "The continuation token provided is incorrect", ArgumentName="continuation-token"
    )
    if len(token) > TOKEN_CHARS_MAX or not token.isascii():
        raise refused
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise refused from None
    mac, marker = raw[:TOKEN_MAC_BYTES], raw[TOKEN_MAC_BYTES:]
    if len(mac) != TOKEN_MAC_BYTES or not hmac.compare_digest(mac, _token_mac(key, bucket, marker)):
        raise refused
    return marker.decode("utf-8", "surrogateescape")


# --- paging ----------------------------------------------------------------


@dataclass(frozen=True)
class ObjectRow:
    key: str
    size_bytes: int
    etag: str
    last_modified_s: float


@dataclass(frozen=True)
class Page:
    contents: list[ObjectRow]
    common_prefixes: list[str]
    truncated: bool
    last_name: str  # the greatest key or common prefix on the page: the next page's marker


def start_marker(params: ListParams, *, token_key: bytes, bucket: str) -> str:
    """Where the listing starts: after the token's marker and after start-after (or marker)."""
    if params.continuation_token:
        return max(open_token(token_key, bucket, params.continuation_token), params.marker)
    return params.marker


def cluster_limit(params: ListParams) -> int:
    """Entries to ask the cluster for: a page, one more to know if it is truncated, one the marker may drop."""
    return params.max_keys + 2


def page(entries: Sequence[ObjectRow | str], *, marker: str, max_keys: int, cluster_truncated: bool) -> Page:
    """One S3 page from the cluster's entries after `marker` (strings are common prefixes), in name order.

    The container lists a common prefix again when the marker is that prefix: it is dropped here.
    """
    kept = [entry for entry in entries if _name(entry) != marker]
    truncated = len(kept) > max_keys or cluster_truncated
    kept = kept[:max_keys]
    return Page(
        contents=[entry for entry in kept if isinstance(entry, ObjectRow)],
        common_prefixes=[entry for entry in kept if isinstance(entry, str)],
        truncated=truncated and bool(kept),
        last_name=_name(kept[-1]) if kept else "",
    )


def _name(entry: ObjectRow | str) -> str:
    return entry if isinstance(entry, str) else entry.key


# --- XML -------------------------------------------------------------------


def list_objects_xml(
    params: ListParams, result: Page, *, bucket: str, owner: Owner, token_key: bytes
) -> bytes:
    def text(value: str) -> str:
        return quote(value, safe="/") if params.url_encoded else value

    # Version 1 encodes Marker, NextMarker, Delimiter and keys but not Prefix (SDKs decode exactly those).
    prefix = text(params.prefix) if params.version == 2 else params.prefix
    parts = [element("Name", bucket), element("Prefix", prefix)]
    if params.version == 1:
        parts.append(element("Marker", text(params.marker)))
        if result.truncated and params.delimiter:
            parts.append(element("NextMarker", text(result.last_name)))
    else:
        if params.continuation_token is not None:
            parts.append(element("ContinuationToken", params.continuation_token))
        if params.marker:
            parts.append(element("StartAfter", text(params.marker)))
        parts.append(element("KeyCount", str(len(result.contents) + len(result.common_prefixes))))
        if result.truncated:
            parts.append(element("NextContinuationToken", seal_token(token_key, bucket, result.last_name)))
    parts.append(element("MaxKeys", str(params.max_keys)))
    if params.delimiter:
        parts.append(element("Delimiter", text(params.delimiter)))
    if params.url_encoded:
        parts.append(element("EncodingType", "url"))
    parts.append(element("IsTruncated", "true" if result.truncated else "false"))
    owner_xml = owner.xml() if params.fetch_owner else ""
    for row in result.contents:  # (one formatting a row: a page holds up to 1,000)
        parts.append(
            f"<Contents><Key>{escape(text(row.key))}</Key>"
            f"<LastModified>{iso8601(math.ceil(row.last_modified_s))}</LastModified>"
            f"<ETag>{escape(quoted_etag(row.etag))}</ETag><Size>{row.size_bytes}</Size>"
            f"{owner_xml}<StorageClass>STANDARD</StorageClass></Contents>"
        )
    for prefix in result.common_prefixes:
        parts.append(f"<CommonPrefixes>{element('Prefix', text(prefix))}</CommonPrefixes>")
    return document("ListBucketResult", "".join(parts))


def list_versions_xml(params: ListParams, result: Page, *, bucket: str, owner: Owner) -> bytes:
    """ListVersionsResult for a bucket without versioning: every object once, VersionId `null`."""

    def text(value: str) -> str:
        return quote(value, safe="/") if params.url_encoded else value

    parts = [
        element("Name", bucket),
        element("Prefix", text(params.prefix)),
        element("KeyMarker", text(params.marker)),
        element("VersionIdMarker", ""),
        element("MaxKeys", str(params.max_keys)),
    ]
    if params.delimiter:
        parts.append(element("Delimiter", text(params.delimiter)))
    if params.url_encoded:
        parts.append(element("EncodingType", "url"))
    parts.append(element("IsTruncated", "true" if result.truncated else "false"))
    if result.truncated:
        parts.append(
            element("NextKeyMarker", text(result.last_name)) + element("NextVersionIdMarker", "null")
        )
    for row in result.contents:
        parts.append(
            "<Version>"
            + element("Key", text(row.key))
            + element("VersionId", "null")
            + element("IsLatest", "true")
            + element("LastModified", iso8601(math.ceil(row.last_modified_s)))
            + element("ETag", quoted_etag(row.etag))
            + element("Size", str(row.size_bytes))
            + owner.xml()
            + element("StorageClass", "STANDARD")
            + "</Version>"
        )
    for prefix in result.common_prefixes:
        parts.append(f"<CommonPrefixes>{element('Prefix', text(prefix))}</CommonPrefixes>")
    return document("ListVersionsResult", "".join(parts))


@dataclass(frozen=True)
class BucketListParams:
    """ListBuckets' query: `max-buckets` (None: all), `continuation-token`, `prefix`, `bucket-region`."""

    max_buckets: int | None
    continuation_token: str | None
    prefix: str | None
    region: str | None


def parse_bucket_list_params(query: Mapping[str, str]) -> BucketListParams:
    """InvalidArgument for a `max-buckets` that is not 1..S3_LIST_BUCKETS_MAX (S3's bounds)."""
    text = query.get("max-buckets")
    max_buckets = None
    if text is not None:
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= S3_LIST_BUCKETS_MAX:
            raise InvalidArgument(
                f"Argument max-buckets must be an integer between 1 and {S3_LIST_BUCKETS_MAX}",
                ArgumentName="max-buckets",
            )
        max_buckets = int(text)
    if "\x00" in query.get("prefix", ""):
        raise InvalidArgument(
            "The prefix holds a NUL character, which no bucket name holds", ArgumentName="prefix"
        )
    return BucketListParams(
        max_buckets=max_buckets,
        continuation_token=query.get("continuation-token") or None,
        prefix=query.get("prefix"),
        region=query.get("bucket-region"),
    )


def bucket_list_scope(account: str) -> str:
    """What a ListBuckets continuation token is bound to: its account's bucket list (no bucket
    name has a `/`, so no object listing's token opens here)."""
    return f"/{account}"
