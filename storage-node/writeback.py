"""Start writing a body's newest bytes to disk while the rest still arrives (Linux only).

A large body is made durable by one fdatasync after its last byte. Left alone, the kernel
writes the dirty pages back only then (or after its dirty-expiry time), so the PUT pays the
whole disk write after the whole network transfer. `start_writeback` asks the kernel to begin
writing a range now, asynchronously (sync_file_range with SYNC_FILE_RANGE_WRITE, which waits
for nothing but a full request queue), so the disk works while the network does and the final
fdatasync has little left to wait for. Durability does not depend on it: fdatasync before the
rename stays the only point where the body is known to be on disk; where the call does not
exist (not Linux) or fails, nothing changes but the timing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h: start writeback of dirty pages in the range, do not wait


def _load() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load()


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Begin writing bytes [offset, offset + length) of `fd` to disk; False if it could not
    (the final fdatasync then does all of it). Blocking only briefly: call it off the event loop."""
    if _sync_file_range is None or length <= 0:
        return False
    return _sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE) == 0
