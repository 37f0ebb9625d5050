"""Multipart uploads in the store, pure: names in the uploads container, upload records, parts, Complete's rules.

An upload's state and parts live in the reserved container
`reserved_container("uploads", <bucket>)` of the bucket's account, which no
public API can address (dolmen.proxy.reserved):

- the upload record `u/<key>\\x01<upload id>`: a small JSON body (content type,
  metadata and checksum algorithm of the object to be); its name orders uploads
  by key, then by initiation (an upload id starts with its initiation time in
  microseconds, hex), as ListMultipartUploads shows them, and carries what a
  listing shows, so listing uploads reads no record. `\\x01` sorts below every
  printable character; an upload id never contains it, so the last one splits.
- each stored part `p/<upload id>/<part number, 5 digits>/<token>`: a new name
  for every UploadPart, so that a part being replaced never changes an object
  a completed upload's manifest points at. The newest of a number is the part;
  older ones are unused, and the cleaner removes them with the upload's end.

Keys of multipart uploads are at most KEY_BYTES_MAX (989) bytes, not S3's 1,024,
so that the record's name fits the store's 1,024-byte object names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from dolmen.proxy.s3.errors import (
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    KeyTooLongError,
    MalformedXML,
    NoSuchUpload,
)

from dolmen.limits import OBJECT_NAME_BYTES_MAX, S3_PART_BYTES_MIN, S3_PARTS_MAX

UPLOAD_PREFIX = "u/"
PART_PREFIX = "p/"
SEPARATOR = "\x01"
UPLOAD_ID_CHARS = 32  # 16 hex digits of initiation time (µs), 16 of randomness
KEY_BYTES_MAX = OBJECT_NAME_BYTES_MAX - len(UPLOAD_PREFIX) - len(SEPARATOR) - UPLOAD_ID_CHARS
_HEX = frozenset("0123456789abcdef")
_FORMAT = 1


def new_upload_id(now_s: float, random_bytes: bytes) -> str:
    assert len(random_bytes) == 8
    return f"{int(now_s * 1_000_000):016x}{random_bytes.hex()}"


def check_upload_id(text: str | None) -> str:
    """An upload id as Dolmen makes them; NoSuchUpload for anything else (it cannot exist)."""
    if text is None or len(text) != UPLOAD_ID_CHARS or not _HEX.issuperset(text):
        raise NoSuchUpload(UploadId=(text or "")[: UPLOAD_ID_CHARS * 2])
    return text


def initiated_s(upload_id: str) -> float:
    return int(upload_id[:16], 16) / 1_000_000


def check_upload_key(key: str) -> str:
    size_bytes = len(key.encode())
    if size_bytes > KEY_BYTES_MAX:
        raise KeyTooLongError(MaxSizeAllowed=str(KEY_BYTES_MAX), Size=str(size_bytes))
    return key


def record_name(key: str, upload_id: str) -> str:
    return f"{UPLOAD_PREFIX}{key}{SEPARATOR}{upload_id}"


def parse_record_name(name: str) -> tuple[str, str] | None:
    """(key, upload id) of an upload record's name; None for any other name."""
    if not name.startswith(UPLOAD_PREFIX):
        return None
    key, separator, upload_id = name[len(UPLOAD_PREFIX) :].rpartition(SEPARATOR)
    if not separator or len(upload_id) != UPLOAD_ID_CHARS or not _HEX.issuperset(upload_id):
        return None
    return key, upload_id


def parts_prefix(upload_id: str) -> str:
    return f"{PART_PREFIX}{upload_id}/"


def part_name(upload_id: str, number: int, token: str) -> str:
    assert 1 <= number <= S3_PARTS_MAX
    return f"{parts_prefix(upload_id)}{number:05d}/{token}"


def check_part_number(text: str | None) -> int:
    if text is None or not text.isascii() or not text.isdigit() or not 1 <= int(text[:6]) <= S3_PARTS_MAX:
        raise InvalidArgument(
            f"Part number must be an integer between 1 and {S3_PARTS_MAX}, inclusive",
            ArgumentName="partNumber",
        )
    return int(text)


