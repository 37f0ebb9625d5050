"""GetObjectAttributes, pure: which attributes a request asks for, and the XML answer.

`x-amz-object-attributes` lists any of ETag, Checksum, ObjectParts,
StorageClass and ObjectSize (InvalidArgument for none or another name).
ObjectParts is a page of a multipart object's parts (`x-amz-max-parts`, at most
1,000; `x-amz-part-number-marker`); a single-part object has no ObjectParts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dolmen.proxy.s3.errors import InvalidArgument
from dolmen.proxy.s3.render import document, element

from dolmen.limits import S3_LIST_PARTS_MAX

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
_CHECKSUM_ELEMENTS = {
    "crc32": "ChecksumCRC32",
    "crc32c": "ChecksumCRC32C",
    "crc64nvme": "ChecksumCRC64NVME",
    "sha1": "ChecksumSHA1",
    "sha256": "ChecksumSHA256",
}


def checksum_element(algorithm: str) -> str:
    """The XML element S3 names an algorithm's checksum with (`ChecksumCRC32`...)."""
    return _CHECKSUM_ELEMENTS[algorithm]


@dataclass(frozen=True)
class AttributesRequest:
    attributes: frozenset[str]
    max_parts: int
    part_number_marker: int


def _integer(headers: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    value = headers.get(name, "").strip()
    if not value:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise InvalidArgument(f"{name} must be a non-negative integer", ArgumentName=name)
    return min(int(value), maximum)


def parse_attributes_request(headers: Mapping[str, str]) -> AttributesRequest:
    """The attributes a request asks for (lower-cased headers)."""
    names = {name.strip() for name in headers.get("x-amz-object-attributes", "").split(",") if name.strip()}
    by_lower = {name.lower(): name for name in ATTRIBUTES}
    if not names or any(name.lower() not in by_lower for name in names):
        raise InvalidArgument("Invalid attribute name specified.", ArgumentName="x-amz-object-attributes")
    return AttributesRequest(
        attributes=frozenset(by_lower[name.lower()] for name in names),
        max_parts=_integer(headers, "x-amz-max-parts", S3_LIST_PARTS_MAX, S3_LIST_PARTS_MAX),
        part_number_marker=_integer(headers, "x-amz-part-number-marker", 0, 10**9),
    )


@dataclass(frozen=True)
class PartAttributes:
    number: int
    size: int
    checksum: str | None = None  # base64, of the object's checksum algorithm


def attributes_xml(
    asked: AttributesRequest,
    *,
    etag: str,
    size: int,
    checksum: tuple[str, str, str] | None,
    parts: Sequence[PartAttributes] | None,
) -> bytes:
    """The answer: `etag` unquoted, `checksum` as (algorithm, base64, type), `parts` for multipart objects."""
    body = ""
    if "ETag" in asked.attributes:
        body += element("ETag", etag.strip('"'))
    if "Checksum" in asked.attributes and checksum is not None:
        algorithm, value, checksum_type = checksum
        body += (
            f"<Checksum>{element(checksum_element(algorithm), value)}"
            f"{element('ChecksumType', checksum_type)}</Checksum>"
        )
    if "ObjectParts" in asked.attributes and parts is not None:
        body += _parts_xml(asked, parts, algorithm=checksum[0] if checksum else None)
    if "StorageClass" in asked.attributes:
        body += element("StorageClass", "STANDARD")
    if "ObjectSize" in asked.attributes:
        body += element("ObjectSize", str(size))
    return document("GetObjectAttributesResponse", body)


def _parts_xml(asked: AttributesRequest, parts: Sequence[PartAttributes], *, algorithm: str | None) -> str:
    after = [part for part in parts if part.number > asked.part_number_marker]
    shown = after[: asked.max_parts]
    truncated = len(after) > len(shown)
    rows = ""
    for part in shown:
        rows += "<Part>" + element("PartNumber", str(part.number)) + element("Size", str(part.size))
        if algorithm is not None and part.checksum is not None:
            rows += element(checksum_element(algorithm), part.checksum)
        rows += "</Part>"
    next_marker = shown[-1].number if shown else asked.part_number_marker
    return (
        "<ObjectParts>"
        + element("PartsCount", str(len(parts)))
        + element("PartNumberMarker", str(asked.part_number_marker))
        + element("NextPartNumberMarker", str(next_marker))
        + element("MaxParts", str(asked.max_parts))
        + element("IsTruncated", "true" if truncated else "false")
        + rows
        + "</ObjectParts>"
    )
