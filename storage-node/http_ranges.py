"""Byte ranges (RFC 9110 Range, multipart/byteranges), as pure functions.

Range rules, as OpenStack Swift applies them to objects:
- a header that is not `bytes=<spec>[,<spec>...]` with every spec well formed
  (`first-last` with first <= last, `first-`, `-suffix_length`) is ignored:
  the whole body is served (200);
- more than BYTE_RANGES_MAX specs: ignored (the whole body), so that one request
  cannot make the node seek and frame thousands of pieces;
- specs that start at or beyond the end are dropped; if none is left the answer
  is 416 with `Content-Range: bytes */<length>`;
- an empty body ignores the header (there is no byte to select).
"""

from __future__ import annotations

from dataclasses import dataclass

from dolmen.errors import DolmenError
from dolmen.limits import BYTE_RANGES_MAX


class RangeNotSatisfiable(DolmenError):
    """No requested range overlaps the body (416); `length` is the body's length."""

    def __init__(self, length: int) -> None:
        super().__init__(f"no requested range overlaps a body of {length} bytes")
        self.length = length


@dataclass(frozen=True, order=True, slots=True)
class ByteRange:
    """Bytes `start` (inclusive) to `stop` (exclusive) of a body."""

    start: int
    stop: int

    def __post_init__(self) -> None:
        assert 0 <= self.start < self.stop, self

    def content_range(self, length: int) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{length}"


def _parse_spec(spec: str) -> tuple[int | None, int | None] | None:
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    first_text, last_text = first_text.strip(), last_text.strip()
    for text in (first_text, last_text):
        if text and not (text.isascii() and text.isdigit()):
            return None
    first = int(first_text) if first_text else None
    last = int(last_text) if last_text else None
    if first is None and last is None:
        return None
    if first is not None and last is not None and first > last:
        return None
    return first, last


def parse_range(header: str | None, length: int) -> list[ByteRange] | None:
    """The ranges of a `length`-byte body that `header` selects, in request order.

    None means "serve the whole body" (no header, or one to ignore: see the
    module docstring). Raises RangeNotSatisfiable when no range overlaps the body.
    """
    assert length >= 0
    if header is None or length == 0:
        return None
    unit, equals, specs_text = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    specs = specs_text.split(",")
    if len(specs) > BYTE_RANGES_MAX:
        return None
    parsed = [_parse_spec(spec) for spec in specs]
    ranges: list[ByteRange] = []
    for spec in parsed:
        if spec is None:
            return None
        first, last = spec
        if first is None:
            assert last is not None
            if last == 0:
                continue  # a zero-length suffix selects nothing
            ranges.append(ByteRange(max(0, length - last), length))
        elif first < length:
            stop = length if last is None else min(last + 1, length)
            ranges.append(ByteRange(first, stop))
    if not ranges:
        raise RangeNotSatisfiable(length)
    return ranges


def multipart_part_head(boundary: str, content_type: str, byte_range: ByteRange, length: int) -> bytes:
    """The bytes sent before one part's payload in a multipart/byteranges body."""
    return (
        f"--{boundary}\r\nContent-Type: {content_type}\r\n"
        f"Content-Range: {byte_range.content_range(length)}\r\n\r\n"
    ).encode("latin-1")


def multipart_tail(boundary: str) -> bytes:
    """The bytes after the last part's payload."""
    return f"\r\n--{boundary}--\r\n".encode("latin-1")


PART_SEPARATOR = b"\r\n"  # between a part's payload and the next part's head


def multipart_length(boundary: str, content_type: str, ranges: list[ByteRange], length: int) -> int:
    """The exact Content-Length of the multipart/byteranges body for `ranges` (so it need not be chunked)."""
    total = len(multipart_tail(boundary)) + len(PART_SEPARATOR) * (len(ranges) - 1)
    for byte_range in ranges:
        total += len(multipart_part_head(boundary, content_type, byte_range, length))
        total += byte_range.stop - byte_range.start
    return total
