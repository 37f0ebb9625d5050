"""Which operation a request is: plain operations, list-type=2, copies, and no silent fallbacks."""

from __future__ import annotations

import pytest
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.names import Target
from dolmen.proxy.s3.operations import operation_of

SERVICE, BUCKET, OBJECT = Target(None, None, False), Target("b", None, False), Target("b", "k", False)


@pytest.mark.parametrize(
    "method, target, query, headers, operation",
    [
        ("GET", SERVICE, {}, {}, "ListBuckets"),
        ("PUT", BUCKET, {}, {}, "CreateBucket"),
        ("GET", BUCKET, {"prefix": "a"}, {}, "ListObjects"),
        ("GET", BUCKET, {"list-type": "2"}, {}, "ListObjectsV2"),
        ("GET", BUCKET, {"location": ""}, {}, "GetBucketLocation"),
        ("POST", BUCKET, {"delete": ""}, {}, "DeleteObjects"),
        ("PUT", OBJECT, {}, {"x-amz-copy-source": "/b/k2"}, "CopyObject"),
        ("GET", OBJECT, {"response-content-type": "x"}, {}, "GetObject"),
        ("HEAD", OBJECT, {}, {}, "HeadObject"),
        ("GET", BUCKET, {"acl": ""}, {}, "GetBucketAcl"),
        ("PUT", BUCKET, {"acl": ""}, {}, "PutBucketAcl"),
        ("GET", OBJECT, {"acl": ""}, {}, "GetObjectAcl"),
        ("PUT", OBJECT, {"acl": ""}, {}, "PutObjectAcl"),
        ("GET", OBJECT, {"attributes": ""}, {}, "GetObjectAttributes"),
        ("GET", OBJECT, {"partNumber": "2"}, {}, "GetObject"),
        ("HEAD", OBJECT, {"partNumber": "2"}, {}, "HeadObject"),
        ("GET", BUCKET, {"uploads": ""}, {}, "ListMultipartUploads"),
        ("POST", OBJECT, {"uploads": ""}, {}, "CreateMultipartUpload"),
        ("PUT", OBJECT, {"partNumber": "1", "uploadId": "u"}, {}, "UploadPart"),
        (
            "PUT",
            OBJECT,
            {"partNumber": "1", "uploadId": "u"},
            {"x-amz-copy-source": "/b/k"},
            "UploadPartCopy",
        ),
        ("POST", OBJECT, {"uploadId": "u"}, {}, "CompleteMultipartUpload"),
        ("DELETE", OBJECT, {"uploadId": "u"}, {}, "AbortMultipartUpload"),
        ("GET", OBJECT, {"uploadId": "u"}, {}, "ListParts"),
    ],
)
def test_operations(method, target, query, headers, operation):
    assert operation_of(method, target, query, headers) == operation


@pytest.mark.parametrize(
    "query",
    [{"lifecycle": ""}, {"retention": ""}, {"tagging": ""}, {"versionId": "3"}, {"uploadId": "u", "acl": ""}],
)
def test_subresources_not_built_yet_are_not_implemented_never_the_plain_operation(query):
    with pytest.raises(errors.S3NotImplemented):
        operation_of("PUT", OBJECT, query, {})


@pytest.mark.parametrize("method, target", [("POST", OBJECT), ("DELETE", SERVICE), ("PATCH", BUCKET)])
def test_methods_a_resource_does_not_have(method, target):
    with pytest.raises(errors.MethodNotAllowed):
        operation_of(method, target, {}, {})
