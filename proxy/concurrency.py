"""Running one coroutine per item with a bound on how many are in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


async def map_bounded(
    function: Callable[[Item], Awaitable[Result]], items: Sequence[Item], *, concurrency: int
) -> list[Result]:
    """`[await function(item) for item in items]`, at most `concurrency` at a time, results in order.

    The first exception cancels the rest and propagates in an ExceptionGroup (TaskGroup); a cancel
    leaves the calls already finished done and the others cancelled.
    """
    assert concurrency >= 1
    results: list[Result | None] = [None] * len(items)
    pending = iter(enumerate(items))

    async def worker() -> None:
        for index, item in pending:  # one shared iterator: each item is taken once
            results[index] = await function(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(items))):
            group.create_task(worker())
    return results  # type: ignore[return-value]
