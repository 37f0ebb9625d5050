"""Slow salted password hashes (argon2id), computed off the event loop with bounded concurrency.

Hashing costs about 0.4 s of CPU at argon2's defaults, so it runs in a thread pool of
`threads` workers (argon2-cffi releases the GIL); at most `waiting_max` more checks wait
for a worker, and a check beyond that is refused with ServiceBusy instead of piling up.
A login for an unknown user still verifies against a dummy hash, so that the time of a
failed login does not tell whether the user exists.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from dolmen.identity.errors import ServiceBusy

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class PasswordCost:
    """argon2id parameters; argon2-cffi's defaults (RFC 9106's low-memory choice) unless configured."""

    time_cost: int = argon2.DEFAULT_TIME_COST
    memory_cost_kib: int = argon2.DEFAULT_MEMORY_COST
    parallelism: int = argon2.DEFAULT_PARALLELISM


class Passwords:
    def __init__(self, cost: PasswordCost, *, threads: int, waiting_max: int) -> None:
        assert threads >= 1 and waiting_max >= 0
        self._hasher = argon2.PasswordHasher(
            time_cost=cost.time_cost, memory_cost=cost.memory_cost_kib, parallelism=cost.parallelism
        )
        self._dummy_hash = self._hasher.hash("dolmen-dummy-password")
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="password")
        self._slots = threads + waiting_max
        self._busy = 0

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether `password` matches `stored_hash` (None: no such user; always False, same cost)."""
        return await self._run(self._verify, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether `stored_hash` was made with another cost than the configured one."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            # argon2 compares the digests in constant time.
            return self._hasher.verify(stored_hash or self._dummy_hash, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        if self._busy >= self._slots:
            raise ServiceBusy("too many password checks in progress; try again")
        self._busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)
        finally:
            self._busy -= 1
