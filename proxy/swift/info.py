"""`GET /info`: the capabilities and limits Swift clients read before they work, pure."""

from __future__ import annotations

from typing import Any

from dolmen.proxy.swift import tempurl
from dolmen.proxy.swift.cors import CorsSettings

from dolmen.limits import (
    ACCOUNT_NAME_BYTES_MAX,
    BULK_DELETES_MAX,
    BULK_EXTRACT_CONTAINERS_MAX,
    BULK_FAILED_DELETES_MAX,
    BULK_FAILED_EXTRACTIONS_MAX,
    CONTAINER_NAME_BYTES_MAX,
    DLO_SEGMENTS_MAX,
    HEADER_BYTES_MAX,
    LARGE_OBJECT_SEGMENTS_MAX,
    LISTING_PAGE_ENTRIES_MAX,
    METADATA_COUNT_MAX,
    METADATA_NAME_BYTES_MAX,
    METADATA_TOTAL_BYTES_MAX,
    METADATA_VALUE_BYTES_MAX,
    OBJECT_BODY_BYTES_MAX,
    OBJECT_NAME_BYTES_MAX,
    SLO_MANIFEST_REQUEST_BYTES_MAX,
    SYMLINK_HOPS_MAX,
)

SWIFT_COMPATIBLE_VERSION = "2.38.0"  # the Swift release whose v1 API this proxy follows


def large_object_capabilities() -> dict[str, Any]:
    """The sections Swift's slo, dlo, symlink and bulk middlewares add to `/info`."""
    return {
        "slo": {
            "max_manifest_segments": LARGE_OBJECT_SEGMENTS_MAX,
            "max_manifest_size": SLO_MANIFEST_REQUEST_BYTES_MAX,
            "min_segment_size": 1,
            "allow_async_delete": False,
        },
        "dlo": {"max_segments": DLO_SEGMENTS_MAX},
        "symlink": {"symloop_max": SYMLINK_HOPS_MAX, "static_links": True},
        "bulk_delete": {
            "max_deletes_per_request": BULK_DELETES_MAX,
            "max_failed_deletes": BULK_FAILED_DELETES_MAX,
        },
        "bulk_upload": {
            "max_containers_per_extraction": BULK_EXTRACT_CONTAINERS_MAX,
            "max_failed_extractions": BULK_FAILED_EXTRACTIONS_MAX,
        },
    }


def capabilities(*, version: str, cors: CorsSettings) -> dict[str, Any]:
    """The `/info` document: Swift's core section, the auth middleware's and each feature's."""
    return {
        "swift": {
            "version": SWIFT_COMPATIBLE_VERSION,
            "dolmen_version": version,
            "max_file_size": OBJECT_BODY_BYTES_MAX,
            "max_meta_name_length": METADATA_NAME_BYTES_MAX,
            "max_meta_value_length": METADATA_VALUE_BYTES_MAX,
            "max_meta_count": METADATA_COUNT_MAX,
            "max_meta_overall_size": METADATA_TOTAL_BYTES_MAX,
            "max_header_size": HEADER_BYTES_MAX,
            "max_object_name_length": OBJECT_NAME_BYTES_MAX,
            "max_account_name_length": ACCOUNT_NAME_BYTES_MAX,
            "max_container_name_length": CONTAINER_NAME_BYTES_MAX,
            "container_listing_limit": LISTING_PAGE_ENTRIES_MAX,
            "account_listing_limit": LISTING_PAGE_ENTRIES_MAX,
            "extra_header_count": 0,
            "valid_api_versions": ["v1", "v1.0"],
            "policies": [{"name": "Policy-0", "aliases": "Policy-0", "default": True}],
            "allow_account_management": False,
            "account_autocreate": True,
            "strict_cors_mode": cors.strict_mode,
        },
        "tempauth": {"account_acls": True},
        "keystoneauth": {},
        "tempurl": {
            "methods": list(tempurl.METHODS),
            "allowed_digests": list(tempurl.DIGESTS),
            "incoming_remove_headers": ["x-timestamp"],
            "incoming_allow_headers": [],
            "outgoing_remove_headers": ["x-object-meta-*"],
            "outgoing_allow_headers": ["x-object-meta-public-*"],
        },
        **large_object_capabilities(),
        "cors": {"allow_origin": list(cors.allow_origins), "expose_headers": list(cors.expose_headers)},
        "container_quotas": {},
        "account_quotas": {},
        "staticweb": {},
        "versioned_writes": {"allowed_flags": ["x-versions-location", "x-history-location"]},
        "object_versioning": {},
    }
