"""Large objects: one manifest format and reader for Swift SLOs and S3 multipart (proxy/LARGE_OBJECTS.md)."""

from dolmen.proxy.largeobjects.manifest import (
    S3_ETAG_ITEM,
    S3_PARTS_ITEM,
    SLO_ITEM,
    SLO_SIZE_ITEM,
    Segment,
    is_large_object,
    manifest_body,
    parse_manifest,
    pieces,
    slo_etag,
    split_segment_name,
    total_length,
)
from dolmen.proxy.largeobjects.reader import (
    LargeObjectBody,
    large_object_length,
    open_large_object,
    open_segments,
    read_manifest,
    stream_segments,
)
from dolmen.proxy.largeobjects.writer import put_manifest

__all__ = [
    "S3_ETAG_ITEM",
    "S3_PARTS_ITEM",
    "SLO_ITEM",
    "SLO_SIZE_ITEM",
    "LargeObjectBody",
    "Segment",
    "is_large_object",
    "large_object_length",
    "manifest_body",
    "open_large_object",
    "open_segments",
    "parse_manifest",
    "pieces",
    "put_manifest",
    "read_manifest",
    "slo_etag",
    "split_segment_name",
    "stream_segments",
    "total_length",
]
