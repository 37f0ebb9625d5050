"""A short-lived, bounded cache of account and container info (metadata, ACLs, counts).

Every authorised request needs its container's ACLs, and would otherwise cost
a quorum read before the real work. Entries live `ttl_s` (so another proxy's
change shows within that bound) and the proxy drops an entry at once on its own
writes. At most `entries_max` entries; the least recently used goes first.
The clock is an argument, so the cache is tested without sleeping.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

Key = tuple[str, str | None]  # (account, container or None for the account itself)
V = TypeVar("V")


class InfoCache(Generic[V]):
    def __init__(self, *, ttl_s: float, entries_max: int) -> None:
        assert ttl_s >= 0 and entries_max >= 0
        self.ttl_s = ttl_s
        self.entries_max = entries_max
        self._entries: OrderedDict[Key, tuple[float, V]] = OrderedDict()

    def get(self, key: Key, *, now_s: float) -> V | None:
        """The cached value, or None if absent or older than ttl_s."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_s, value = entry
        if now_s - stored_s >= self.ttl_s or now_s < stored_s:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: Key, value: V, *, now_s: float) -> None:
        if self.entries_max == 0 or self.ttl_s == 0:
            return
        self._entries[key] = (now_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.entries_max:
            self._entries.popitem(last=False)

    def invalidate(self, account: str, container: str | None = None) -> None:
        """Forget a container's entry, or an account's (its containers' counts change with it)."""
        self._entries.pop((account, container), None)
        if container is not None:
            self._entries.pop((account, None), None)

    def __len__(self) -> int:
        return len(self._entries)
