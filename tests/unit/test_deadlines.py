"""Shared-ticker deadlines: a slow wait times out, a quick one does not, outside cancels pass through."""

from __future__ import annotations

import asyncio

import pytest
from dolmen.storage_node.deadlines import Deadlines


async def test_a_wait_past_its_deadline_raises_timeout_and_a_quick_one_returns():
    deadlines = Deadlines(tick_s=0.01)
    ticker = asyncio.create_task(deadlines.run())
    try:
        with deadlines.within(0.05):
            await asyncio.sleep(0.001)
        with pytest.raises(TimeoutError), deadlines.within(0.03):
            await asyncio.sleep(5)
        assert asyncio.current_task().cancelling() == 0
    finally:
        ticker.cancel()


async def test_an_outside_cancel_is_not_turned_into_a_timeout():
    deadlines = Deadlines(tick_s=0.01)
    ticker = asyncio.create_task(deadlines.run())

    async def waiter():
        with deadlines.within(10):
            await asyncio.sleep(5)

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ticker.cancel()
