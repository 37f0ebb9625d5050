"""glibc malloc settings for the processes that move object bodies (proxy, storage node).

By default glibc hands out large blocks (128 KiB and up, a threshold it raises as such blocks
are freed, to at most 32 MiB) as fresh memory maps, and gives the top of its heap back to the
kernel once more than twice that threshold lies free there. A process streaming bodies
allocates and frees such blocks all the time: every 256 KiB read of the event loop, every
1 MiB frame. So most of them came as pages new from the kernel: a page fault and a zeroed
page each 4 KiB, and in a virtual machine the host backing the page again. `keep_freed_memory`
serves blocks up to MMAP_THRESHOLD_BYTES from the heap and keeps up to TRIM_THRESHOLD_BYTES
of freed heap for the next ones. Measured on the S3 listener, 1 GiB in 64 MiB parts: the
proxy's system time went from 1.4-1.5 to 1.0 s per GiB (bench/README.md).

The cost is memory a process keeps after a burst: at most TRIM_THRESHOLD_BYTES of free heap
above what it uses. Where glibc's mallopt is not there (another C library), nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # malloc.h
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 4 * 2**20  # above the largest buffers of the data path (1 MiB frames)
TRIM_THRESHOLD_BYTES = 64 * 2**20


def keep_freed_memory() -> bool:
    """Apply the settings above to this process (call once, early); False where it could not."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
