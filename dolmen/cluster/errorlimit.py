"""Error limiting: a node that keeps failing is skipped for a while (pure: the clock is an argument).

A node with `errors_max` errors (timeouts, connection failures, 5xx, 507) within
`interval_s` is limited until `interval_s` after its last error. At most `errors_max`
error times are kept per node, so memory is bounded by nodes x errors_max.
"""

from __future__ import annotations

from collections import deque


class ErrorLimiter:
    def __init__(self, *, errors_max: int, interval_s: float) -> None:
        assert errors_max >= 1 and interval_s > 0
        self.errors_max = errors_max
        self.interval_s = interval_s
        self._errors: dict[str, deque[float]] = {}

    def record_error(self, node: str, now_s: float) -> bool:
        """Count an error of `node`; True if this error makes it limited."""
        times = self._errors.setdefault(node, deque(maxlen=self.errors_max))
        was_limited = self.is_limited(node, now_s)
        times.append(now_s)
        return not was_limited and self.is_limited(node, now_s)

    def is_limited(self, node: str, now_s: float) -> bool:
        times = self._errors.get(node)
        if not times or len(times) < self.errors_max:
            return False
        # All errors_max kept errors fall within interval_s, and the last is recent.
        return times[-1] - times[0] <= self.interval_s and now_s - times[-1] < self.interval_s
