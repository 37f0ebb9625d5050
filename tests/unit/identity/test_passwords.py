"""Password hashes: argon2id, salted, verified off the loop, with bounded concurrency."""

from __future__ import annotations

import asyncio
import time

from dolmen.identity.errors import ServiceBusy
from dolmen.identity.passwords import PasswordCost, Passwords

CHEAP = PasswordCost(time_cost=1, memory_cost_kib=64, parallelism=1)


async def test_a_hash_verifies_its_password_only_and_is_salted() -> None:
    passwords = Passwords(CHEAP, threads=1, waiting_max=4)
    try:
        first, second = await passwords.hash("s3cret"), await passwords.hash("s3cret")
        assert first != second and first.startswith("$argon2id$") and "s3cret" not in first
        assert await passwords.verify(first, "s3cret")
        assert not await passwords.verify(first, "s3cret ")
        assert not await passwords.verify(None, "s3cret")
        assert not await passwords.verify("not a hash", "s3cret")
    finally:
        passwords.close()


async def test_a_hash_made_under_another_cost_needs_rehashing() -> None:
    cheap, dearer = (
        Passwords(CHEAP, threads=1, waiting_max=1),
        Passwords(PasswordCost(time_cost=2, memory_cost_kib=128, parallelism=1), threads=1, waiting_max=1),
    )
    try:
        stored = await cheap.hash("pw")
        assert not cheap.needs_rehash(stored) and dearer.needs_rehash(stored)
        assert await dearer.verify(stored, "pw")  # old hashes still verify
    finally:
        cheap.close()
        dearer.close()


async def test_checks_beyond_the_waiting_bound_are_refused() -> None:
    passwords = Passwords(
        PasswordCost(time_cost=4, memory_cost_kib=8192, parallelism=1), threads=1, waiting_max=1
    )
    try:
        stored = await passwords.hash("pw")
        outcomes = await asyncio.gather(
            *(passwords.verify(stored, "pw") for _ in range(4)), return_exceptions=True
        )
        assert outcomes.count(True) == 2
        assert sum(isinstance(outcome, ServiceBusy) for outcome in outcomes) == 2
    finally:
        passwords.close()


async def test_the_production_cost_takes_real_time_and_leaves_the_loop_free() -> None:
    passwords = Passwords(PasswordCost(), threads=1, waiting_max=1)
    try:
        stored = await passwords.hash("pw")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        assert await passwords.verify(stored, "pw")
        elapsed_s = time.perf_counter() - started
        ticker.cancel()
        assert "m=65536,t=3,p=4" in stored
        assert elapsed_s > 0.01  # argon2's defaults: tens to hundreds of milliseconds, never instant
        assert ticks > 10  # the loop kept running while the hash was computed
    finally:
        passwords.close()
