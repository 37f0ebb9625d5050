"""S3's additional checksums (`x-amz-checksum-<algorithm>`), computed incrementally over a body.

A checksum travels base64-encoded, in a header or in an aws-chunked trailer;
CRCs are big-endian. Algorithms S3 knows and Dolmen does not compute yet
(CRC64NVME, the xxhash family, SHA-512) are refused with InvalidRequest rather than stored unverified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Mapping
from typing import Protocol

import google_crc32c
from dolmen.proxy.s3.errors import BadDigest, InvalidRequest

HEADER_PREFIX = "x-amz-checksum-"
ALGORITHMS = ("crc32", "crc32c", "sha1", "sha256")
_NOT_CHECKSUMS = ("type", "mode")  # x-amz-checksum-type and -mode describe, they do not claim


class Checksum(Protocol):
    def update(self, data: bytes) -> None: ...
    def digest(self) -> bytes: ...


class _Crc32:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


class _Crc32c:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = google_crc32c.extend(self._value, data)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


def new_checksum(algorithm: str) -> Checksum:
    """A fresh checksum for a lower-case algorithm name; InvalidRequest if Dolmen does not compute it."""
    if algorithm == "crc32":
        return _Crc32()
    if algorithm == "crc32c":
        return _Crc32c()
    if algorithm in ("sha1", "sha256"):
        return hashlib.new(algorithm)
    raise InvalidRequest(f"Checksum algorithm {algorithm!r} is not supported.")


def algorithm_of_header(name: str) -> str | None:
    """`crc32` for `x-amz-checksum-crc32`; None for any other header (including `-type` and `-mode`)."""
    lowered = name.lower()
    if not lowered.startswith(HEADER_PREFIX):
        return None
    algorithm = lowered[len(HEADER_PREFIX) :]
    return algorithm if algorithm and algorithm not in _NOT_CHECKSUMS else None


def requested_checksums(headers: Mapping[str, str]) -> dict[str, str]:
    """The checksums a request's headers claim, {algorithm: base64 value}; at most one, as S3 allows."""
    claimed = {
        algorithm: value for name, value in headers.items() if (algorithm := algorithm_of_header(name))
    }
    if len(claimed) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    return claimed


def check_digest(algorithm: str, expected_b64: str, computed: bytes) -> None:
    """BadDigest unless `expected_b64` is the base64 of `computed` (an invalid value is InvalidRequest)."""
    try:
        expected = base64.b64decode(expected_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"Value for x-amz-checksum-{algorithm} header is invalid.") from None
    if expected != computed:
        raise BadDigest(f"The {algorithm.upper()} you specified did not match the calculated checksum.")


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")
