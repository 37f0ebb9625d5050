"""Failed-login limits: per user and per address, within a window, with bounded memory."""

from __future__ import annotations

import pytest
from dolmen.identity.errors import TooManyFailedLogins
from dolmen.identity.ratelimit import FailureWindow, LoginLimiter


def limiter() -> LoginLimiter:
    return LoginLimiter(user_failures_max=3, address_failures_max=5, window_s=60.0, keys_max=100)


def test_a_user_is_refused_after_its_limit_until_the_oldest_failure_leaves_the_window() -> None:
    limits = limiter()
    for second in range(3):
        limits.check(user_key="alice", address="10.0.0.1", now_s=second)
        limits.failed(user_key="alice", address=f"10.0.0.{second}", now_s=second)
    with pytest.raises(TooManyFailedLogins) as refused:
        limits.check(user_key="alice", address="10.0.0.9", now_s=10.0)
    assert refused.value.retry_after_s == pytest.approx(50.0)
    limits.check(user_key="alice", address="10.0.0.9", now_s=60.0)  # the first failure left the window


def test_an_address_is_refused_after_its_limit_whatever_the_users() -> None:
    limits = limiter()
    for index in range(5):
        limits.failed(user_key=f"user{index}", address="10.0.0.1", now_s=0.0)
    with pytest.raises(TooManyFailedLogins):
        limits.check(user_key="fresh", address="10.0.0.1", now_s=1.0)
    limits.check(user_key="fresh", address="10.0.0.2", now_s=1.0)


def test_a_success_clears_the_user_but_not_the_address() -> None:
    limits = limiter()
    for _ in range(3):
        limits.failed(user_key="alice", address="10.0.0.1", now_s=0.0)
    limits.succeeded(user_key="alice")
    limits.check(user_key="alice", address="10.0.0.2", now_s=1.0)
    limits.failed(user_key="bob", address="10.0.0.1", now_s=1.0)
    limits.failed(user_key="bob", address="10.0.0.1", now_s=1.0)
    with pytest.raises(TooManyFailedLogins):
        limits.check(user_key="carol", address="10.0.0.1", now_s=2.0)


def test_memory_stays_bounded_forgetting_the_least_recently_failed() -> None:
    window = FailureWindow(failures_max=2, window_s=60.0, keys_max=10)
    for index in range(1000):
        window.record_failure(f"10.0.{index // 256}.{index % 256}", float(index))
    assert len(window) == 10
    window.record_failure("a", 0.0)
    window.record_failure("a", 0.0)
    assert window.retry_after_s("a", 1.0) == pytest.approx(59.0)
