"""Swift's error statuses and bodies, in one table.

Swift answers errors with a small HTML page, `<html><h1>Title</h1><p>Explanation</p></html>`
(text/html), or, where it has something specific to say (a name too long, bad
metadata), with that sentence as text/plain. `error_status` maps every
expected exception to its status; anything else is a bug and becomes a bare 500.
"""

from __future__ import annotations

from dolmen.proxy import errors

from dolmen.errors import DolmenError

REASONS: dict[int, tuple[str, str]] = {
    400: (
        "Bad Request",
        "The server could not comply with the request since it is either malformed or otherwise incorrect.",
    ),
    401: (
        "Unauthorized",
        "This server could not verify that you are authorized to access the document you requested.",
    ),
    403: ("Forbidden", "Access was denied to this resource."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed", "The method is not allowed for this resource."),
    408: ("Request Timeout", "The server has waited too long for the request to be sent by the client."),
    409: ("Conflict", "There was a conflict when trying to complete your request."),
    411: ("Length Required", "Content-Length header required."),
    412: ("Precondition Failed", "A precondition for this request was not met."),
    413: ("Request Entity Too Large", "The body of your request was too large for this server."),
    416: ("Requested Range Not Satisfiable", "The Range requested is not available."),
    422: ("Unprocessable Entity", "Unable to process the contained instructions"),
    499: ("Client Disconnect", "The client was disconnected during request."),
    500: (
        "Internal Error",
        "The server has either erred or is incapable of performing the requested operation.",
    ),
    503: ("Service Unavailable", "The server is currently unavailable. Please try again at a later time."),
    507: ("Insufficient Storage", "There was not enough space to save the resource."),
}

# Errors whose detail is the body (text/plain), as Swift sends them.
PLAIN_DETAIL = (
    errors.BadRequest,
    errors.InvalidUtf8,
    errors.ListingLimitExceeded,
    errors.InvalidCopySource,
    errors.VersionsLocationUnusable,
    errors.TempUrlInvalid,
    errors.QuotaExceeded,
    errors.ManifestTooLarge,
    errors.SymlinkConflict,
)

PROXY_STATUSES: dict[type[errors.ProxyError], int] = {
    errors.BadRequest: 400,
    errors.InvalidUtf8: 412,
    errors.NoSuchPath: 404,
    errors.NotAuthenticated: 401,
    errors.AccessDenied: 403,
    errors.MethodNotAllowed: 405,
    errors.LengthRequired: 411,
    errors.ListingLimitExceeded: 412,
    errors.InvalidCopySource: 412,
    errors.VersionsLocationUnusable: 412,
    errors.EntityTooLarge: 413,
    errors.SegmentInvalid: 409,
    errors.SymlinkConflict: 409,
    errors.IdentityUnavailable: 503,
    errors.ClientTooSlow: 408,
    errors.ClientGone: 499,
}

# The cluster client's errors, by class name, so that this table does not import it.
CLUSTER_STATUSES: dict[str, int] = {
    "NotFound": 404,
    "ContainerNotEmpty": 409,
    "Conflict": 409,
    "PreconditionFailed": 412,
    "NotModified": 304,
    "RangeNotSatisfiable": 416,
    "EtagMismatch": 422,
    "BodyCheckFailed": 422,
    "QuorumNotReached": 503,
    "BadName": 400,
    "SystemAccountRefused": 404,
    "RegisterContention": 503,
    "InsufficientStorage": 507,
}


def error_status(error: DolmenError) -> int:
    """The HTTP status of an expected error (500 only for those no table names)."""
    for kind in type(error).__mro__:
        if kind in PROXY_STATUSES:
            return PROXY_STATUSES[kind]
        if kind.__name__ in CLUSTER_STATUSES and kind.__module__.startswith("dolmen.cluster"):
            return CLUSTER_STATUSES[kind.__name__]
    return 500


def error_body(status: int, error: DolmenError | None = None) -> tuple[bytes, str]:
    """(body, content type) of an error answer; HEAD answers send no body but keep the length."""
    if isinstance(error, PLAIN_DETAIL) and error.detail:
        return error.detail.encode(), "text/plain"
    if status in (304,) or status not in REASONS:
        return b"", "text/plain"
    title, explanation = REASONS[status]
    return f"<html><h1>{title}</h1><p>{explanation}</p></html>".encode(), "text/html"
