"""map_bounded: results in order, never more than the bound in flight, the first error propagates."""

from __future__ import annotations

import asyncio

import pytest
from dolmen.proxy.concurrency import map_bounded


async def test_results_keep_their_order_and_the_bound_holds():
    in_flight = most = 0

    async def slow_square(value: int) -> int:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.001 * (value % 3))
        in_flight -= 1
        return value * value

    assert await map_bounded(slow_square, list(range(40)), concurrency=5) == [v * v for v in range(40)]
    assert most == 5
    assert await map_bounded(slow_square, [], concurrency=5) == []


async def test_the_first_error_propagates():
    async def fail_on_seven(value: int) -> int:
        if value == 7:
            raise ValueError("seven")
        return value

    with pytest.raises(ExceptionGroup) as caught:
        await map_bounded(fail_on_seven, list(range(20)), concurrency=3)
    assert caught.group_contains(ValueError)
