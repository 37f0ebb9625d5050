"""xxh3 checksums of bodies: one per 64 KiB block and one for the whole body.

Checksums are xxh3_64 (seed 0) as unsigned 64-bit integers; on the wire and in logs
they are 16 lowercase hex digits (`format_xxh3` / `parse_xxh3`). Block i covers body
bytes [i * 64 KiB, (i + 1) * 64 KiB); the last block may be short; an empty body has
no blocks. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import xxhash
from dolmen.storage_node.errors import BadRequest

from dolmen.limits import CHECKSUM_BLOCK_BYTES

BLOCK_BYTES = CHECKSUM_BLOCK_BYTES
XXH3_HEX_DIGITS = 16


def xxh3(data: bytes | bytearray | memoryview) -> int:
    """xxh3_64 of `data`."""
    return xxhash.xxh3_64_intdigest(data)


def format_xxh3(value: int) -> str:
    return f"{value:016x}"


def parse_xxh3(text: str) -> int:
    """16 hex digits -> int; BadRequest otherwise."""
    if len(text) != XXH3_HEX_DIGITS:
        raise BadRequest(f"xxh3 must be {XXH3_HEX_DIGITS} hex digits")
    try:
        return int(text, 16)
    except ValueError:
        raise BadRequest("xxh3 must be hex digits") from None


def block_count(length: int) -> int:
    """How many checksum blocks a body of `length` bytes has."""
    assert length >= 0
    return -(-length // BLOCK_BYTES)


def block_checksums(data: bytes | bytearray | memoryview) -> list[int]:
    """The per-block xxh3 list of a whole body held in memory."""
    view = memoryview(data)
    return [xxh3(view[offset : offset + BLOCK_BYTES]) for offset in range(0, len(view), BLOCK_BYTES)]


def body_checksums(data: bytes | bytearray | memoryview) -> tuple[int, list[int]]:
    """(whole-body xxh3, block xxh3s) of a whole body in memory, as BodyHasher gives them. A body
    of one block is hashed once: that block is the whole body."""
    whole = xxh3(data)
    if len(data) <= BLOCK_BYTES:
        return whole, [whole] if len(data) else []
    return whole, block_checksums(data)


def covering_blocks(start: int, end_exclusive: int) -> range:
    """Indexes of the blocks that hold body bytes [start, end_exclusive); empty if the range is empty."""
    assert 0 <= start <= end_exclusive
    if start == end_exclusive:
        return range(0)
    return range(start // BLOCK_BYTES, (end_exclusive - 1) // BLOCK_BYTES + 1)


class BodyHasher:
    """Computes the whole-body xxh3 and per-block xxh3s of a body fed in chunks of any size."""

    def __init__(self) -> None:
        self._whole = xxhash.xxh3_64()
        self._block = xxhash.xxh3_64()
        self._block_filled = 0
        self.blocks: list[int] = []
        self.length = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        view = memoryview(chunk)
        self._whole.update(view)
        self.length += len(view)
        while view:
            take = min(len(view), BLOCK_BYTES - self._block_filled)
            if self._block_filled == 0 and take == BLOCK_BYTES:
                self.blocks.append(xxh3(view[:take]))  # a whole aligned block: hash it in one call
            else:
                self._block.update(view[:take])
                self._block_filled += take
                if self._block_filled == BLOCK_BYTES:
                    self.blocks.append(self._block.intdigest())
                    self._block.reset()
                    self._block_filled = 0
            view = view[take:]

    def finish(self) -> tuple[int, list[int]]:
        """(whole-body xxh3, block xxh3s); call once, after the last `update`."""
        if self._block_filled:
            self.blocks.append(self._block.intdigest())
            self._block.reset()
            self._block_filled = 0
        return self._whole.intdigest(), self.blocks


def verify_blocks(data: bytes | memoryview, first_block: int, expected: Sequence[int]) -> int | None:
    """Check consecutive whole blocks of `data` starting at block `first_block`.

    `data` holds blocks first_block, first_block + 1, ... (the last may be short). Returns the
    index of the first block that does not match `expected`, or None if all match.
    """
    view = memoryview(data)
    for number, offset in enumerate(range(0, len(view), BLOCK_BYTES)):
        index = first_block + number
        if index >= len(expected) or xxh3(view[offset : offset + BLOCK_BYTES]) != expected[index]:
            return index
    return None
