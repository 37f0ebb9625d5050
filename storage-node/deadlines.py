"""Deadlines for many short waits at once, with one timer for the whole process.

`asyncio.timeout` arms a timer per wait; at thousands of disk steps and body
reads per second that is a visible share of the event loop. Here entering a
deadline costs a dict entry and a clock read, and one ticker task cancels the
waits that outlived theirs. A wait times out between its deadline and
deadline + tick_s: fine for timeouts measured in seconds.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType


class Deadlines:
    """Cancels a task whose wait inside `within(seconds)` outlives it; the wait raises TimeoutError."""

    def __init__(self, *, tick_s: float = 0.25) -> None:
        assert tick_s > 0
        self.tick_s = tick_s
        self._waits: dict[int, Deadline] = {}
        # The ticker's loop: asyncio.current_task(loop) skips looking the loop up, which costs a
        # getpid system call on every call in Python 3.11 (several per request on the node).
        self.loop: asyncio.AbstractEventLoop | None = None

    def within(self, seconds: float) -> Deadline:
        """`with deadlines.within(5.0): await step` raises TimeoutError if step takes much longer than 5 s."""
        return Deadline(self, seconds)

    async def run(self) -> None:
        """The ticker: run it as the one task that enforces every deadline (cancel it to stop)."""
        self.loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick_s)
            now_s = time.monotonic()
            for wait in list(self._waits.values()):
                if not wait.expired and wait.deadline_s <= now_s:
                    wait.expired = True
                    assert wait.task is not None
                    wait.task.cancel()


class Deadline:
    __slots__ = ("deadlines", "seconds", "deadline_s", "task", "expired")

    def __init__(self, deadlines: Deadlines, seconds: float) -> None:
        self.deadlines = deadlines
        self.seconds = seconds
        self.deadline_s = 0.0
        self.task: asyncio.Task[object] | None = None
        self.expired = False

    def __enter__(self) -> Deadline:
        self.task = asyncio.current_task(self.deadlines.loop)
        assert self.task is not None, "a deadline needs a task"
        self.deadline_s = time.monotonic() + self.seconds
        self.deadlines._waits[id(self)] = self
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        del self.deadlines._waits[id(self)]
        if self.expired and exc_type is asyncio.CancelledError:
            assert self.task is not None
            if self.task.uncancel() == 0:  # our cancel, not a shutdown's: report it as a timeout
                raise TimeoutError(f"no progress within {self.seconds} s") from exc
