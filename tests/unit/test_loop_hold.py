"""LoopHold: the loop's thread stands still for the burst, and never longer than its bounds;
the committer asks for it only for a batch of enough records."""

from __future__ import annotations

import asyncio
import threading
import time

from dolmen.storage_node.device import HOLD_BATCH_CHANGES_MIN, _Change, _hold_for

from dolmen.loop_hold import LoopHold


async def ticker(ticks: list[float]) -> None:
    """Record a time at every turn of the loop."""
    while True:
        ticks.append(time.monotonic())
        await asyncio.sleep(0)


async def test_the_loop_does_not_turn_while_held() -> None:
    loop = asyncio.get_running_loop()
    ticks: list[float] = []
    task = asyncio.create_task(ticker(ticks))
    await asyncio.sleep(0.01)
    spans: dict[str, float] = {}

    def burst() -> None:
        with LoopHold(loop) as hold:
            spans["held"] = hold.held
            spans["start"] = time.monotonic()
            time.sleep(0.05)  # lets go of the GIL, as a C call does
            spans["end"] = time.monotonic()

    await asyncio.to_thread(burst)
    task.cancel()
    assert spans["held"] is True
    assert not [tick for tick in ticks if spans["start"] < tick < spans["end"]]
    assert [tick for tick in ticks if tick > spans["end"]], "the loop turns again after the burst"


async def test_a_loop_that_does_not_come_is_not_waited_for_long() -> None:
    loop = asyncio.get_running_loop()
    outcome: dict[str, float] = {}

    def burst() -> None:
        started = time.monotonic()
        with LoopHold(loop, reach_timeout_s=0.02) as hold:
            outcome["held"] = hold.held
            outcome["reach_s"] = time.monotonic() - started

    thread = threading.Thread(target=burst)
    thread.start()
    time.sleep(0.2)  # noqa: ASYNC251 (on purpose: the loop's thread is busy and cannot take its turn)
    thread.join(2)
    assert not thread.is_alive(), "the burst still waits for the loop"
    assert outcome["held"] is False
    assert outcome["reach_s"] < 0.15
    started = time.monotonic()
    await asyncio.sleep(0)  # the late turn finds the burst over and goes straight on
    await asyncio.sleep(0)
    assert time.monotonic() - started < 0.05


async def test_the_loop_waits_no_longer_than_the_hold_timeout() -> None:
    loop = asyncio.get_running_loop()
    entered = threading.Event()
    leave = threading.Event()
    hold = LoopHold(loop, hold_timeout_s=0.05)

    def burst() -> None:
        with hold:
            entered.set()
            leave.wait(5)

    thread = threading.Thread(target=burst)
    thread.start()
    started = time.monotonic()
    await asyncio.to_thread(entered.wait, 5)
    await asyncio.sleep(0)
    waited_s = time.monotonic() - started
    leave.set()
    thread.join()
    assert hold.held is True
    assert 0.04 < waited_s < 1.0


def test_a_closed_loop_is_not_held() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    with LoopHold(loop) as hold:
        assert hold.held is False


async def test_the_committer_holds_the_loop_only_for_a_batch_of_enough_records() -> None:
    loop = asyncio.get_running_loop()

    def batch(*weights: int) -> list[_Change]:
        return [_Change(lambda txn: (None, []), loop.create_future(), loop, [], weight) for weight in weights]

    assert not isinstance(_hold_for(batch(*[1] * (HOLD_BATCH_CHANGES_MIN - 1))), LoopHold)
    assert isinstance(_hold_for(batch(*[1] * HOLD_BATCH_CHANGES_MIN)), LoopHold)
    assert isinstance(_hold_for(batch(HOLD_BATCH_CHANGES_MIN)), LoopHold)  # one UPDATE of many entries
    assert not isinstance(_hold_for(batch(2, 3)), LoopHold)
    # A quiet loop (answering one request at most: the node tells the store) is never held.
    assert not isinstance(_hold_for(batch(*[1] * 100), loop_is_quiet=True), LoopHold)
