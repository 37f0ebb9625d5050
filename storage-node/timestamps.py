"""Swift-style timestamps: `1700000000.12345`, optionally `_<16 hex digits>` of offset.

A timestamp is a count of 10-microsecond ticks since the Unix epoch (written with
exactly 10 digits, a dot and 5 digits) plus an optional 64-bit offset that orders
several records made at the same instant (Swift uses it for internal updates).
Order is (ticks, offset). The range is 0 .. 9999999999.99999; offsets 0 .. 2**64 - 1.

`internal` is the canonical text (offset shown only when non-zero); `packed` is a
16-byte big-endian form whose byte order is the timestamp order. Pure: no clock here;
`Timestamp.from_seconds(now_s)` takes the time as an argument.
"""

from __future__ import annotations

import functools
import re
import struct
import time
from dataclasses import dataclass

from dolmen.storage_node.errors import InvalidTimestamp

TICKS_PER_S = 100_000
MICROSECONDS_PER_TICK = 1_000_000 // TICKS_PER_S
TICKS_MAX = 10**15 - 1  # 9999999999.99999
OFFSET_MAX = 2**64 - 1
PACKED_BYTES = 16
CANONICAL_TEXT_BYTES = 16  # "1700000000.12345"
TEXT_BYTES_MAX = CANONICAL_TEXT_BYTES + 1 + 16  # "1700000000.12345_0123456789abcdef"

_PACKED = struct.Struct(">QQ")
# Accept up to 10 integer digits and up to 5 fraction digits (clients send `1700000000.1`);
# the offset is exactly 16 lowercase or uppercase hex digits.
_TEXT = re.compile(
    r"([0-9]{1,10})(?:\.([0-9]{1,5}))?(?:_([0-9a-fA-F]{16}))?"
)  # [0-9]: \d matches any script's digits


@dataclass(frozen=True, order=True, slots=True)
class Timestamp:
    """A point in time with 10 µs resolution and an optional tie-breaking offset."""

    ticks: int
    offset: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.ticks <= TICKS_MAX and 0 <= self.offset <= OFFSET_MAX):
            raise InvalidTimestamp(f"timestamp out of range: ticks={self.ticks} offset={self.offset}")

    @classmethod
    def parse(cls, text: str | bytes) -> Timestamp:
        """Parse `1700000000.12345`, `1700000000.1`, `1700000000` or any of them with `_<16 hex>`.

        Raises InvalidTimestamp for anything else (signs, exponents, spaces, more digits).
        """
        if isinstance(text, bytes):
            try:
                text = text.decode("ascii")
            except UnicodeDecodeError:
                raise InvalidTimestamp("timestamp is not ASCII") from None
        # The canonical form, as every Dolmen service writes it: `1700000000.12345`, in half the
        # time of the pattern (a node parses one per write, and one per entry of an UPDATE).
        if (
            len(text) == CANONICAL_TEXT_BYTES
            and text[10] == "."
            and text.isascii()
            and text[:10].isdigit()
            and text[11:].isdigit()
        ):
            return cls(int(text[:10] + text[11:]))
        if len(text) > TEXT_BYTES_MAX:
            raise InvalidTimestamp(f"timestamp too long: {text[:40]!r}")
        match = _TEXT.fullmatch(text)
        if match is None:
            raise InvalidTimestamp(f"not a timestamp: {text!r}")
        whole, fraction, offset = match.groups()
        ticks = int(whole) * TICKS_PER_S + int((fraction or "").ljust(5, "0"))
        return cls(ticks, int(offset, 16) if offset else 0)

    @classmethod
    def from_seconds(cls, seconds: float, offset: int = 0) -> Timestamp:
        """The timestamp of `seconds` since the epoch, rounded to the nearest 10 µs."""
        return cls(round(seconds * TICKS_PER_S), offset)

    @classmethod
    def unpack(cls, packed: bytes) -> Timestamp:
        """Inverse of `packed`."""
        ticks, offset = _PACKED.unpack(packed)
        return cls(ticks, offset)

    @property
    def normal(self) -> str:
        """`1700000000.12345`, without the offset (what clients see as X-Timestamp)."""
        return internal_text(self.ticks, 0)

    @property
    def internal(self) -> str:
        """The canonical text: `normal`, then `_<16 hex>` if the offset is non-zero."""
        return internal_text(self.ticks, self.offset)

    @property
    def seconds(self) -> float:
        return self.ticks / TICKS_PER_S

    @property
    def packed(self) -> bytes:
        """16 bytes, big-endian ticks then offset: byte order equals timestamp order."""
        return _PACKED.pack(self.ticks, self.offset)

    def __str__(self) -> str:
        return self.internal


ZERO = Timestamp(0)


def internal_text(ticks: int, offset: int) -> str:
    """`Timestamp(ticks, offset).internal`, without building the Timestamp (a listing writes
    thousands)."""
    whole, fraction = divmod(ticks, TICKS_PER_S)
    if offset:
        return f"{whole:010d}.{fraction:05d}_{offset:016x}"
    return f"{whole:010d}.{fraction:05d}"


@functools.lru_cache(maxsize=4096)
def iso_second(seconds: int) -> str:
    """`2026-11-23T16:55:18`: a UTC second in ISO 8601, cached (a listing writes thousands)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def iso_8601(ticks: int) -> str:
    """`2026-11-23T16:55:18.123450`: Swift's last_modified of a timestamp's ticks (ISO 8601 with
    microseconds, UTC, no zone)."""
    seconds, fraction = divmod(ticks, TICKS_PER_S)
    return f"{iso_second(seconds)}.{fraction * MICROSECONDS_PER_TICK:06d}"
