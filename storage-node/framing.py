"""The framed body of an object PUT and its signed footer (pure: no I/O).

The byte-for-byte format is in PROTOCOL.md beside this file; it is the contract
the cluster client implements. In short: frames of `type (1 byte) | length
(4 bytes, big-endian) | payload`; DATA frames carry the body, one FOOTER frame
ends it and carries a 32-byte HMAC then a JSON object (action, ETag, xxh3 and
length of the body, extra metadata).

`FrameParser` is an incremental state machine: feed it whatever bytes arrived,
get back events (body chunks and at most one footer). It never buffers more than
one frame header or one footer (FOOTER_BYTES_MAX); body payload passes straight
through as slices of the input. `decode_footer` checks the footer's signature
and fields; the caller compares length and xxh3 with what it wrote.

Errors (DolmenError):

    FramingError                 the body does not follow the protocol (400)
     +-- FrameTooLarge           a frame announces more than its type allows
     +-- BodyTruncated           the body ended before its footer (400, or 499 when the peer left)
     +-- FooterMalformed         the footer is not the JSON object PROTOCOL.md describes
    dolmen.signing.SignatureInvalid   the footer's HMAC is wrong (403)
"""

from __future__ import annotations

import re
import struct
from dataclasses import field

import orjson

from dolmen.errors import DolmenError
from dolmen.limits import (
    ETAG_BYTES_MAX,
    FOOTER_BYTES_MAX,
    FRAME_DATA_BYTES_MAX,
    METADATA_COUNT_MAX,
    OBJECT_BODY_BYTES_MAX,
)
from dolmen.signing import footer_signature, verify_footer
from dolmen.values import value_class

FRAME_HEADER = struct.Struct(">BI")
FRAME_DATA = 0x44  # "D"
FRAME_FOOTER = 0x46  # "F"
FOOTER_MAC_BYTES = 32
FRAMING_HEADER = "X-Backend-Body-Framing"
FRAMING_VERSION = "dolmen-frames-v1"
ACTION_COMMIT = "commit"
ACTION_ABORT = "abort"
_XXH3_HEX = re.compile(r"[0-9a-f]{16}")
_FOOTER_FIELDS = frozenset({"action", "etag", "body_bytes", "body_xxh3_64", "metadata"})


class FramingError(DolmenError):
    """The PUT body does not follow the framing protocol."""


class FrameTooLarge(FramingError):
    """A frame announces a payload longer than its type allows."""


class BodyTruncated(FramingError):
    """The body ended before its footer."""


class FooterMalformed(FramingError):
    """The footer is not a JSON object with the fields PROTOCOL.md requires."""


@value_class
class RawFooter:
    """The footer frame as received: its HMAC and the exact JSON bytes it signs."""

    mac: bytes
    footer_bytes: bytes


@value_class(kw_only=True)
class Footer:
    """A verified footer. For `abort`, only `action` is meaningful."""

    action: str
    etag: str = ""
    body_bytes: int = 0
    body_xxh3_64: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