@dataclass(frozen=True, kw_only=True)
class UploadRecord:
    """What CreateMultipartUpload fixed for the object to be."""

    key: str
    upload_id: str
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None
    initiator: str = ""  # the project whose credential created the upload ("": the bucket's owner)

    def encode(self) -> bytes:
        return json.dumps({"format": _FORMAT, **asdict(self)}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, body: bytes) -> UploadRecord:
        document = json.loads(body)
        assert document.pop("format") == _FORMAT, "an upload record of an unknown format"
        return cls(**document)


@dataclass(frozen=True)
class StoredPart:
    """A part as the uploads container lists it; `order` (timestamp, name) picks the newest of a number."""

    number: int
    name: str
    etag: str
    size: int
    last_modified_s: float
    order: tuple[float, str]


def parse_part_entry(name: str, etag: str, size: int, timestamp_s: float) -> StoredPart | None:
    """A listed part; None for a name that is not one."""
    if not name.startswith(PART_PREFIX):
        return None
    pieces = name[len(PART_PREFIX) :].split("/")
    if len(pieces) != 3 or len(pieces[1]) != 5 or not pieces[1].isdigit():
        return None
    return StoredPart(int(pieces[1]), name, etag, size, timestamp_s, (timestamp_s, name))


def latest_parts(parts: Iterable[StoredPart]) -> tuple[dict[int, StoredPart], list[StoredPart]]:
    """The newest part of each number, and every older one (unused: the cleaner removes them)."""
    newest: dict[int, StoredPart] = {}
    older: list[StoredPart] = []
    for part in parts:
        current = newest.get(part.number)
        if current is None or part.order > current.order:
            newest[part.number] = part
            if current is not None:
                older.append(current)
        else:
            older.append(part)
    return newest, older


@dataclass(frozen=True)
class RequestedPart:
    """A `<Part>` of CompleteMultipartUpload: its number, ETag, and checksum ({algorithm: base64})."""

    number: int
    etag: str
    checksums: Mapping[str, str] = field(default_factory=dict)


def normal_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


def choose_parts(requested: Sequence[RequestedPart], stored: Mapping[int, StoredPart]) -> list[StoredPart]:
    """The stored parts Complete assembles, by S3's rules.

    InvalidPartOrder unless numbers ascend strictly; InvalidPart for a part that
    is not stored or whose ETag differs; EntityTooSmall for any part but the last
    below S3_PART_BYTES_MIN. MalformedXML for no parts or more than S3_PARTS_MAX.
    """
    if not 1 <= len(requested) <= S3_PARTS_MAX:
        raise MalformedXML()
    chosen: list[StoredPart] = []
    previous = 0
    for asked in requested:
        if asked.number <= previous:
            raise InvalidPartOrder(
                "The list of parts was not in ascending order. Parts must be ordered by part number."
            )
        previous = asked.number
        part = stored.get(asked.number)
        if part is None or normal_etag(asked.etag) != normal_etag(part.etag):
            raise InvalidPart(
                "One or more of the specified parts could not be found. The part may not have been uploaded, "
                "or the specified entity tag may not match the part's entity tag.",
                PartNumber=str(asked.number),
                ETag=asked.etag,
            )
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < S3_PART_BYTES_MIN:
            raise EntityTooSmall(
                ProposedSize=str(part.size),
                MinSizeAllowed=str(S3_PART_BYTES_MIN),
                PartNumber=str(part.number),
            )
    return chosen


def multipart_etag(etags: Sequence[str]) -> str:
    """S3's ETag of a multipart object: the MD5 of the parts' binary MD5s, `-` the part count."""
    digest = hashlib.md5(b"".join(bytes.fromhex(normal_etag(etag)) for etag in etags)).hexdigest()
    return f"{digest}-{len(etags)}"


def page_parts(
    parts: Mapping[int, StoredPart], *, marker: int, max_parts: int
) -> tuple[list[StoredPart], bool]:
    """ListParts' page: parts numbered above `marker`, at most `max_parts`, and whether more follow."""
    after = sorted((part for number, part in parts.items() if number > marker), key=lambda part: part.number)
    return after[:max_parts], len(after) > max_parts


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix `key` rolls up into under `delimiter` (None: it is listed as itself)."""
    if not delimiter:
        return None
    position = key.find(delimiter, len(prefix))
    return key[: position + len(delimiter)] if position >= 0 else None
