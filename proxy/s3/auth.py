"""Who sent an S3 request: SigV4 verified with the access key's secret, held in a short-lived cache.

The secret of an access key lives in identity's records (EC2 credentials); the
listener reads it through a `CredentialLookup` and keeps it for `ttl_s`, so a
busy client costs one store read per key and period, never one per request.
Concurrent misses for one key share one lookup. The cache is bounded
(`entries_max`, oldest first out); a deleted credential stops working at most
`ttl_s` later. Keys that do not exist are remembered as such for the same time,
so a client retrying a bad key cannot turn every request into a store read.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from dolmen.proxy.s3.errors import InvalidAccessKeyId
from dolmen.proxy.s3.sigv4 import (
    SignedRequest,
    SigningContext,
    check_scope,
    check_time,
    parse_auth,
    verify,
)


@dataclass(frozen=True)
class S3Credential:
    """An EC2 credential: the request acts as `user_id` in `project_id`."""

    access_key: str
    secret_key: str
    user_id: str
    project_id: str


CredentialLookup = Callable[[str], Awaitable[S3Credential | None]]


@dataclass(frozen=True)
class Authenticated:
    """A verified request: whose credential, and what the aws-chunked body's signatures chain from."""

    credential: S3Credential
    signed: SignedRequest
    signing: SigningContext


class CredentialCache:
    """Access key -> credential (or None: no such key), each entry kept `ttl_s` seconds."""

    def __init__(
        self,
        lookup: CredentialLookup,
        *,
        ttl_s: float,
        entries_max: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert ttl_s >= 0 and entries_max >= 1
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._entries_max = entries_max
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, S3Credential | None]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[S3Credential | None]] = {}

    async def get(self, access_key: str) -> S3Credential | None:
        entry = self._entries.get(access_key)
        if entry is not None and self._clock() < entry[0]:
            return entry[1]
        pending = self._pending.get(access_key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[S3Credential | None] = asyncio.get_running_loop().create_future()
        self._pending[access_key] = future
        try:
            credential = await self._lookup(access_key)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters get it, nobody else must
            raise
        finally:
            del self._pending[access_key]
        future.set_result(credential)
        self._entries[access_key] = (self._clock() + self._ttl_s, credential)
        self._entries.move_to_end(access_key)
        while len(self._entries) > self._entries_max:
            self._entries.popitem(last=False)
        return credential


async def authenticate(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    credentials: CredentialCache,
    region: str,
    now_s: float,
) -> Authenticated | None:
    """The request's verified signer, or None for an anonymous request; S3's auth errors otherwise.

    `headers` are lower-cased (sigv4.lower_headers). Order, as S3: syntax, region
    and time before the key is looked up, the signature last.
    """
    signed = parse_auth(method, headers, query)
    if signed is None:
        return None
    check_scope(signed, region=region)
    check_time(signed, now_s=now_s)
    credential = await credentials.get(signed.credential.access_key)
    if credential is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=signed.credential.access_key)
    signing = verify(
        signed, credential.secret_key, method=method, raw_path=raw_path, raw_query=raw_query, headers=headers
    )
    return Authenticated(credential=credential, signed=signed, signing=signing)
