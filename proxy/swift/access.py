"""Authentication and authorisation of Swift requests: the I/O around `authorize.decide`.

A token (`X-Auth-Token`, or Swift's older `X-Storage-Token`) is validated
locally by identity's TokenValidator: no round trip. The requester's rights on
the addressed account come from identity's policy, rules `object:read` and
`object:write` with target `project_id` (by default: `admin` anything, a
project's `member` writes, its `reader` reads). Writers also read, and manage
the account (set its metadata and ACLs), as keystoneauth's operator roles do.
Only when those rights
fall short are the ACLs read (container and account info, cached briefly), so
owners pay no extra read for authorisation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from dolmen.identity import AuthContext, InvalidToken, Policy, TokenValidator
from dolmen.proxy.errors import NotAuthenticated
from dolmen.proxy.info_cache import InfoCache
from dolmen.proxy.swift.acl import Requester, account_access, parse_container_acl
from dolmen.proxy.swift.authorize import NO_RIGHTS, OwnerRights, decide
from dolmen.proxy.swift.headers import ACCOUNT_ACL_ITEM, sysmeta_item
from dolmen.proxy.swift.paths import SwiftPath
from dolmen.proxy.swift.quotas import usage_watched

from dolmen.cluster import AccountInfo, ClusterClient, ContainerInfo, NotFound

READ_RULE = "object:read"
WRITE_RULE = "object:write"
READ_ACL_ITEM = sysmeta_item("read")
WRITE_ACL_ITEM = sysmeta_item("write")
Info = TypeVar("Info", AccountInfo, ContainerInfo)


@dataclass(frozen=True, slots=True)
class Access:
    """The outcome of authorisation: who asks and what the policy alone grants them."""

    requester: Requester | None
    rights: OwnerRights


def requester_of(context: AuthContext) -> Requester:
    """The ACLs' view of a token's context: role names lower-cased, as Swift matches them."""
    return Requester(
        user_id=context.user_id,
        user_name=context.user_name,
        user_domain_id=context.user_domain_id,
        project_id=context.project_id,
        project_name=context.project_name,
        project_domain_id=context.project_domain_id,
        roles=frozenset(role.lower() for role in context.roles),
    )


class Authoriser:
    """Decides what an identity (a token's or an access key's) may do to a path; owns the info cache.

    The Swift API and the S3 API share one per proxy worker, so the ACLs and
    caches are the same whichever API asks.
    """

    def __init__(
        self,
        client: ClusterClient,
        *,
        policy: Policy,
        cache_ttl_s: float,
        cache_entries_max: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.policy = policy
        self.clock = clock
        self.accounts: InfoCache[AccountInfo | None] = InfoCache(
            ttl_s=cache_ttl_s, entries_max=cache_entries_max
        )
        self.containers: InfoCache[ContainerInfo | None] = InfoCache(
            ttl_s=cache_ttl_s, entries_max=cache_entries_max
        )
        self._reading: dict[tuple[str, str | None], asyncio.Future[Any]] = {}  # reads in flight, by key

    def rights(self, context: AuthContext | None, project_id: str) -> OwnerRights:
        if context is None:
            return NO_RIGHTS
        target = {"project_id": project_id}
        write = self.policy.enforce(WRITE_RULE, context, target)
        read = write or self.policy.enforce(READ_RULE, context, target)
        return OwnerRights(read=read, write=write, manage=write)

    async def authorise_context(
        self,
        method: str,
        path: SwiftPath,
        context: AuthContext | None,
        *,
        referrer: str | None = None,
        changes_acls: bool = False,
    ) -> Access:
        """What `context` (None: anonymous) may do to `path`; raises NotAuthenticated or AccessDenied."""
        requester = None if context is None else requester_of(context)
        rights = self.rights(context, path.project_id)
        if not (rights.read and rights.write and rights.manage) and requester is not None:
            account = await self.account_info(path.account)
            if account is not None:
                rights = rights.raised_by(account_access(account.metadata.get(ACCOUNT_ACL_ITEM), requester))
        read_acl = write_acl = parse_container_acl(None)
        needs_acls = path.container is not None and not (
            rights.read if method in ("GET", "HEAD") else rights.write
        )
        if needs_acls:
            assert path.container is not None
            container = await self.container_info(path.account, path.container)
            if container is not None:
                read_acl = parse_container_acl(container.metadata.get(READ_ACL_ITEM))
                write_acl = parse_container_acl(container.metadata.get(WRITE_ACL_ITEM))
        decide(
            method=method,
            path=path,
            requester=requester,
            rights=rights,
            read_acl=read_acl,
            write_acl=write_acl,
            referrer=referrer,
            changes_acls=changes_acls,
        )
        return Access(requester, rights)

    @property
    def cache_ttl_s(self) -> float:
        """How old a cached account or container info may be: a change made through another
        proxy is seen here at most this long after it."""
        return self.containers.ttl_s

    async def account_info(self, account: str) -> AccountInfo | None:
        """The account's info (None if it does not exist), at most cache_ttl_s old."""
        return await self._cached(self.accounts, (account, None), lambda: self.client.head_account(account))

    async def container_info(self, account: str, container: str) -> ContainerInfo | None:
        """The container's info (None if it does not exist), at most cache_ttl_s old."""
        return await self._cached(
            self.containers, (account, container), lambda: self.client.head_container(account, container)
        )

    async def _cached(
        self, cache: InfoCache[Info | None], key: tuple[str, str | None], head: Callable[[], Awaitable[Info]]
    ) -> Info | None:
        """The cached info under `key`, else what `head` says (None for NotFound, which is not cached).

        Requests missing the same entry at once share one read (single flight): when an entry
        expires under load, its container is read once, not once per request in flight. A
        read started before an invalidation is not shared after it, nor cached.
        """
        cached = cache.get(key, now_s=self.clock())
        if cached is not None:
            return cached
        reading = self._reading.get(key)
        if reading is None:
            reading = self._reading[key] = asyncio.ensure_future(self._read(cache, key, head))
        return await asyncio.shield(reading)  # a cancelled waiter leaves the read to the others

    async def _read(
        self, cache: InfoCache[Info | None], key: tuple[str, str | None], head: Callable[[], Awaitable[Info]]
    ) -> Info | None:
        try:
            info = await head()
        except NotFound:
            return None
        finally:
            mine = self._reading.get(key) is asyncio.current_task()
            if mine:
                del self._reading[key]
        if mine:
            cache.put(key, info, now_s=self.clock())
        return info

    async def ensure_account(self, account: str) -> None:
        """Create the account on its first authorised write (Swift's account auto-creation)."""
        if await self.account_info(account) is None:
            await self.client.put_account(account)
            self._forget_account(account)

    async def fresh_account_info(self, account: str) -> AccountInfo | None:
        """The account's info read now (what a HEAD shows), cached again."""
        self._forget_account(account)
        return await self.account_info(account)

    async def fresh_container_info(self, account: str, container: str) -> ContainerInfo | None:
        """The container's info read now (what a HEAD or a versions listing shows), cached again."""
        self._forget_container(account, container)
        return await self.container_info(account, container)

    def object_written(self, account: str, container: str) -> None:
        """After this proxy wrote or deleted an object in `container`. Its usage is read afresh
        by HEADs and listings; the cached copy, which authorisation and quotas read, goes only
        where a quota watches it (each small write would otherwise cost two quorum reads)."""
        now_s = self.clock()
        account_info = self.accounts.get((account, None), now_s=now_s)
        container_info = self.containers.get((account, container), now_s=now_s)
        if usage_watched(
            account_info.metadata if account_info is not None else {},
            container_info.metadata if container_info is not None else {},
        ):
            self.invalidate(account, container)

    def invalidate(self, account: str, container: str | None = None) -> None:
        """Forget cached info after this proxy changed it (and reads of it already in flight)."""
        self._forget_account(account)
        if container is not None:
            self._forget_container(account, container)

    def _forget_account(self, account: str) -> None:
        self.accounts.invalidate(account)
        self._reading.pop((account, None), None)

    def _forget_container(self, account: str, container: str) -> None:
        self.containers.invalidate(account, container)
        self._reading.pop((account, container), None)


class Gatekeeper(Authoriser):
    """The Swift API's door: a request's token validated locally, then the Authoriser's decision."""

    def __init__(
        self,
        client: ClusterClient,
        validator: TokenValidator,
        *,
        policy: Policy,
        cache_ttl_s: float,
        cache_entries_max: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            client, policy=policy, cache_ttl_s=cache_ttl_s, cache_entries_max=cache_entries_max, clock=clock
        )
        self.validator = validator

    def authenticate(self, headers: Mapping[str, str]) -> AuthContext | None:
        """Identity's context for a request's token; None without one."""
        token = headers.get("X-Auth-Token") or headers.get("X-Storage-Token")
        if not token:
            return None
        try:
            return self.validator.validate(token)
        except InvalidToken:  # nothing about the token is logged
            raise NotAuthenticated("This server could not verify that you are authorized.") from None

    async def authorise(
        self, method: str, path: SwiftPath, headers: Mapping[str, str], *, changes_acls: bool
    ) -> Access:
        """Who asks and what they may do; raises NotAuthenticated or AccessDenied."""
        return await self.authorise_context(
            method,
            path,
            self.authenticate(headers),
            referrer=headers.get("Referer"),
            changes_acls=changes_acls,
        )
