"""Hold an event loop's thread still while another thread runs a burst of short C calls.

A library that lets go of the GIL around every call (py-lmdb does, for each get, put and
cursor step) makes the thread calling it take the GIL back after each one. While the event
loop's thread runs Python, CPython hands the GIL back only when the waiter has asked for it
for a whole switch interval (5 ms), a wait that starts over each time uvloop drops and
retakes the GIL around one of its callbacks: under load, a burst of a hundred 2 µs calls then
takes several milliseconds of waiting for a fraction of one of work. A shorter switch
interval does not help: every call then pays a forced switch there and back.

`LoopHold` makes the handoff explicit and bounded: the loop's thread is asked to stop at
its next turn (a callback) and waits there, the GIL let go, until the burst is over; the
calls then find the GIL free each time. Only one thread runs Python at a time anyway, so the
loop loses little more than the time the calls spend in C.

    with LoopHold(loop):
        ... many short GIL-releasing calls ...

Both waits are bounded: if the loop does not reach its turn within `reach_timeout_s` the
burst runs without the hold (and the loop, reaching the callback later, goes straight on);
the loop never waits longer than `hold_timeout_s`, whatever the other thread does.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

REACH_TIMEOUT_S = 0.005
HOLD_TIMEOUT_S = 0.1


class LoopHold:
    """One hold of `loop`'s thread, for one burst (a context manager, entered once)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        reach_timeout_s: float = REACH_TIMEOUT_S,
        hold_timeout_s: float = HOLD_TIMEOUT_S,
    ) -> None:
        self._loop = loop
        self._reach_timeout_s = reach_timeout_s
        self._hold_timeout_s = hold_timeout_s
        # Two locks, taken at once, each released once: the cheapest one-shot signal there is
        # (an Event adds a Condition and its waiter list to every wait).
        self._reached = threading.Lock()
        self._reached.acquire()
        self._released = threading.Lock()
        self._released.acquire()
        self.held = False  # whether the loop's thread was waiting when the burst began

    def __enter__(self) -> LoopHold:
        try:
            self._loop.call_soon_threadsafe(self._wait_in_loop)
        except RuntimeError:  # the loop is closed: nothing to hold
            return self
        self.held = self._reached.acquire(timeout=self._reach_timeout_s)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._released.release()

    def _wait_in_loop(self) -> None:
        self._reached.release()
        self._released.acquire(timeout=self._hold_timeout_s)
