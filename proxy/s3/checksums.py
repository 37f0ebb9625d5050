"""S3's additional checksums (`x-amz-checksum-<algorithm>`), computed incrementally over a body, pure.

A checksum travels base64-encoded, in a header or in an aws-chunked trailer;
CRCs are big-endian. CRC32 comes from zlib; CRC32C and CRC64NVME from awscrt
(the AWS common runtime botocore itself uses: native, with the CPU's carry-less
multiply). Algorithms S3 knows and Dolmen does not compute (the xxhash family,
SHA-512, MD5 as a flexible checksum) are refused with InvalidRequest rather than
stored unverified.

Multipart uploads (S3's rules): a COMPOSITE checksum is the algorithm applied
to the concatenation of the parts' binary checksums, shown as `<base64>-<N>`;
a FULL_OBJECT checksum is the checksum of the whole object, which for CRCs is
combined from the parts' CRCs and lengths without reading the data again.
CRC64NVME is FULL_OBJECT only; SHA-1 and SHA-256 are COMPOSITE only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from awscrt import checksums as crt
from dolmen.proxy.s3.errors import BadDigest, InvalidRequest

HEADER_PREFIX = "x-amz-checksum-"
ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
CRC_ALGORITHMS = ("crc32", "crc32c", "crc64nvme")
FULL_OBJECT, COMPOSITE = "FULL_OBJECT", "COMPOSITE"
# The type an upload gets when CreateMultipartUpload names an algorithm but no type (S3's defaults).
DEFAULT_MULTIPART_TYPE = {"crc32": COMPOSITE, "crc32c": COMPOSITE, "crc64nvme": FULL_OBJECT}
_NOT_CHECKSUMS = ("type", "mode", "algorithm")  # x-amz-checksum-type/-mode/-algorithm describe, not claim
_CRC_BYTES = {"crc32": 4, "crc32c": 4, "crc64nvme": 8}
_COMBINE = {"crc32": crt.combine_crc32, "crc32c": crt.combine_crc32c, "crc64nvme": crt.combine_crc64nvme}
# Where a stored object keeps its checksum: footer metadata items, lower-cased here.
FOOTER_PREFIX = "x-object-sysmeta-s3-checksum-"
FOOTER_TYPE = "x-object-sysmeta-s3-checksum-type"


class Checksum(Protocol):
    def update(self, data: bytes | memoryview) -> None: ...
    def digest(self) -> bytes: ...


class _Crc:
    """One CRC, kept as an int; `function(data, previous)` extends it."""

    def __init__(self, algorithm: str) -> None:
        self._algorithm = algorithm
        self._value = 0

    def update(self, data: bytes | memoryview) -> None:
        if self._algorithm == "crc32":
            self._value = zlib.crc32(data, self._value)
        elif self._algorithm == "crc32c":
            self._value = crt.crc32c(data, self._value)
        else:
            self._value = crt.crc64nvme(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(_CRC_BYTES[self._algorithm], "big")


def check_algorithm(algorithm: str) -> str:
    """The lower-case algorithm name if Dolmen computes it; InvalidRequest otherwise."""
    lowered = algorithm.strip().lower()
    if lowered not in ALGORITHMS:
        raise InvalidRequest(f"Checksum algorithm {algorithm!r} is not supported.")
    return lowered


def new_checksum(algorithm: str) -> Checksum:
    """A fresh checksum for a lower-case algorithm name; InvalidRequest if Dolmen does not compute it."""
    algorithm = check_algorithm(algorithm)
    if algorithm in CRC_ALGORITHMS:
        return _Crc(algorithm)
    return hashlib.new(algorithm)


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
    for algorithm in claimed:
        check_algorithm(algorithm)
    return claimed


def check_sdk_algorithm(headers: Mapping[str, str], claimed_algorithm: str | None) -> None:
    """`x-amz-sdk-checksum-algorithm` must name the checksum the request sends (header or trailer)."""
    sdk = headers.get("x-amz-sdk-checksum-algorithm")
    if sdk is None:
        return
    if claimed_algorithm is None or check_algorithm(sdk) != claimed_algorithm:
        raise InvalidRequest(
            f"x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or "
            f"x-amz-trailer headers were found (expected {sdk.lower()})."
        )


def decode(algorithm: str, value_b64: str) -> bytes:
    """The binary checksum a base64 value claims; InvalidRequest if it is not one of this algorithm."""
    try:
        digest = base64.b64decode(value_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"Value for x-amz-checksum-{algorithm} header is invalid.") from None
    if len(digest) != len(new_checksum(algorithm).digest()):
        raise InvalidRequest(f"Value for x-amz-checksum-{algorithm} header is invalid.")
    return digest


def check_digest(algorithm: str, expected_b64: str, computed: bytes) -> None:
    """BadDigest unless `expected_b64` is the base64 of `computed` (a value that is no checksum of this
    algorithm cannot match either: BadDigest too, as S3 answers)."""
    try:
        expected = decode(algorithm, expected_b64)
    except InvalidRequest:
        expected = b""
    if expected != computed:
        raise BadDigest(f"The {algorithm.upper()} you specified did not match the calculated checksum.")


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def footer_items(checksums: Mapping[str, str], checksum_type: str = FULL_OBJECT) -> dict[str, str]:
    """The footer metadata that stores an object's checksum ({algorithm: base64}) and its type."""
    if not checksums:
        return {}
    items = {FOOTER_PREFIX + algorithm: value for algorithm, value in checksums.items()}
    items[FOOTER_TYPE] = checksum_type
    return items


