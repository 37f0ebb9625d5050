"""Garbage collector settings for long-running services.

`collecting_on_a_clock` is where a service serves from. It moves what startup made (modules,
configuration, rings, stores) out of the collector's view, so that full collections stop walking
it again and again, and it collects on a clock rather than on CPython's allocation count.

Why a clock: a storage node answering 4 KiB PUTs at concurrency 64 keeps about 6,000 young
objects alive (those of the requests in flight), and CPython's trigger (700 more allocations than
deallocations) then fired every 60 requests, to walk them all for 0.3 ms and find nothing: 3% of
the node's CPU, and no garbage. Now the young objects are collected once a second (`TICK_S`), and
everything every minute; the allocation count still triggers a collection, at
YOUNG_OBJECTS_TRIGGER (a burst of allocations that outgrows any steady load).

So an object caught in a reference cycle lives at most about a second (a minute if it had
survived a collection already), where CPython's trigger makes no promise at all (an idle
service never collects). Nothing may depend on that timing for a scarce resource: a failed
read's frames once held an LMDB read transaction, and with it one of the 126 reader slots, until
a collection found them; DeviceStore._read_sync lets go of it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

TICK_S = 1.0
FULL_EVERY_TICKS = 60
YOUNG_OBJECTS_TRIGGER = 20_000


@contextlib.asynccontextmanager
async def collecting_on_a_clock(tick_s: float = TICK_S) -> AsyncIterator[None]:
    """Enter once startup is done and serving begins; the collector's settings come back on exit."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS_TRIGGER, *thresholds[1:])
    ticking = asyncio.get_running_loop().create_task(_collect_every(tick_s))
    try:
        yield
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _collect_every(tick_s: float) -> None:
    ticks = 0
    while True:
        await asyncio.sleep(tick_s)
        ticks += 1
        gc.collect(2 if ticks % FULL_EVERY_TICKS == 0 else 1)
