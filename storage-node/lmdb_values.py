"""What LMDB hands back. A device's transactions are all begun with buffers off (py-lmdb's
default), so the keys and values they read are bytes: copies, never views into the map that a
later write could change under the reader."""

from __future__ import annotations


def stored_bytes(value: bytes | memoryview) -> bytes:
    """A key or value read from LMDB: always bytes (buffers are off)."""
    assert isinstance(value, bytes)
    return value
