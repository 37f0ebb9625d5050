"""A small read-through cache with a lifetime per entry and a bound on entries, for lookups over the store.

Concurrent misses for one key share one lookup; a lookup that fails is not
remembered (every waiter gets its exception); a result, None included, is kept
for `ttl_s`. At most `entries_max` entries are kept, the least recently filled
first out. The clock is an argument, for tests.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class TtlCache(Generic[Value]):
    def __init__(
        self,
        lookup: Callable[[str], Awaitable[Value | None]],
        *,
        ttl_s: float,
        entries_max: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert ttl_s >= 0 and entries_max >= 1
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._entries_max = entries_max
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Value | None]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[Value | None]] = {}

    async def get(self, key: str, *, filled_after: float | None = None) -> Value | None:
        """The value for `key`: remembered, or looked up (and remembered). With `filled_after`
        (a time of `clock`), a value remembered before then is looked up again."""
        entry = self._entries.get(key)
        if (
            entry is not None
            and self._clock() < entry[0]
            and (filled_after is None or entry[0] - self._ttl_s >= filled_after)
        ):
            return entry[1]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Value | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await self._lookup(key)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # marked retrieved: only the waiters need it
            raise
        finally:
            del self._pending[key]
        future.set_result(value)
        self.put(key, value)
        return value

    def put(self, key: str, value: Value | None) -> None:
        """Remember `value` for `key` now (after this process changed it)."""
        self._entries[key] = (self._clock() + self._ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._entries_max:
            self._entries.popitem(last=False)

    def invalidate(self, key: str) -> None:
        self._entries.pop(key, None)
