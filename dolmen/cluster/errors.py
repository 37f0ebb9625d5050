"""Errors of the cluster client: what callers map to their protocol (S3, Swift, Keystone).

dolmen.errors.DolmenError
 +-- ClusterError
      +-- NotFound              no live object, container, account or register (404)
      +-- ContainerNotEmpty     a container with objects cannot be deleted (409)
      +-- Conflict              a newer record exists (409)
      +-- PreconditionFailed    If-Match / If-Unmodified-Since / If-None-Match on PUT (412)
      +-- NotModified           If-None-Match / If-Modified-Since on GET or HEAD (304)
      +-- RangeNotSatisfiable   no requested range overlaps the object (416; `length`)
      +-- EtagMismatch          the body's MD5 is not the ETag the caller expected (422)
      +-- BodyCheckFailed       the caller's `check_body` refused the body (the write was aborted)
      +-- QuorumNotReached      too few replicas answered (503: not stored; may appear later, whole)
      +-- BadName               a name or register key breaks the naming rules (400)
      +-- SystemAccountRefused  a system account (".name") without internal=True (403)
      +-- RegisterContention    a compare-and-swap lost to other proposers too many times (503)
      +-- RecordError
           +-- RecordExists     create: the key is taken (409)
           +-- RecordNotFound   update/delete: no such record (404)
           +-- VersionConflict  update/delete: the record has another version (409)
           +-- RecordTooLarge   a record's JSON is over RECORD_BYTES_MAX (413)
"""

from __future__ import annotations

from dolmen.errors import DolmenError


class ClusterError(DolmenError):
    """A cluster operation failed in a way the caller can report."""


class NotFound(ClusterError):
    """No live object, container, account or register has that name."""


class ContainerNotEmpty(ClusterError):
    """The container still holds objects."""


class Conflict(ClusterError):
    """A record at least as new is already stored."""


class PreconditionFailed(ClusterError):
    """A conditional header did not hold."""


class NotModified(ClusterError):
    """The object has not changed since what the caller has (If-None-Match, If-Modified-Since)."""


class RangeNotSatisfiable(ClusterError):
    """No requested byte range overlaps the object; `length` is the object's size."""

    def __init__(self, length: int) -> None:
        super().__init__(f"no requested range overlaps the {length} bytes of the object")
        self.length = length


class EtagMismatch(ClusterError):
    """The body's MD5 differs from the ETag the caller expected; nothing was stored."""


class BodyCheckFailed(ClusterError):
    """The caller's body check refused the body after it was sent; nothing was stored."""


class QuorumNotReached(ClusterError):
    """Too few replicas stored or answered. A write is not reported stored; it may appear later, whole."""


class BadName(ClusterError):
    """A name (account, container, object, collection, register key) breaks the naming rules."""


class SystemAccountRefused(ClusterError):
    """A system account (name starting with '.') was named without internal=True."""


class RegisterContention(ClusterError):
    """Other proposers kept winning the register; the change was not applied (it may retry)."""


class RecordError(ClusterError):
    """A records-layer failure."""


class RecordExists(RecordError):
    """A record with that key already exists."""


class RecordNotFound(RecordError):
    """No record has that key."""


class VersionConflict(RecordError):
    """The record's version is not the one the caller named."""


class RecordTooLarge(RecordError):
    """The record's JSON is larger than a register holds."""
