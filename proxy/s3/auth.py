"""Who sent an S3 request: SigV4 verified with the access key's secret, held in a short-lived cache.

The secret of an access key lives in identity's records (EC2 credentials); the
listener reads it through a `CredentialLookup` and keeps it in a TtlCache, so a
busy client costs one store read per key and period, never one per request. A
deleted credential stops working at most the cache's lifetime later; keys that
do not exist are remembered as such, so a client retrying a bad key cannot turn
every request into a store read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from dolmen.identity import Ec2Credential, Ec2CredentialReader
from dolmen.proxy.s3.cache import TtlCache
from dolmen.proxy.s3.errors import InvalidAccessKeyId
from dolmen.proxy.s3.sigv4 import (
    SignedRequest,
    SigningContext,
    check_scope,
    check_time,
    parse_auth,
    verify,
)

from dolmen.limits import S3_CLOCK_SKEW_S_MAX

CredentialLookup = Callable[[str], Awaitable[Ec2Credential | None]]


@dataclass(frozen=True)
class Authenticated:
    """A verified request: whose credential, and what the aws-chunked body's signatures chain from."""

    credential: Ec2Credential
    signed: SignedRequest
    signing: SigningContext


class CredentialCache(TtlCache[Ec2Credential]):
    """Access key -> credential (None: no such key)."""


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
    skew_s_max: float = S3_CLOCK_SKEW_S_MAX,
) -> Authenticated | None:
    """The request's verified signer, or None for an anonymous request; S3's auth errors otherwise.

    `headers` are lower-cased (sigv4.lower_headers). Order, as S3: syntax, region
    and time before the key is looked up, the signature last.
    """
    signed = parse_auth(method, headers, query)
    if signed is None:
        return None
    check_scope(signed, region=region)
    check_time(signed, now_s=now_s, skew_s_max=skew_s_max)
    credential = await credentials.get(signed.credential.access_key)
    if credential is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=signed.credential.access_key)
    signing = verify(
        signed, credential.secret, method=method, raw_path=raw_path, raw_query=raw_query, headers=headers
    )
    return Authenticated(credential=credential, signed=signed, signing=signing)


def identity_lookup(reader: Ec2CredentialReader) -> CredentialLookup:
    """Identity's EC2 credentials as the S3 listener's lookup (wrap it in a CredentialCache)."""
    return reader.find
