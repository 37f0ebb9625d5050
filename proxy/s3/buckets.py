"""The bucket registry: one cluster-wide register per bucket name, claimed by compare-and-swap.

S3 bucket names are global, Swift container names are per account. A bucket is
a container in its owner's account (`AUTH_<project_id>`), and the register
`s3-bucket/<name>` says which account owns the name. Two proxies racing to
create one bucket both run `cas` on that register; CASPaxos lets exactly one
claim land. Each claim carries a random id, so the winner knows it won even
when its round was finished by another proposer (BucketAlreadyOwnedByYou is for
a *second* create by the same owner, BucketAlreadyExists for another owner's).

The register is the truth for ownership; the container holds the data. Create
claims the name, then creates the container; delete removes the container
(only if empty), then releases the claim; a claim whose container is missing
is a bucket being created or deleted, and a create by its owner completes it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from dolmen.proxy.s3.errors import BucketAlreadyExists, BucketAlreadyOwnedByYou

REGISTER_PREFIX = "s3-bucket/"
_FORMAT = 1

Change = Callable[[bytes | None], bytes | None]


class Registers(Protocol):
    """What the registry needs of the cluster client."""

    def cas(self, key: str, change: Change) -> Awaitable[bytes | None]: ...
    def read_register(self, key: str) -> Awaitable[bytes | None]: ...


@dataclass(frozen=True, kw_only=True)
class BucketClaim:
    """Who owns a bucket name: the account holding its container, the project, the region, since when."""

    account: str
    project_id: str
    region: str
    created_s: float
    claim_id: str

    def encode(self) -> bytes:
        return json.dumps({"format": _FORMAT, **asdict(self)}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, value: bytes) -> BucketClaim:
        document = json.loads(value)
        assert document.pop("format") == _FORMAT, "a bucket claim of an unknown format"
        return cls(**document)


def register_key(bucket: str) -> str:
    return REGISTER_PREFIX + bucket


def new_claim(*, account: str, project_id: str, region: str, now_s: float) -> BucketClaim:
    return BucketClaim(
        account=account, project_id=project_id, region=region, created_s=now_s, claim_id=secrets.token_hex(8)
    )


def claim_change(claim: BucketClaim) -> Change:
    """Take the name if nobody holds it; leave any existing claim as it is."""
    return lambda current: current if current is not None else claim.encode()


def claim_outcome(bucket: str, final: bytes | None, claim: BucketClaim) -> BucketClaim:
    """The claim in force after `claim_change` ran: ours, or the S3 error for whoever holds it."""
    assert final is not None, "claim_change never empties a register"
    held = BucketClaim.decode(final)
    if held.claim_id == claim.claim_id:
        return held
    if held.account == claim.account:
        raise BucketAlreadyOwnedByYou(BucketName=bucket)
    raise BucketAlreadyExists(BucketName=bucket)


def release_change(account: str) -> Change:
    """Drop the claim if `account` holds it; anyone else's claim stays."""

    def change(current: bytes | None) -> bytes | None:
        if current is not None and BucketClaim.decode(current).account == account:
            return None
        return current

    return change


class BucketRegistry:
    """Claims, lookups and releases of bucket names over the cluster's registers."""

    def __init__(self, registers: Registers) -> None:
        self._registers = registers

    async def claim(self, bucket: str, claim: BucketClaim) -> BucketClaim:
        """Claim `bucket` for `claim.account`; BucketAlreadyOwnedByYou or BucketAlreadyExists if held.

        Raises the cluster client's QuorumNotReached or RegisterContention (503) too.
        """
        final = await self._registers.cas(register_key(bucket), claim_change(claim))
        return claim_outcome(bucket, final, claim)

    async def lookup(self, bucket: str) -> BucketClaim | None:
        value = await self._registers.read_register(register_key(bucket))
        return BucketClaim.decode(value) if value is not None else None

    async def release(self, bucket: str, account: str) -> None:
        await self._registers.cas(register_key(bucket), release_change(account))


async def claim_for_container(
    registry: BucketRegistry, bucket: str, account: str, project_id: str, *, region: str
) -> BucketClaim | None:
    """Make an existing container of `account` the bucket `bucket` if nobody holds the name; the
    claim in force either way (another account's, if it got there first; None if that one was
    released meanwhile)."""
    claim = new_claim(account=account, project_id=project_id, region=region, now_s=time.time())
    try:
        return await registry.claim(bucket, claim)
    except (BucketAlreadyOwnedByYou, BucketAlreadyExists):
        return await registry.lookup(bucket)
