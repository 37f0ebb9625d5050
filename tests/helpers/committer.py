"""Make a device store's committer take several changes as one batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import Any


async def in_one_batch(store: Any, changes: list[Awaitable[Any]]) -> list[Any]:
    """Run `changes` (each submits one change to `store`'s committer) while the committer is
    held on a change of its own, so that they queue up and commit as one batch; their
    outcomes, exceptions included, in order."""
    busy, release = threading.Event(), threading.Event()

    def hold(txn: Any) -> tuple[None, list[str]]:
        busy.set()
        release.wait(10)
        return None, []

    held = asyncio.ensure_future(store.submit(hold))
    await asyncio.to_thread(busy.wait, 10)
    waiting = asyncio.gather(*changes, return_exceptions=True)
    await asyncio.sleep(0.05)  # every change queued behind the held one
    release.set()
    await held
    return await waiting
