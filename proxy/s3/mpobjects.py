"""Completed multipart uploads as S3 objects, pure: what the manifest keeps, ETags, parts and checksums.

A completed upload is a large-object manifest (dolmen.proxy.largeobjects,
proxy/LARGE_OBJECTS.md) in the bucket, over the parts in the uploads
container. Beside the contract's items (`dolmen-sys-s3-etag`,
`dolmen-sys-s3-parts`), the manifest keeps the upload's id
(`dolmen-sys-s3-upload-id`: the cleaner keeps exactly the parts the key's
current manifest of that upload uses) and its checksum
(`dolmen-sys-s3-checksum-<algorithm>` and `-type`). A Swift SLO read through S3
shows its SLO ETag and has no parts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from dolmen.proxy.largeobjects import S3_ETAG_ITEM, S3_PARTS_ITEM, SLO_ITEM, SLO_SIZE_ITEM
from dolmen.proxy.s3.checksums import ALGORITHMS, FULL_OBJECT
from dolmen.proxy.s3.errors import InvalidPart

from dolmen.cluster.objects import ObjectInfo

UPLOAD_ID_ITEM = "dolmen-sys-s3-upload-id"
CHECKSUM_ITEM_PREFIX = "dolmen-sys-s3-checksum-"
CHECKSUM_TYPE_ITEM = "dolmen-sys-s3-checksum-type"


def manifest_items(
    *, etag: str, part_sizes: Sequence[int], upload_id: str, checksum: tuple[str, str, str] | None
) -> dict[str, str]:
    items = {
        S3_ETAG_ITEM: etag,
        S3_PARTS_ITEM: json.dumps(list(part_sizes), separators=(",", ":")),
        UPLOAD_ID_ITEM: upload_id,
    }
    if checksum is not None:
        algorithm, value, checksum_type = checksum
        items[CHECKSUM_ITEM_PREFIX + algorithm] = value
        items[CHECKSUM_TYPE_ITEM] = checksum_type
    return items


def is_large(info: ObjectInfo) -> bool:
    return SLO_ITEM in info.metadata


def s3_etag(info: ObjectInfo) -> str:
    """The ETag S3 shows: a multipart upload's `<md5>-<N>`, an SLO's ETag, or the object's MD5."""
    return info.metadata.get(S3_ETAG_ITEM) or info.metadata.get(SLO_ITEM) or info.etag


def s3_length(info: ObjectInfo) -> int:
    size = info.metadata.get(SLO_SIZE_ITEM, "")
    return int(size) if is_large(info) and size.isdigit() else info.length


def part_sizes(info: ObjectInfo) -> list[int] | None:
    """Each part's length of a completed multipart upload; None for any other object."""
    text = info.metadata.get(S3_PARTS_ITEM)
    if text is None:
        return None
    sizes = json.loads(text)
    assert isinstance(sizes, list) and all(isinstance(size, int) for size in sizes), "a corrupt parts item"
    return sizes


def upload_id_of(info: ObjectInfo) -> str | None:
    return info.metadata.get(UPLOAD_ID_ITEM)


def part_range(sizes: Sequence[int] | None, number: int, length: int) -> tuple[int, int] | None:
    """Part `number`'s inclusive byte range; None for an empty object; InvalidPart (400, as S3 answers)
    past the parts.

    An object that is not a multipart upload has one part: itself."""
    parts = list(sizes) if sizes is not None else [length]
    if not 1 <= number <= len(parts):
        raise InvalidPart(
            "The requested partnumber is not satisfiable",
            PartNumberRequested=str(number),
            ActualPartCount=str(len(parts)),
        )
    first = sum(parts[: number - 1])
    if parts[number - 1] == 0:
        return None
    return first, first + parts[number - 1] - 1


def metadata_checksum(metadata: Mapping[str, str]) -> tuple[str, str, str] | None:
    """(algorithm, value, type) a manifest keeps for its upload's checksum, or None."""
    for algorithm in ALGORITHMS:
        value = metadata.get(CHECKSUM_ITEM_PREFIX + algorithm)
        if value is not None:
            return algorithm, value, metadata.get(CHECKSUM_TYPE_ITEM, FULL_OBJECT)
    return None
