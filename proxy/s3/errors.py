"""S3's errors: one class per S3 error code, with its HTTP status and default message.

    DolmenError
     +-- S3Error                        code, status, message, extra XML fields
          +-- AccessDenied (403)        ... one subclass per code below

Pure code raises these; the S3 listener's error middleware renders them as S3's
XML error body (`render.error_xml`). Cluster errors are mapped to them in one
place, at that boundary. The codes and statuses are the AWS S3 API reference's.
"""

from __future__ import annotations

from typing import ClassVar

from dolmen.errors import DolmenError


class S3Error(DolmenError):
    """An S3 error response: `code` and `status` are S3's; `fields` are extra XML elements."""

    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, **fields: str) -> None:
        self.message = message or self.default_message
        self.fields = fields
        super().__init__(self.message)


def _error(code: str, status: int, message: str) -> type[S3Error]:
    return type(code, (S3Error,), {"code": code, "status": status, "default_message": message})


# The names are S3's codes, so that `raise NoSuchKey()` reads as the response it gives.
AccessDenied = _error("AccessDenied", 403, "Access Denied")
AccessForbidden = _error("AccessForbidden", 403, "CORSResponse: This CORS request is not allowed.")
AuthorizationHeaderMalformed = _error(
    "AuthorizationHeaderMalformed", 400, "The authorization header you provided is invalid."
)
AuthorizationQueryParametersError = _error(
    "AuthorizationQueryParametersError", 400, "The authorization query parameters are invalid."
)
BadRequest = _error("BadRequest", 400, "An error occurred when parsing the HTTP request.")
BadDigest = _error("BadDigest", 400, "The Content-MD5 you specified did not match what we received.")
BucketAlreadyExists = _error(
    "BucketAlreadyExists",
    409,
    "The requested bucket name is not available. The bucket namespace is shared by all users "
    "of the system. Please select a different name and try again.",
)
BucketAlreadyOwnedByYou = _error(
    "BucketAlreadyOwnedByYou",
    409,
    "Your previous request to create the named bucket succeeded and you already own it.",
)
BucketNotEmpty = _error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty")
EntityTooLarge = _error(
    "EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size."
)
EntityTooSmall = _error(
    "EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed size."
)
IncompleteBody = _error(
    "IncompleteBody",
    400,
    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
)
InternalError = _error("InternalError", 500, "We encountered an internal error. Please try again.")
InvalidAccessKeyId = _error(
    "InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records."
)
InvalidArgument = _error("InvalidArgument", 400, "Invalid Argument")
UnresolvableGrantByEmailAddress = _error(
    "UnresolvableGrantByEmailAddress",
    400,
    "The email address you provided does not match any account on record.",
)
InvalidBucketName = _error("InvalidBucketName", 400, "The specified bucket is not valid.")
InvalidDigest = _error("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
InvalidPart = _error("InvalidPart", 400, "One or more of the specified parts could not be found.")
InvalidPartOrder = _error("InvalidPartOrder", 400, "The list of parts was not in ascending order.")
InvalidLocationConstraint = _error(
    "InvalidLocationConstraint", 400, "The specified location constraint is not valid."
)
InvalidRange = _error("InvalidRange", 416, "The requested range is not satisfiable")
InvalidRequest = _error("InvalidRequest", 400, "Invalid Request")
KeyTooLongError = _error("KeyTooLongError", 400, "Your key is too long")
MalformedXML = _error(
    "MalformedXML",
    400,
    "The XML you provided was not well-formed or did not validate against our published schema",
)
MalformedACLError = _error(
    "MalformedACLError",
    400,
    "The XML you provided was not well-formed or did not validate against our published schema.",
)
MalformedPOSTRequest = _error(
    "MalformedPOSTRequest", 400, "The body of your POST request is not well-formed multipart/form-data."
)
MaxPostPreDataLengthExceeded = _error(
    "MaxPostPreDataLengthExceeded",
    400,
    "Your POST request fields preceding the upload file were too large.",
)
MaxMessageLengthExceeded = _error("MaxMessageLengthExceeded", 400, "Your request was too big.")
MetadataTooLarge = _error(
    "MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size."
)
MethodNotAllowed = _error(
    "MethodNotAllowed", 405, "The specified method is not allowed against this resource."
)
MissingContentLength = _error("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
NoSuchBucket = _error("NoSuchBucket", 404, "The specified bucket does not exist")
NoSuchUpload = _error(
    "NoSuchUpload",
    404,
    "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
    "aborted or completed.",
)
NoSuchKey = _error("NoSuchKey", 404, "The specified key does not exist.")
S3NotImplemented = _error(
    "NotImplemented", 501, "A header or query you provided implies functionality that is not implemented."
)
PreconditionFailed = _error(
    "PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold"
)
RequestTimeTooSkewed = _error(
    "RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large."
)
ServiceUnavailable = _error("ServiceUnavailable", 503, "Please reduce your request rate.")
SignatureDoesNotMatch = _error(
    "SignatureDoesNotMatch",
    403,
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method.",
)
XAmzContentSHA256Mismatch = _error(
    "XAmzContentSHA256Mismatch",
    400,
    "The provided 'x-amz-content-sha256' header does not match what was computed.",
)
