"""Failed-login limits per user and per client address (pure: the clock comes in as an argument).

A key (a user id, a client address) that failed `failures_max` times within the last
`window_s` seconds is refused until the oldest of those failures leaves the window.
A success clears a user's failures, never an address's (one address may try many users).
The limiter remembers at most `keys_max` keys, forgetting the least recently failed first,
so memory stays bounded under a flood of addresses. Limits are per process: with N identity
processes behind a balancer an attacker gets at most N times the configured attempts.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from dolmen.identity.errors import TooManyFailedLogins


class FailureWindow:
    """Recent failure times per key, at most `failures_max` per key and `keys_max` keys."""

    def __init__(self, *, failures_max: int, window_s: float, keys_max: int) -> None:
        assert failures_max >= 1 and window_s > 0 and keys_max >= 1
        self.failures_max = failures_max
        self.window_s = window_s
        self.keys_max = keys_max
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after_s(self, key: str, now_s: float) -> float:
        """Seconds until `key` may try again; 0 if it may now."""
        failures = self._failures.get(key)
        if failures is None or len(failures) < self.failures_max:
            return 0.0
        return max(0.0, failures[0] + self.window_s - now_s)

    def record_failure(self, key: str, now_s: float) -> None:
        failures = self._failures.pop(key, None)
        if failures is None:
            failures = deque(maxlen=self.failures_max)
        failures.append(now_s)
        self._failures[key] = failures  # most recently failed last
        while len(self._failures) > self.keys_max:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)


class LoginLimiter:
    """The two windows a password login must pass: its user's and its client address's."""

    def __init__(
        self, *, user_failures_max: int, address_failures_max: int, window_s: float, keys_max: int
    ) -> None:
        self.users = FailureWindow(failures_max=user_failures_max, window_s=window_s, keys_max=keys_max)
        self.addresses = FailureWindow(
            failures_max=address_failures_max, window_s=window_s, keys_max=keys_max
        )

    def check(self, *, user_key: str, address: str, now_s: float) -> None:
        """Raise TooManyFailedLogins if the user or the address must wait."""
        wait_s = max(self.users.retry_after_s(user_key, now_s), self.addresses.retry_after_s(address, now_s))
        if wait_s > 0:
            raise TooManyFailedLogins("too many failed logins; try again later", retry_after_s=wait_s)

    def failed(self, *, user_key: str, address: str, now_s: float) -> None:
        self.users.record_failure(user_key, now_s)
        self.addresses.record_failure(address, now_s)

    def succeeded(self, *, user_key: str) -> None:
        self.users.clear(user_key)
