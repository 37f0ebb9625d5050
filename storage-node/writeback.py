"""Kernel hints for large bodies: write back early, then leave the page cache (Linux only).

A large body is made durable by one fdatasync after its last byte. Left alone, the kernel
writes the dirty pages back only then (or after its dirty-expiry time), so the PUT pays the
whole disk write after the whole network transfer. `start_writeback` asks the kernel to begin
writing a range now, asynchronously (sync_file_range with SYNC_FILE_RANGE_WRITE, which waits
for nothing but a full request queue), so the disk works while the network does and the final
fdatasync has little left to wait for. Durability does not depend on it: fdatasync before the
rename stays the only point where the body is known to be on disk; where the call does not
exist (not Linux) or fails, nothing changes but the timing.

`drop_cached` tells the kernel a range will not be needed again soon (POSIX_FADV_DONTNEED):
clean pages in it leave the page cache at once, dirty ones or ones still being written are
left alone. The node drops the pages of bodies larger than `page_cache_body_bytes_max` as it
writes and reads them, as Swift's object server does above its `keep_cache_size`. A large
body rarely fits the cache for long anyway; what it would push out are the LMDB maps and the
small bodies that are read again. And a page that is dropped is soon reused by the next
body, where a cache that only grows takes pages that have never been touched. Those cost far
more to fill, above all in a virtual machine (the host backs them on first touch): on this
project's 2-core test VM, writing 384 MiB into a growing cache cost 0.84 s of system time,
and 0.10 s into pages just freed. Like the writeback hint, this changes only the timing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

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


def drop_cached(fd: int, offset: int = 0, length: int = 0) -> bool:
    """Let the clean cached pages of bytes [offset, offset + length) of `fd` go (length 0: to the
    end of the file); False if the hint could not be given. Call it off the event loop."""
    if not hasattr(os, "posix_fadvise") or length < 0:
        return False
    try:
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    except OSError:
        return False
    return True
