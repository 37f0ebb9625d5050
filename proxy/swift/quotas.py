"""Container and account quotas, as Swift's container_quotas and account_quotas.

- Container metadata `Quota-Bytes` and `Quota-Count` (set by anyone who may
  write the container) must be whole numbers (400 `Invalid bytes quota.` /
  `Invalid count quota.`).
- Account metadata `Quota-Bytes` is set or removed only by an admin (Swift's
  reseller admin: here, a token with the `admin` role); anyone else gets 403.
- An object write (PUT, or a copy) that would take the container's bytes or
  count, or the account's bytes, past its quota is refused with 413 and
  Swift's body `Upload exceeds quota.`: before any byte is stored when the length
  is known (Content-Length, or the copy source's length); for a chunked body,
  by a running count that stops the body once it passes the budget and then
  aborts the write on every replica (the cluster client's `check_body`).
Usage comes from the info cache (at most `info_cache_ttl_s` old), so, as in
Swift, writes racing each other may together pass a quota by a little. A proxy's
own object writes forget the cached usage of a container or account that a quota
watches (`usage_watched`), so its next write is measured afresh.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import TYPE_CHECKING

from dolmen.proxy.errors import AccessDenied, BadRequest, QuotaExceeded

if TYPE_CHECKING:
    from dolmen.proxy.swift.access import Gatekeeper

QUOTA_BYTES_ITEM = "quota-bytes"
QUOTA_COUNT_ITEM = "quota-count"
ADMIN_ROLE = "admin"
EXCEEDED_BODY = "Upload exceeds quota."


def check_container_quota_items(metadata: Mapping[str, str]) -> None:
    """BadRequest, as Swift, for a container quota that is not a whole number (an empty value removes it)."""
    for item, complaint in (
        (QUOTA_BYTES_ITEM, "Invalid bytes quota."),
        (QUOTA_COUNT_ITEM, "Invalid count quota."),
    ):
        value = metadata.get(item, "")
        if value and not (value.isascii() and value.isdigit()):
            raise BadRequest(complaint)


def check_account_quota_items(metadata: Mapping[str, str], *, roles: frozenset[str]) -> None:
    """AccessDenied unless an admin sets or removes the account quota; BadRequest for a bad number."""
    if QUOTA_BYTES_ITEM not in metadata:
        return
    if ADMIN_ROLE not in roles:
        raise AccessDenied("Access was denied to this resource.")
    value = metadata[QUOTA_BYTES_ITEM]
    if value and not (value.isascii() and value.isdigit()):
        raise BadRequest("Invalid quota value.")


def usage_watched(account_metadata: Mapping[str, str], container_metadata: Mapping[str, str]) -> bool:
    """True when a quota of the account or the container reads its usage."""
    return any(
        _quota(metadata, item) is not None
        for metadata, item in (
            (container_metadata, QUOTA_BYTES_ITEM),
            (container_metadata, QUOTA_COUNT_ITEM),
            (account_metadata, QUOTA_BYTES_ITEM),
        )
    )


def _quota(metadata: Mapping[str, str], item: str) -> int | None:
    value = metadata.get(item, "")
    return int(value) if value.isascii() and value.isdigit() else None


def write_budget(
    *,
    account_metadata: Mapping[str, str],
    account_bytes: int,
    container_metadata: Mapping[str, str],
    container_bytes: int,
    container_count: int,
) -> int | None:
    """Bytes the next object may hold under every quota (None: no byte quota).

    Raises QuotaExceeded when the container's count quota leaves no room for one more object.
    """
    count_quota = _quota(container_metadata, QUOTA_COUNT_ITEM)
    if count_quota is not None and container_count + 1 > count_quota:
        raise QuotaExceeded(EXCEEDED_BODY)
    budgets = [
        quota - used
        for quota, used in (
            (_quota(container_metadata, QUOTA_BYTES_ITEM), container_bytes),
            (_quota(account_metadata, QUOTA_BYTES_ITEM), account_bytes),
        )
        if quota is not None
    ]
    return min(budgets) if budgets else None


class QuotaGuard:
    """Holds one write to its byte budget: refuses a known length at once, counts a chunked body."""

    def __init__(self, budget_bytes: int | None, length: int | None) -> None:
        if budget_bytes is not None and length is not None and length > budget_bytes:
            raise QuotaExceeded(EXCEEDED_BODY)
        self.budget_bytes = budget_bytes
        self.exceeded = False

    def wrap(self, body: AsyncIterable[bytes]) -> AsyncIterable[bytes]:
        return body if self.budget_bytes is None else self._counted(body)

    async def _counted(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """The body until it passes the budget; then it ends early and `check` refuses the write."""
        assert self.budget_bytes is not None
        total = 0
        async for chunk in body:
            total += len(chunk)
            if total > self.budget_bytes:
                self.exceeded = True
                return
            yield chunk

    async def check(self) -> None:
        """The cluster client's `check_body`: raising aborts the write on every replica."""
        if self.exceeded:
            raise QuotaExceeded(EXCEEDED_BODY)


async def guard_write(gatekeeper: Gatekeeper, account: str, container: str, length: int | None) -> QuotaGuard:
    """The QuotaGuard of an object write into `account`/`container` (usage from the info cache)."""
    account_info = await gatekeeper.account_info(account)
    container_info = await gatekeeper.container_info(account, container)
    budget = write_budget(
        account_metadata=account_info.metadata if account_info else {},
        account_bytes=account_info.bytes_used if account_info else 0,
        container_metadata=container_info.metadata if container_info else {},
        container_bytes=container_info.bytes_used if container_info else 0,
        container_count=container_info.object_count if container_info else 0,
    )
    return QuotaGuard(budget, length)