def stored_checksum(extra: Mapping[str, str]) -> tuple[str, str, str] | None:
    """(algorithm, base64 value, type) of an object's footer metadata, or None if it has none."""
    lowered = {name.lower(): value for name, value in extra.items()}
    for algorithm in ALGORITHMS:
        value = lowered.get(FOOTER_PREFIX + algorithm)
        if value is not None:
            return algorithm, value, lowered.get(FOOTER_TYPE, FULL_OBJECT)
    return None


def response_headers(stored: tuple[str, str, str] | None) -> dict[str, str]:
    """`x-amz-checksum-<algorithm>` and `x-amz-checksum-type` of a stored (algorithm, value, type)."""
    if stored is None:
        return {}
    algorithm, value, checksum_type = stored
    return {HEADER_PREFIX + algorithm: value, "x-amz-checksum-type": checksum_type}


def check_multipart_type(algorithm: str, checksum_type: str | None) -> str:
    """The checksum type of a multipart upload with this algorithm; InvalidRequest for a pair S3 refuses."""
    if checksum_type is None:
        return DEFAULT_MULTIPART_TYPE.get(algorithm, COMPOSITE)
    checksum_type = checksum_type.strip().upper()
    if checksum_type not in (FULL_OBJECT, COMPOSITE):
        raise InvalidRequest(f"Value for x-amz-checksum-type header is invalid: {checksum_type}")
    if checksum_type == FULL_OBJECT and algorithm not in CRC_ALGORITHMS:
        raise InvalidRequest(f"The FULL_OBJECT checksum type cannot be used with the {algorithm} algorithm.")
    if checksum_type == COMPOSITE and algorithm == "crc64nvme":
        raise InvalidRequest("The COMPOSITE checksum type cannot be used with the crc64nvme algorithm.")
    return checksum_type


def composite(algorithm: str, part_digests: Sequence[bytes]) -> str:
    """S3's COMPOSITE checksum of a multipart upload: `<base64 of the checksum of the digests>-<N>`."""
    checksum = new_checksum(algorithm)
    for digest in part_digests:
        checksum.update(digest)
    return f"{b64(checksum.digest())}-{len(part_digests)}"


def full_object(algorithm: str, parts: Sequence[tuple[bytes, int]]) -> str:
    """The FULL_OBJECT CRC of a multipart upload from its parts' (CRC, length), without the data."""
    assert algorithm in CRC_ALGORITHMS, algorithm
    combined = 0
    for digest, length in parts:
        combined = _COMBINE[algorithm](combined, int.from_bytes(digest, "big"), length)
    return b64(combined.to_bytes(_CRC_BYTES[algorithm], "big"))
