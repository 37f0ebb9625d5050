"""The services' collector: frozen startup objects, collections on a clock, settings restored."""

from __future__ import annotations

import asyncio
import gc
import weakref

from dolmen.collector import YOUNG_OBJECTS_TRIGGER, collecting_on_a_clock


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def a_cycle() -> weakref.ref[Node]:
    first, second = Node(), Node()
    first.other, second.other = second, first
    return weakref.ref(first)


def test_a_cycle_is_collected_within_a_tick_however_few_objects_were_allocated() -> None:
    async def main() -> tuple[bool, bool, int, tuple[int, ...]]:
        async with collecting_on_a_clock(tick_s=0.05):
            settings = gc.get_threshold()
            frozen = gc.get_freeze_count()
            cycle = a_cycle()
            alive_at_once = cycle() is not None  # the allocation count is far from its trigger
            await asyncio.sleep(0.3)
            return alive_at_once, cycle() is None, frozen, settings

    thresholds = gc.get_threshold()
    alive_at_once, collected, frozen, settings = asyncio.run(main())
    assert alive_at_once and collected
    assert frozen > 0 and settings == (YOUNG_OBJECTS_TRIGGER, *thresholds[1:])
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == 0
