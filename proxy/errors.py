"""What can go wrong in a front door, named for what happened.

    DolmenError
     +-- ProxyError                   a request the proxy refuses before or after the cluster
          +-- BadRequest              malformed input (400)
          |    +-- InvalidName        an account, container or object name Swift would refuse
          |    +-- InvalidMetadata    too many, too long or malformed metadata items
          |    +-- InvalidAcl         an ACL header that does not parse
          |    +-- InvalidDeleteAt    X-Delete-At / X-Delete-After not an integer or in the past
          |    +-- ManifestInvalid    a large-object manifest Swift would refuse (per-segment messages)
          +-- InvalidUtf8             a path or query that is not UTF-8, or holds NUL (412, as Swift)
          +-- NoSuchPath              not a Swift path at all (404)
          +-- NotAuthenticated        no token, or a token that does not validate (401)
          |    +-- TempUrlInvalid     a TempURL that is malformed, expired or wrongly signed (401)
          +-- AccessDenied            authenticated, but not allowed (403)
          +-- MethodNotAllowed        a verb the resource does not have (405)
          +-- LengthRequired          a PUT body with neither Content-Length nor chunked encoding (411)
          +-- ListingLimitExceeded    `limit` above the listing maximum (412)
          +-- InvalidCopySource       X-Copy-From / Destination not `container/object` (412)
          +-- VersionsLocationUnusable the versions container is missing or not writable (412, as Swift)
          +-- EntityTooLarge          a body above the object size limit (413)
          |    +-- QuotaExceeded      a write that would pass a container or account quota (413)
          |    +-- ManifestTooLarge   an SLO manifest over Swift's size or segment count (413, detail shown)
          +-- SymlinkConflict         a symlink loop too long, or a static link's target changed (409)
          +-- SegmentInvalid          a large object's segment is missing or changed (409 before the
          |                           first byte; after it, the connection is cut)
          +-- IdentityUnavailable     identity did not answer a v1 auth request in time (503)
          +-- ClientTooSlow           no body bytes for client_timeout_s (408)
          +-- ClientGone              the client hung up inside its body (499)

Each carries `detail`, the one sentence the client sees in the body. The Swift
boundary (`dolmen.proxy.swift.responses`) maps these and the cluster client's
errors to statuses in one table.
"""

from __future__ import annotations

from dolmen.errors import DolmenError


class ProxyError(DolmenError):
    """A request the proxy refuses; `detail` is safe to show the client."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ProxyError):
    pass


class InvalidName(BadRequest):
    pass


class InvalidMetadata(BadRequest):
    pass


class InvalidAcl(BadRequest):
    pass


class InvalidDeleteAt(BadRequest):
    pass


class ManifestInvalid(BadRequest):
    """A manifest Swift would refuse; `detail` holds Swift's message (one line per bad entry)."""


class InvalidUtf8(ProxyError):
    pass


class NoSuchPath(ProxyError):
    pass


class NotAuthenticated(ProxyError):
    pass


class TempUrlInvalid(NotAuthenticated):
    pass


class AccessDenied(ProxyError):
    pass


class MethodNotAllowed(ProxyError):
    pass


class LengthRequired(ProxyError):
    pass


class ListingLimitExceeded(ProxyError):
    pass


class InvalidCopySource(ProxyError):
    pass


class VersionsLocationUnusable(ProxyError):
    pass


class EntityTooLarge(ProxyError):
    pass


class QuotaExceeded(EntityTooLarge):
    pass


class ManifestTooLarge(EntityTooLarge):
    pass


class SymlinkConflict(ProxyError):
    pass


class SegmentInvalid(ProxyError):
    """A large object's segment is missing or no longer matches its manifest entry."""


class IdentityUnavailable(ProxyError):
    pass


class ClientTooSlow(ProxyError):
    """The client sent no body bytes for client_timeout_s (408; nothing stored)."""


class ClientGone(ProxyError):
    """The client disconnected in the middle of its body (499; nothing stored)."""
