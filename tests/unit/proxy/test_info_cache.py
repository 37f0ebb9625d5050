from dolmen.proxy.info_cache import InfoCache
from hypothesis import given
from hypothesis import strategies as st


def test_entries_live_for_the_ttl_only():
    cache: InfoCache[str] = InfoCache(ttl_s=2.0, entries_max=10)
    cache.put(("AUTH_p", "c"), "info", now_s=100.0)
    assert cache.get(("AUTH_p", "c"), now_s=101.9) == "info"
    assert cache.get(("AUTH_p", "c"), now_s=102.0) is None
    assert len(cache) == 0


def test_a_clock_going_backwards_drops_the_entry():
    cache: InfoCache[str] = InfoCache(ttl_s=2.0, entries_max=10)
    cache.put(("AUTH_p", None), "info", now_s=100.0)
    assert cache.get(("AUTH_p", None), now_s=99.0) is None


def test_own_writes_invalidate_the_container_and_its_account():
    cache: InfoCache[str] = InfoCache(ttl_s=60.0, entries_max=10)
    cache.put(("AUTH_p", None), "account", now_s=0.0)
    cache.put(("AUTH_p", "c"), "container", now_s=0.0)
    cache.put(("AUTH_p", "d"), "other", now_s=0.0)
    cache.invalidate("AUTH_p", "c")
    assert cache.get(("AUTH_p", "c"), now_s=1.0) is None
    assert cache.get(("AUTH_p", None), now_s=1.0) is None
    assert cache.get(("AUTH_p", "d"), now_s=1.0) == "other"


def test_zero_ttl_or_size_caches_nothing():
    for cache in (InfoCache[str](ttl_s=0.0, entries_max=10), InfoCache[str](ttl_s=5.0, entries_max=0)):
        cache.put(("AUTH_p", None), "x", now_s=0.0)
        assert cache.get(("AUTH_p", None), now_s=0.0) is None


@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=60), st.integers(1, 8))
def test_never_more_than_entries_max_and_recent_entries_stay(operations, entries_max):
    cache: InfoCache[int] = InfoCache(ttl_s=1e9, entries_max=entries_max)
    for step, (name, read) in enumerate(operations):
        key = (f"AUTH_{name}", None)
        if read:
            cache.get(key, now_s=float(step))
        else:
            cache.put(key, name, now_s=float(step))
            assert cache.get(key, now_s=float(step)) == name
        assert len(cache) <= entries_max