class FrameParser:
    """Incremental parser of a framed PUT body: feed bytes, get body chunks and the footer.

    `feed` returns a list whose items are `memoryview` (body bytes, in order) or
    one `RawFooter` (always last). After the footer, any further byte is a
    FramingError. `finish` raises BodyTruncated unless the footer arrived.
    """

    def __init__(self) -> None:
        self._header = bytearray()
        self._frame_type = 0
        self._remaining = 0  # payload bytes still expected in the current frame
        self._footer = bytearray()
        self.body_bytes = 0
        self.done = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[memoryview | RawFooter]:
        view = memoryview(data)
        events: list[memoryview | RawFooter] = []
        offset, end = 0, len(view)
        while offset < end:
            if self.done:
                raise FramingError("bytes after the footer")
            if self._remaining == 0:
                if not self._header and end - offset >= FRAME_HEADER.size:  # a whole header: no copy
                    self._start_frame(*FRAME_HEADER.unpack_from(view, offset))
                    offset += FRAME_HEADER.size
                    continue
                piece = view[offset : offset + FRAME_HEADER.size - len(self._header)]
                self._header += piece
                offset += len(piece)
                if len(self._header) < FRAME_HEADER.size:
                    break
                self._start_frame(*FRAME_HEADER.unpack(self._header))
                self._header.clear()
                continue
            chunk = view[offset : offset + self._remaining]
            offset += len(chunk)
            self._remaining -= len(chunk)
            if self._frame_type == FRAME_DATA:
                self.body_bytes += len(chunk)
                events.append(chunk)
                continue
            self._footer += chunk
            if self._remaining == 0:
                events.append(
                    RawFooter(
                        mac=bytes(self._footer[:FOOTER_MAC_BYTES]),
                        footer_bytes=bytes(self._footer[FOOTER_MAC_BYTES:]),
                    )
                )
                self.done = True
        return events

    def _start_frame(self, frame_type: int, length: int) -> None:
        if frame_type == FRAME_DATA:
            if not 1 <= length <= FRAME_DATA_BYTES_MAX:
                raise FrameTooLarge(f"data frame of {length} bytes (1 to {FRAME_DATA_BYTES_MAX})")
            if self.body_bytes + length > OBJECT_BODY_BYTES_MAX:
                raise FrameTooLarge(f"body longer than {OBJECT_BODY_BYTES_MAX} bytes")
        elif frame_type == FRAME_FOOTER:
            if not FOOTER_MAC_BYTES < length <= FOOTER_BYTES_MAX:
                raise FrameTooLarge(f"footer frame of {length} bytes (at most {FOOTER_BYTES_MAX})")
        else:
            raise FramingError(f"unknown frame type {frame_type:#04x}")
        self._frame_type = frame_type
        self._remaining = length

    def finish(self) -> None:
        """Raise BodyTruncated unless the whole body and its footer were fed."""
        if not self.done:
            raise BodyTruncated("body ended before its footer")


