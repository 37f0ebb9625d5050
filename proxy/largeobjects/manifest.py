"""The stored manifest of a large object and the arithmetic over it, pure (proxy/LARGE_OBJECTS.md).

A manifest is a JSON array of segment entries, in order; each entry names an
ordinary object (or, with `sub_slo`, another manifest) in the manifest's own
account, its ETag, and the bytes it contributes (a `range` of it, or all of it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dolmen.proxy.errors import ManifestInvalid

from dolmen.limits import LARGE_OBJECT_MANIFEST_BYTES_MAX

SLO_ITEM = "dolmen-sys-slo"  # the SLO ETag (hex, no quotes)
SLO_SIZE_ITEM = "dolmen-sys-slo-size"  # the large object's length in bytes
S3_ETAG_ITEM = "dolmen-sys-s3-etag"
S3_PARTS_ITEM = "dolmen-sys-s3-parts"


@dataclass(frozen=True, slots=True)
class Segment:
    """One manifest entry: bytes of `/<container>/<obj>` (all of it, or `range`, inclusive)."""

    container: str
    obj: str
    etag: str  # lower-case hex; a nested manifest's SLO ETag
    length: int  # bytes this entry contributes
    range: tuple[int, int] | None  # inclusive (first, last) within the segment
    sub_slo: bool = False
    content_type: str = ""
    last_modified: str = ""

    def __post_init__(self) -> None:
        assert self.length >= 0, self
        if self.range is not None:
            first, last = self.range
            assert 0 <= first <= last and last - first + 1 == self.length, self

    @property
    def name(self) -> str:
        """The entry's `name`: `/<container>/<obj>`, not percent-encoded."""
        return f"/{self.container}/{self.obj}"


def manifest_body(segments: Sequence[Segment]) -> bytes:
    """The stored form of `segments` (UTF-8 JSON), which `parse_manifest` reads back unchanged."""
    entries: list[dict[str, Any]] = []
    for segment in segments:
        entry: dict[str, Any] = {
            "name": segment.name,
            "hash": segment.etag,
            "bytes": segment.length,
            "content_type": segment.content_type,
            "last_modified": segment.last_modified,
        }
        if segment.range is not None:
            entry["range"] = f"{segment.range[0]}-{segment.range[1]}"
        if segment.sub_slo:
            entry["sub_slo"] = True
        entries.append(entry)
    return json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode()


def parse_manifest(body: bytes) -> list[Segment]:
    """The segments of a stored manifest; ManifestInvalid if it is not one (or over the size bound)."""
    if len(body) > LARGE_OBJECT_MANIFEST_BYTES_MAX:
        raise ManifestInvalid("Manifest is too large")
    try:
        entries = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ManifestInvalid("Manifest is not valid JSON") from None
    if not isinstance(entries, list):
        raise ManifestInvalid("Manifest must be a list of segments")
    return [_segment(entry) for entry in entries]


def _segment(entry: object) -> Segment:
    if not isinstance(entry, dict):
        raise ManifestInvalid("Manifest entries must be objects")
    name, etag, length = entry.get("name"), entry.get("hash"), entry.get("bytes")
    if not isinstance(name, str) or not isinstance(etag, str):
        raise ManifestInvalid("Manifest entries need a name and a hash")
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise ManifestInvalid(f"{name}: bytes must be a non-negative integer")
    container, obj = split_segment_name(name)
    text_range = entry.get("range")
    byte_range = None
    if text_range is not None:
        byte_range = _inclusive_range(text_range)
        if byte_range is None or byte_range[1] - byte_range[0] + 1 != length:
            raise ManifestInvalid(f"{name}: range does not match bytes")
    sub_slo = entry.get("sub_slo", False)
    content_type = entry.get("content_type", "")
    last_modified = entry.get("last_modified", "")
    if (
        not isinstance(sub_slo, bool)
        or not isinstance(content_type, str)
        or not isinstance(last_modified, str)
    ):
        raise ManifestInvalid(f"{name}: malformed entry")
    return Segment(container, obj, etag, length, byte_range, sub_slo, content_type, last_modified)


def split_segment_name(name: str) -> tuple[str, str]:
    """(container, object) of `/<container>/<object>` (the leading slash optional, as Swift accepts)."""
    container, slash, obj = name.removeprefix("/").partition("/")
    if not container or not slash or not obj:
        raise ManifestInvalid(f"{name}: not a /container/object path")
    return container, obj


def _inclusive_range(text: object) -> tuple[int, int] | None:
    if not isinstance(text, str):
        return None
    first, dash, last = text.partition("-")
    if not dash or not (first.isascii() and first.isdigit() and last.isascii() and last.isdigit()):
        return None
    if int(first) > int(last):
        return None
    return int(first), int(last)


def slo_etag(segments: Sequence[Segment]) -> str:
    """Swift's SLO ETag: MD5 (hex) of each entry's hash, or `hash:first-last;` for an entry with a range."""
    digest = hashlib.md5(usedforsecurity=False)
    for segment in segments:
        if segment.range is None:
            digest.update(segment.etag.encode())
        else:
            digest.update(f"{segment.etag}:{segment.range[0]}-{segment.range[1]};".encode())
    return digest.hexdigest()


def total_length(segments: Sequence[Segment]) -> int:
    return sum(segment.length for segment in segments)


def is_large_object(info: Any) -> bool:
    """True for a manifest object (an SLO or a completed S3 multipart upload)."""
    metadata: Mapping[str, str] = info.metadata
    return SLO_ITEM in metadata


def pieces(segments: Sequence[Segment], start: int, stop: int) -> Iterator[tuple[Segment, int, int]]:
    """(segment, first, stop) for the bytes [start, stop) of the large object, in order.

    `first` and `stop` are offsets within the segment's own object (a plain
    object, or the large object a nested manifest describes): whole segments
    outside [start, stop) are skipped, the others cut to it.
    """
    assert 0 <= start <= stop
    if start == stop:
        return
    offset = 0
    for segment in segments:
        segment_start, offset = offset, offset + segment.length
        if offset <= start or segment.length == 0:
            continue
        if segment_start >= stop:
            return
        base = segment.range[0] if segment.range is not None else 0
        yield (
            segment,
            base + max(start, segment_start) - segment_start,
            base + min(stop, offset) - segment_start,
        )
