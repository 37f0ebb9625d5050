"""Container and account quotas: who may set them, and which writes they refuse."""

from __future__ import annotations

import pytest
from dolmen.proxy.errors import AccessDenied, BadRequest, QuotaExceeded
from dolmen.proxy.swift.quotas import (
    QuotaGuard,
    check_account_quota_items,
    check_container_quota_items,
    usage_watched,
    write_budget,
)
from hypothesis import given
from hypothesis import strategies as st


def test_container_quotas_must_be_whole_numbers():
    check_container_quota_items({"quota-bytes": "100", "quota-count": "0"})
    check_container_quota_items({"quota-bytes": ""})  # removal
    with pytest.raises(BadRequest, match="Invalid bytes quota."):
        check_container_quota_items({"quota-bytes": "-1"})
    with pytest.raises(BadRequest, match="Invalid count quota."):
        check_container_quota_items({"quota-count": "ten"})


def test_only_an_admin_sets_or_removes_the_account_quota():
    check_account_quota_items({"color": "blue"}, roles=frozenset({"member"}))
    check_account_quota_items({"quota-bytes": "10"}, roles=frozenset({"admin"}))
    for value in ("10", ""):
        with pytest.raises(AccessDenied):
            check_account_quota_items({"quota-bytes": value}, roles=frozenset({"member"}))
    with pytest.raises(BadRequest):
        check_account_quota_items({"quota-bytes": "x"}, roles=frozenset({"admin"}))


def budget(account=None, container=None, *, account_bytes=0, container_bytes=0, count=0):
    return write_budget(
        account_metadata=account or {},
        account_bytes=account_bytes,
        container_metadata=container or {},
        container_bytes=container_bytes,
        container_count=count,
    )


def test_the_budget_is_the_tightest_quota_left():
    assert budget() is None
    assert budget({"quota-bytes": "100"}, account_bytes=30) == 70
    assert budget({"quota-bytes": "100"}, {"quota-bytes": "50"}, account_bytes=30, container_bytes=45) == 5
    assert budget({"quota-bytes": "10"}, account_bytes=30) == -20
    with pytest.raises(QuotaExceeded):
        budget(container={"quota-count": "3"}, count=3)
    assert budget(container={"quota-count": "3"}, count=2) is None


def test_a_known_length_over_the_budget_is_refused_before_any_byte():
    QuotaGuard(10, 10)
    QuotaGuard(None, 10**12)
    with pytest.raises(QuotaExceeded):
        QuotaGuard(10, 11)


async def chunks(sizes):
    for size in sizes:
        yield b"x" * size


@given(st.lists(st.integers(1, 50), max_size=20), st.integers(0, 400))
async def test_a_chunked_body_stops_and_fails_its_check_once_past_the_budget(sizes, budget_bytes):
    guard = QuotaGuard(budget_bytes, None)
    passed = b"".join([chunk async for chunk in guard.wrap(chunks(sizes))])
    if sum(sizes) > budget_bytes:
        assert len(passed) <= budget_bytes
        with pytest.raises(QuotaExceeded):
            await guard.check()
    else:
        assert len(passed) == sum(sizes)
        await guard.check()


def test_usage_is_watched_only_where_a_quota_reads_it():
    assert not usage_watched({}, {})
    assert not usage_watched({"color": "blue"}, {"quota-bytes": ""})  # an empty value is no quota
    assert usage_watched({}, {"quota-bytes": "100"})
    assert usage_watched({}, {"quota-count": "3"})
    assert usage_watched({"quota-bytes": "1000"}, {})
    assert not usage_watched({"quota-count": "3"}, {})  # accounts have no count quota