def decode_footer(raw: RawFooter, *, key: bytes, request_signature_hex: str) -> Footer:
    """Verify the footer's HMAC (SignatureInvalid) then its fields (FooterMalformed)."""
    verify_footer(
        key, request_signature_hex=request_signature_hex, footer_bytes=raw.footer_bytes, mac=raw.mac
    )
    try:
        document = orjson.loads(raw.footer_bytes)
    except orjson.JSONDecodeError:  # (not UTF-8 included)
        raise FooterMalformed("footer is not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise FooterMalformed("footer is not a JSON object")
    action = document.get("action")
    if action == ACTION_ABORT:
        return Footer(action=ACTION_ABORT)
    if action != ACTION_COMMIT:
        raise FooterMalformed("footer action must be 'commit' or 'abort'")
    unknown = document.keys() - _FOOTER_FIELDS
    if unknown:
        raise FooterMalformed(f"unknown footer field {sorted(unknown)[0]!r}")
    etag = document.get("etag")
    body_bytes = document.get("body_bytes")
    body_xxh3 = document.get("body_xxh3_64")
    metadata = document.get("metadata", {})
    if not isinstance(etag, str) or not etag or len(etag.encode("utf-8")) > ETAG_BYTES_MAX or '"' in etag:
        raise FooterMalformed("footer etag must be a non-empty string without quotes")
    if not isinstance(body_bytes, int) or isinstance(body_bytes, bool) or body_bytes < 0:
        raise FooterMalformed("footer body_bytes must be a non-negative integer")
    if not isinstance(body_xxh3, str) or not _XXH3_HEX.fullmatch(body_xxh3):
        raise FooterMalformed("footer body_xxh3_64 must be 16 lower-case hex digits")
    if not isinstance(metadata, dict) or len(metadata) > METADATA_COUNT_MAX:
        raise FooterMalformed("footer metadata must be an object of at most METADATA_COUNT_MAX entries")
    if metadata and not all(
        isinstance(name, str) and isinstance(value, str) for name, value in metadata.items()
    ):
        raise FooterMalformed("footer metadata names and values must be strings")
    return Footer(
        action=ACTION_COMMIT, etag=etag, body_bytes=body_bytes, body_xxh3_64=body_xxh3, metadata=metadata
    )


def data_frame_header(payload_bytes: int) -> bytes:
    """The 5-byte header of a DATA frame carrying `payload_bytes` (send the payload right after)."""
    assert 1 <= payload_bytes <= FRAME_DATA_BYTES_MAX
    return FRAME_HEADER.pack(FRAME_DATA, payload_bytes)


class FrameAssembler:
    """Gathers body pieces, arriving in any sizes, into whole DATA frames of `payload_bytes_max`
    payload bytes, without copying them: a frame is its header followed by views of the pieces.

    A sender then writes one frame (one vectored write) to each replica however small the
    pieces it was given, so the per-write costs are paid per frame. The frames reference the
    pieces, so a piece must not change once fed: a writable buffer (a bytearray, or a view of
    one) is copied when fed; immutable bytes never are.
    """

    def __init__(self, payload_bytes_max: int = FRAME_DATA_BYTES_MAX) -> None:
        assert 1 <= payload_bytes_max <= FRAME_DATA_BYTES_MAX
        self._payload_bytes_max = payload_bytes_max
        self._parts: list[bytes | memoryview] = []
        self._filled = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[list[bytes | memoryview]]:
        """The frames `data` completed (none until a whole frame's payload has arrived)."""
        view = memoryview(data)
        if not view.readonly:
            view = memoryview(bytes(view))
        frames: list[list[bytes | memoryview]] = []
        while view:
            taken = view[: self._payload_bytes_max - self._filled]
            self._parts.append(taken)
            self._filled += len(taken)
            view = view[len(taken) :]
            if self._filled == self._payload_bytes_max:
                frames.append(self._seal())
        return frames

    def finish(self) -> list[list[bytes | memoryview]]:
        """The last, shorter frame (none if no payload is pending)."""
        return [self._seal()] if self._filled else []

    def _seal(self) -> list[bytes | memoryview]:
        frame = [data_frame_header(self._filled), *self._parts]
        self._parts, self._filled = [], 0
        return frame


def data_frames(data: bytes) -> bytes:
    """`data` as whole DATA frames in memory (none for no data): for small bodies only."""
    parts: list[bytes] = []
    for start in range(0, len(data), FRAME_DATA_BYTES_MAX):
        piece = data[start : start + FRAME_DATA_BYTES_MAX]
        parts += [data_frame_header(len(piece)), piece]
    return b"".join(parts)


def encode_footer(footer: Footer, *, key: bytes, request_signature_hex: str) -> bytes:
    """The whole FOOTER frame (header, HMAC, JSON) for `footer`, signed for this request."""
    if footer.action == ACTION_ABORT:
        document: dict[str, object] = {"action": ACTION_ABORT}
    else:
        assert footer.action == ACTION_COMMIT
        document = {
            "action": ACTION_COMMIT,
            "etag": footer.etag,
            "body_bytes": footer.body_bytes,
            "body_xxh3_64": footer.body_xxh3_64,
            "metadata": footer.metadata,
        }
    footer_bytes = orjson.dumps(document)
    mac = footer_signature(key, request_signature_hex=request_signature_hex, footer_bytes=footer_bytes)
    payload_bytes = FOOTER_MAC_BYTES + len(footer_bytes)
    assert payload_bytes <= FOOTER_BYTES_MAX
    return FRAME_HEADER.pack(FRAME_FOOTER, payload_bytes) + mac + footer_bytes


def frame_body(chunks: list[bytes], footer: Footer, *, key: bytes, request_signature_hex: str) -> bytes:
    """A whole framed body in memory: for tests and small bodies only."""
    frames = b"".join(data_frames(chunk) for chunk in chunks)
    return frames + encode_footer(footer, key=key, request_signature_hex=request_signature_hex)
