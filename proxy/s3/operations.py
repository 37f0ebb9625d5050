"""Which S3 operation a request is, from its method, target and query, pure.

S3 names operations by method, by what the path addresses (service, bucket,
object) and by subresource query parameters (`?location`, `?delete`,
`?list-type=2`...). A subresource Dolmen does not serve yet is NotImplemented,
never silently treated as the plain operation (a `PUT ?acl` must not overwrite
an object); a method the resource does not have is MethodNotAllowed.
"""

from __future__ import annotations

from collections.abc import Mapping

from dolmen.proxy.s3.errors import AccessForbidden, BadRequest, MethodNotAllowed, S3Error, S3NotImplemented
from dolmen.proxy.s3.names import Target

# Subresources of S3's API that change what a request means. Only the ones in
# SERVED are handled; the others answer NotImplemented.
SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
        "inventory", "legal-hold", "lifecycle", "location", "logging", "metadataTable", "metrics",
        "notification", "object-lock", "ownershipControls", "partNumber", "policy", "policyStatus",
        "publicAccessBlock", "replication", "requestPayment", "restore", "retention", "select", "session",
        "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
    }
)  # fmt: skip
SERVED = frozenset(
    {"acl", "attributes", "delete", "location", "partNumber", "uploadId", "uploads", "versions"}
)

_OPERATIONS: dict[tuple[str, str, str], str] = {
    ("service", "GET", ""): "ListBuckets",
    ("bucket", "PUT", ""): "CreateBucket",
    ("bucket", "HEAD", ""): "HeadBucket",
    ("bucket", "DELETE", ""): "DeleteBucket",
    ("bucket", "GET", ""): "ListObjects",
    ("bucket", "GET", "location"): "GetBucketLocation",
    ("bucket", "GET", "acl"): "GetBucketAcl",
    ("bucket", "PUT", "acl"): "PutBucketAcl",
    ("object", "GET", "acl"): "GetObjectAcl",
    ("object", "PUT", "acl"): "PutObjectAcl",
    ("bucket", "POST", "delete"): "DeleteObjects",
    ("bucket", "POST", ""): "PostObject",
    ("object", "PUT", ""): "PutObject",
    ("object", "GET", ""): "GetObject",
    ("object", "HEAD", ""): "HeadObject",
    ("object", "DELETE", ""): "DeleteObject",
    ("object", "GET", "attributes"): "GetObjectAttributes",
    ("object", "GET", "partNumber"): "GetObject",
    ("object", "HEAD", "partNumber"): "HeadObject",
    ("bucket", "GET", "uploads"): "ListMultipartUploads",
    ("bucket", "GET", "versions"): "ListObjectVersions",
    ("object", "POST", "uploads"): "CreateMultipartUpload",
    ("object", "PUT", "partNumber+uploadId"): "UploadPart",
    ("object", "POST", "uploadId"): "CompleteMultipartUpload",
    ("object", "DELETE", "uploadId"): "AbortMultipartUpload",
    ("object", "GET", "uploadId"): "ListParts",
}
# Subresources that go together in one request (UploadPart names its upload and its part).
_COMBINED = frozenset({("partNumber", "uploadId")})


def operation_of(method: str, target: Target, query: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """The S3 operation's name (ListObjectsV2 and CopyObject included); lower-cased `headers`."""
    kind = "service" if target.bucket is None else "bucket" if target.key is None else "object"
    subresources = sorted(SUBRESOURCES.intersection(query))
    unserved = [name for name in subresources if name not in SERVED]
    if unserved:
        raise S3NotImplemented(f"The {unserved[0]!r} subresource is not implemented.")
    subresource = "+".join(subresources)
    if len(subresources) > 1 and tuple(subresources) not in _COMBINED:
        raise S3NotImplemented("More than one subresource in one request is not implemented.")
    operation = _OPERATIONS.get((kind, method, subresource))
    if operation is None:
        raise MethodNotAllowed(Method=method, ResourceType=kind.upper())
    if operation == "ListObjects" and query.get("list-type") == "2":
        return "ListObjectsV2"
    if operation == "PutObject" and "x-amz-copy-source" in headers:
        return "CopyObject"
    if operation == "UploadPart" and "x-amz-copy-source" in headers:
        return "UploadPartCopy"
    return operation


def preflight_refusal(headers: Mapping[str, str]) -> S3Error:
    """The answer to a CORS preflight (OPTIONS; lower-cased `headers`): buckets have no CORS
    configuration yet (a later part), so a complete preflight is refused as S3 refuses one for
    a bucket without it, and an incomplete one is a bad request, as S3 says."""
    if "origin" not in headers or "access-control-request-method" not in headers:
        return BadRequest("Insufficient information. Origin request header needed.")
    return AccessForbidden("CORSResponse: CORS is not enabled for this bucket.")
