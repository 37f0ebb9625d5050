"""Authentication: the credential cache (TTL, bound, shared misses) and the order of S3's checks."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from dolmen.identity import Ec2Credential
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.auth import CredentialCache, authenticate
from dolmen.proxy.s3.sigv4 import lower_headers, query_pairs
from helpers.s3 import ACCESS_KEY, NOW_S, REGION, SECRET_KEY, credential, sign_with_botocore

CREDENTIAL = credential(ACCESS_KEY, SECRET_KEY, user_id="u1", project_id="p1")


class Store:
    """Identity's EC2 credentials as the cache sees them; counts the reads."""

    def __init__(self) -> None:
        self.credentials = {ACCESS_KEY: CREDENTIAL}
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def lookup(self, access_key: str) -> Ec2Credential | None:
        self.reads += 1
        await self.gate.wait()
        return self.credentials.get(access_key)


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


async def test_a_credential_is_read_once_per_period_and_a_deleted_one_expires():
    store, clock = Store(), Clock()
    cache = CredentialCache(store.lookup, ttl_s=10.0, entries_max=100, clock=clock)
    for _ in range(5):
        assert await cache.get(ACCESS_KEY) == CREDENTIAL
    assert await cache.get("nobody") is None
    assert await cache.get("nobody") is None
    assert store.reads == 2
    del store.credentials[ACCESS_KEY]
    clock.now_s = 9.9
    assert await cache.get(ACCESS_KEY) == CREDENTIAL
    clock.now_s = 10.0
    assert await cache.get(ACCESS_KEY) is None
    assert store.reads == 3


async def test_a_value_remembered_before_a_given_time_is_read_again():
    store, clock = Store(), Clock()
    cache = CredentialCache(store.lookup, ttl_s=10.0, entries_max=100, clock=clock)
    assert await cache.get(ACCESS_KEY) == CREDENTIAL  # remembered at 0
    del store.credentials[ACCESS_KEY]
    clock.now_s = 1.0
    assert await cache.get(ACCESS_KEY, filled_after=0.0) == CREDENTIAL  # filled at 0: not before
    assert store.reads == 1
    assert await cache.get(ACCESS_KEY, filled_after=0.5) is None  # read again, and remembered at 1
    assert await cache.get(ACCESS_KEY, filled_after=0.5) is None
    assert store.reads == 2


async def test_concurrent_misses_share_one_lookup():
    store = Store()
    store.gate.clear()
    cache = CredentialCache(store.lookup, ttl_s=10.0, entries_max=100)
    waiting = [asyncio.create_task(cache.get(ACCESS_KEY)) for _ in range(20)]
    await asyncio.sleep(0)
    store.gate.set()
    assert await asyncio.gather(*waiting) == [CREDENTIAL] * 20
    assert store.reads == 1


async def test_the_cache_keeps_at_most_its_bound_oldest_out():
    store, clock = Store(), Clock()
    cache = CredentialCache(store.lookup, ttl_s=100.0, entries_max=3, clock=clock)
    for key in ("a", "b", "c", "d"):
        await cache.get(key)
    await cache.get("d")
    assert store.reads == 4
    await cache.get("a")  # pushed out by "d"
    assert store.reads == 5


async def test_a_failed_lookup_is_not_remembered():
    calls = []

    async def failing(access_key: str) -> Ec2Credential | None:
        calls.append(access_key)
        raise ConnectionError("store down")

    cache = CredentialCache(failing, ttl_s=10.0, entries_max=10)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await cache.get("k")
    assert len(calls) == 2


async def run_authenticate(method, url, headers, *, store=None, now_s=NOW_S, region=REGION):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    lowered = lower_headers(headers.items())
    lowered.setdefault("host", parts.netloc)
    cache = CredentialCache((store or Store()).lookup, ttl_s=10.0, entries_max=10)
    return await authenticate(
        method=method, raw_path=parts.path, raw_query=parts.query, headers=lowered,
        query=dict(query_pairs(parts.query)), credentials=cache, region=region, now_s=now_s,
    )  # fmt: skip


async def test_a_signed_request_acts_as_its_credential():
    body_hash = hashlib.sha256(b"").hexdigest()
    method, url, headers, _ = sign_with_botocore(
        "GET", "http://s3.test/b/k", {"x-amz-content-sha256": body_hash}
    )
    authenticated = await run_authenticate(method, url, headers)
    assert authenticated is not None and authenticated.credential == CREDENTIAL
    assert authenticated.signed.payload_hash == body_hash


async def test_an_unknown_key_is_invalid_access_key_id_and_anonymous_is_none():
    method, url, headers, _ = sign_with_botocore(
        "GET", "http://s3.test/b/k", {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    )
    store = Store()
    store.credentials.clear()
    with pytest.raises(errors.InvalidAccessKeyId):
        await run_authenticate(method, url, headers, store=store)
    assert await run_authenticate("GET", "http://s3.test/b/k", {}) is None


async def test_region_and_time_are_checked_before_the_key_is_looked_up():
    method, url, headers, _ = sign_with_botocore(
        "GET", "http://s3.test/b/k", {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    )
    store = Store()
    with pytest.raises(errors.AuthorizationHeaderMalformed):
        await run_authenticate(method, url, headers, store=store, region="eu-west-3")
    with pytest.raises(errors.RequestTimeTooSkewed):
        await run_authenticate(method, url, headers, store=store, now_s=NOW_S + 3600)
    assert store.reads == 0
