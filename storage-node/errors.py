"""The storage node's exceptions: what went wrong, named for what happened.

    dolmen.errors.DolmenError
     +-- StorageNodeError                  any expected failure of the storage node
          +-- BadRequest                   the request cannot be stored as given (HTTP 400)
          |    +-- InvalidName             empty, too long, NUL, lone surrogate, '/' in account/container
          |    +-- InvalidTimestamp        not a Swift-style timestamp
          |    +-- InvalidMetadata         user metadata over the limits in dolmen.limits
          |    +-- InvalidPartition        partition outside the ring's range
          |    +-- InvalidRegister         register key, ballot or value out of bounds
          |    +-- LengthMismatch          body length differs from what was announced (HTTP 400/422)
          +-- ChecksumMismatch             bytes do not match their xxh3
          |    +-- UploadChecksumMismatch  an uploaded body does not match the footer: nothing stored (422)
          |    +-- CorruptBody             a stored copy failed verification and was quarantined (500,
          |                                or a cut stream once a body has started)
          +-- NotFound                     no live object (missing, tombstoned or expired) (404)
          +-- PreconditionFailed           a PUT's If-Match / If-None-Match fails at its commit (412)
          +-- Conflict                     a record at least as new is stored (409); carries its timestamp
          |    +-- NotEmpty                a container or account still lists something (409)
          +-- ListingLimitTooLarge         a listing limit over LISTING_PAGE_ENTRIES_MAX (412, as Swift)
          +-- InsufficientStorage          full disk, free-space reserve reached, or full LMDB map (507)
          +-- DeviceError                  the device directory cannot be served (507 / refuse to start)
               +-- DeviceNotMounted        the directory is missing or not a mount point
               +-- UnknownDevice           the request names a device this node does not serve
               +-- DeviceInUse             another process holds the device's lock
               +-- StampMismatch           the device stamp names another cluster, device or format

Programmer errors are assertions. Raised from the engine (`dolmen.storage_node.device`) and
mapped to HTTP statuses in one place by the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dolmen.errors import DolmenError

if TYPE_CHECKING:
    from dolmen.storage_node.timestamps import Timestamp


class StorageNodeError(DolmenError):
    """An expected failure of the storage node."""


class BadRequest(StorageNodeError):
    """The request cannot be stored as given."""


class MethodNotAllowed(StorageNodeError):
    """The verb does not apply to this path or role (405)."""


class InvalidName(BadRequest):
    """An account, container or object name is not legal."""


class InvalidTimestamp(BadRequest):
    """A timestamp is not in Swift's `1700000000.12345[_<16 hex>]` form or out of range."""


class InvalidMetadata(BadRequest):
    """User metadata exceeds the limits in dolmen.limits (count, name, value or total bytes)."""


class InvalidPartition(BadRequest):
    """A partition number outside 0 .. 2**RING_PART_POWER_MAX - 1."""


class InvalidRegister(BadRequest):
    """A register key, ballot or value is out of bounds."""


class LengthMismatch(BadRequest):
    """The body received is shorter or longer than announced; nothing was stored."""


class ChecksumMismatch(StorageNodeError):
    """Bytes do not match their xxh3 checksum."""


class UploadChecksumMismatch(ChecksumMismatch):
    """An uploaded body's xxh3 differs from the one in the footer; nothing was stored."""


class CorruptBody(ChecksumMismatch):
    """A stored copy failed verification; it has been moved to quarantine and its record removed."""


class NotFound(StorageNodeError):
    """No live object by that name: missing, tombstoned or expired.

    `timestamp` is the stored tombstone's or expired record's timestamp, if there is one
    (Swift answers it as X-Backend-Timestamp on a 404).
    """

    def __init__(self, message: str = "not found", *, timestamp: Timestamp | None = None) -> None:
        super().__init__(message)
        self.timestamp = timestamp


class PreconditionFailed(StorageNodeError):
    """A PUT's condition (If-Match, If-None-Match) does not hold for the object stored when it
    commits: nothing is stored. `timestamp` is the live object's, None if there is none."""

    def __init__(self, message: str, *, timestamp: Timestamp | None) -> None:
        super().__init__(message)
        self.timestamp = timestamp


class Conflict(StorageNodeError):
    """A record at least as new is stored: the write is older, or has the same timestamp and other content.

    `timestamp` is the stored record's timestamp (answered as X-Backend-Timestamp with the 409).
    """

    def __init__(self, message: str, *, timestamp: Timestamp) -> None:
        super().__init__(message)
        self.timestamp = timestamp


class NotEmpty(Conflict):
    """A container still lists objects, or an account containers: it cannot be deleted (409).

    `count` is how many it lists, answered in the header `count_header`
    (X-Container-Object-Count or X-Account-Container-Count).
    """

    def __init__(self, message: str, *, timestamp: Timestamp, count: int, count_header: str) -> None:
        super().__init__(message, timestamp=timestamp)
        self.count = count
        self.count_header = count_header


class ListingLimitTooLarge(StorageNodeError):
    """A listing asked for more than LISTING_PAGE_ENTRIES_MAX entries (412, as Swift answers)."""


class InsufficientStorage(StorageNodeError):
    """The disk is full or below its free-space reserve, or the LMDB map cannot grow further."""


class DeviceError(StorageNodeError):
    """A device directory cannot be served."""


class DeviceNotMounted(DeviceError):
    """The device directory is missing (or, with mount checks on, not a mount point)."""


class UnknownDevice(DeviceError):
    """A request names a device that this node does not serve."""


class DeviceInUse(DeviceError):
    """Another process already serves this device directory (its lock is held)."""


class StampMismatch(DeviceError):
    """The device stamp names another cluster fingerprint, device name or on-disk format version."""
