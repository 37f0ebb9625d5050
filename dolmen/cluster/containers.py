"""Accounts and containers: quorum writes, quorum HEAD (newest wins), listings merged from two replicas.

Container replica i reports its stats to account replica i, and object replica i updates
container replica i (Swift's 1:1 mapping), named in X-Backend-Account-* and
X-Backend-Container-* headers; a handoff carries the mapping of the primary it replaces.
Container information is cached for container_info_ttl_s (object writes need the policy
index and must refuse a missing container), and dropped on this client's own changes.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from dolmen.cluster.config import ClusterClientConfig
from dolmen.cluster.errors import BadName, Conflict, ContainerNotEmpty, NotFound, QuorumNotReached
from dolmen.cluster.infos import AccountInfo, ContainerInfo, account_info, container_info
from dolmen.cluster.listing import (
    ContainerEntry,
    Listing,
    ListingQuery,
    ObjectEntry,
    Subdir,
    merged_listing,
)
from dolmen.cluster.names import node_path
from dolmen.cluster.objects import Objects, is_live, newest_first, nodes_of
from dolmen.cluster.placement import Rings, node_of, quorum_size, replica_headers
from dolmen.cluster.transport import NodeAnswer, NodeError, NodeFailed, Transport
from dolmen.limits import LISTING_PAGE_ENTRIES_MAX, LOOKUP_NAMES_MAX
from dolmen.ring.devices import Device
from dolmen.ring.ring import Ring
from dolmen.storage_node.lookups import lookup_request
from dolmen.storage_node.timestamps import Timestamp

ROLE_HEADER = "X-Backend-Role"
LISTING_REPLICAS = 2  # listings merge at least this many replicas (fewer only if the ring has fewer)
CONTAINER_INFO_ENTRIES_MAX = 10_000
Place = tuple[Ring, int, Callable[[Device], str]]  # a record's ring, partition and path on a device


class Containers:
    def __init__(
        self, transport: Transport, rings: Rings, objects: Objects, config: ClusterClientConfig
    ) -> None:
        self.transport = transport
        self.rings = rings
        self.objects = objects
        self.config = config
        self._info: OrderedDict[tuple[str, str], tuple[float, ContainerInfo]] = OrderedDict()

    # --- accounts ------------------------------------------------------------------

    def _account_place(self, account: str) -> Place:
        ring = self.rings.account
        partition = ring.partition(account)
        return ring, partition, lambda device: node_path(device.device, partition, account)

    async def put_account(self, account: str, headers: dict[str, str]) -> bool:
        place = self._account_place(account)
        answers = await self._write(place, "PUT", "account", headers)
        return self._created(answers, place[0], f"account {account}")

    async def head_account(self, account: str) -> AccountInfo:
        return account_info(
            await self._live_headers(self._account_place(account), "account", f"account {account}")
        )

    async def post_account(self, account: str, headers: dict[str, str]) -> None:
        place = self._account_place(account)
        answers = await self._write(place, "POST", "account", headers)
        self._changed(answers, place[0], f"account {account}")

    async def list_containers(self, account: str, query: ListingQuery) -> Listing:
        ring, partition, path_of = self._account_place(account)
        return await self._list(ring, partition, path_of, "account", query)

    # --- containers ------------------------------------------------------------------

    def _container_place(self, account: str, container: str) -> Place:
        ring = self.rings.container
        partition = ring.partition(account, container)
        return ring, partition, lambda device: node_path(device.device, partition, account, container)

    async def put_container(self, account: str, container: str, headers: dict[str, str]) -> bool:
        self._forget(account, container)
        ring, partition, path_of = self._container_place(account, container)
        account_ring = self.rings.account
        account_partition = account_ring.partition(account)

        def headers_for(index: int) -> dict[str, str]:
            return (
                headers
                | {ROLE_HEADER: "container"}
                | replica_headers("Account", account_ring, account_partition, index)
            )

        answers = await self.objects.write_small(ring, partition, "PUT", path_of, headers_for)
        return self._created(answers, ring, f"container {account}/{container}")

    async def head_container(self, account: str, container: str) -> ContainerInfo:
        place = self._container_place(account, container)
        return container_info(
            await self._live_headers(place, "container", f"container {account}/{container}")
        )

    async def container_info(self, account: str, container: str) -> ContainerInfo:
        """head_container, cached for container_info_ttl_s (NotFound is not cached)."""
        key = (account, container)
        now_s = time.monotonic()
        cached = self._info.get(key)
        if cached is not None and cached[0] > now_s:
            return cached[1]
        info = await self.head_container(account, container)
        self._info[key] = (now_s + self.config.container_info_ttl_s, info)
        self._info.move_to_end(key)
        while len(self._info) > CONTAINER_INFO_ENTRIES_MAX:
            self._info.popitem(last=False)
        return info

    def _forget(self, account: str, container: str) -> None:
        self._info.pop((account, container), None)

    async def post_container(self, account: str, container: str, headers: dict[str, str]) -> None:
        self._forget(account, container)
        place = self._container_place(account, container)
        answers = await self._write(place, "POST", "container", headers)
        self._changed(answers, place[0], f"container {account}/{container}")

    async def delete_container(self, account: str, container: str, headers: dict[str, str]) -> None:
        self._forget(account, container)
        place = self._container_place(account, container)
        answers = await self._write(place, "DELETE", "container", headers)
        quorum = quorum_size(place[0].replicas)
        if nodes_of(answer for answer in answers if answer.status == 204) >= quorum:
            return
        if any(answer.status == 409 for answer in answers):
            raise ContainerNotEmpty(f"container {account}/{container} is not empty")
        if nodes_of(answer for answer in answers if answer.status == 404) >= quorum:
            raise NotFound(f"no container {account}/{container}")
        raise QuorumNotReached(
            f"container {account}/{container}: answers {sorted(a.status for a in answers)}"
        )

    async def list_objects(self, account: str, container: str, query: ListingQuery) -> Listing:
        ring, partition, path_of = self._container_place(account, container)
        return await self._list(ring, partition, path_of, "container", query)

    # --- the requests and their outcomes -------------------------------------------------

    async def _write(self, place: Place, method: str, role: str, headers: dict[str, str]) -> list[NodeAnswer]:
        """The same small write to every replica of a record (`role`: account or container)."""
        ring, partition, path_of = place
        return await self.objects.write_small(
            ring, partition, method, path_of, lambda index: headers | {ROLE_HEADER: role}
        )

    async def _live_headers(self, place: Place, role: str, what: str) -> Mapping[str, str]:
        """The headers of the newest of a quorum of replicas; NotFound if that one is not live."""
        ring, partition, path_of = place
        answers = await self.objects.head_quorum(ring, partition, path_of, {ROLE_HEADER: role})
        if not answers or not is_live(answers[0][1]):
            raise NotFound(f"no {what}")
        return answers[0][1].headers

    @staticmethod
    def _created(answers: list[NodeAnswer], ring: Ring, what: str) -> bool:
        quorum = quorum_size(ring.replicas)
        if nodes_of(answer for answer in answers if answer.status in (201, 202)) >= quorum:
            return nodes_of(answer for answer in answers if answer.status == 201) >= quorum
        if nodes_of(answer for answer in answers if answer.status == 409) >= quorum:
            raise Conflict(f"{what} exists with another storage policy, or a newer record is stored")
        raise QuorumNotReached(f"{what}: answers {sorted(answer.status for answer in answers)}")

    @staticmethod
    def _changed(answers: list[NodeAnswer], ring: Ring, what: str) -> None:
        quorum = quorum_size(ring.replicas)
        if nodes_of(answer for answer in answers if 200 <= answer.status < 300) >= quorum:
            return
        if nodes_of(answer for answer in answers if answer.status == 404) >= quorum:
            raise NotFound(f"no {what}")
        raise QuorumNotReached(f"{what}: answers {sorted(answer.status for answer in answers)}")

    # --- listings -------------------------------------------------------------------------

    async def _list(
        self, ring: Ring, partition: int, path_of: Callable[[Device], str], role: str, query: ListingQuery
    ) -> Listing:
        """Merge the live listings of LISTING_REPLICAS replicas that answer (listing.merged_listing),
        with the info of the listed record from the newest of their answers (NotFound if that one
        has no live record)."""
        if not 0 <= query.limit <= LISTING_PAGE_ENTRIES_MAX:
            raise BadName(f"listing limit must be 0..{LISTING_PAGE_ENTRIES_MAX}")
        page_entries = min(LISTING_PAGE_ENTRIES_MAX, query.limit + 64)
        candidates = self.objects.read_order(ring.primaries(partition))
        wanted = min(LISTING_REPLICAS, len(candidates))
        first_pages: list[tuple[Device, NodeAnswer, list[dict[str, Any]] | None]] = []
        while len(first_pages) < wanted and candidates:  # the first page picks the replicas that answer
            asked, candidates = (
                candidates[: wanted - len(first_pages)],
                candidates[wanted - len(first_pages) :],
            )
            pages = await asyncio.gather(
                *(self._page(device, path_of, role, query, query.marker, page_entries) for device in asked),
                return_exceptions=True,
            )
            for device, page in zip(asked, pages, strict=True):
                if isinstance(page, BaseException) and not isinstance(page, NodeError):
                    raise page
                if not isinstance(page, BaseException):
                    first_pages.append((device, *page))
        if len(first_pages) < wanted:
            raise QuorumNotReached(f"{len(first_pages)} replicas answered a listing, {wanted} needed")
        newest = newest_first([(device, answer) for device, answer, _ in first_pages])[0][1]
        if not is_live(newest):  # none has it, or the newest answer is of its deletion
            raise NotFound(f"no such {role}")
        info = account_info(newest.headers) if role == "account" else container_info(newest.headers)
        unused = {index: page or [] for index, (_, _, page) in enumerate(first_pages)}
        without = {index for index, (_, _, page) in enumerate(first_pages) if page is None}

        async def fetch(replica: int, marker: str) -> list[dict[str, Any]]:
            if replica in unused:
                return unused.pop(replica)
            _answer, page = await self._page(
                first_pages[replica][0], path_of, role, query, marker, page_entries
            )
            return page or []

        async def lookup(disputes: dict[int, list[str]]) -> dict[int, list[dict[str, Any]]]:
            asked = [replica for replica in disputes if replica not in without]  # (nothing to find there)
            found = await asyncio.gather(
                *(
                    self._lookup(first_pages[replica][0], path_of, role, disputes[replica])
                    for replica in asked
                )
            )
            return dict(zip(asked, found, strict=True))

        items, truncated = await merged_listing(
            fetch,
            lookup,
            len(first_pages),
            query,
            page_entries=page_entries,
            pages_max=self.config.listing_pages_max,
        )
        return Listing(
            [Subdir(name) if entry is None else _entry(role, entry) for name, entry in items], truncated, info
        )

    async def _page(
        self,
        device: Device,
        path_of: Callable[[Device], str],
        role: str,
        query: ListingQuery,
        marker: str,
        page_entries: int,
    ) -> tuple[NodeAnswer, list[dict[str, Any]] | None]:
        """One replica's answer and live listing page after `marker` (PROTOCOL.md: `X-Backend-Listing:
        live`, each entry with its record's timestamp); the page is None if it has no such container."""
        parameters: dict[str, str] = {"format": "json", "limit": str(page_entries)}
        if query.prefix:
            parameters["prefix"] = query.prefix
        if marker:
            parameters["marker"] = marker
        if query.end_marker:
            parameters["end_marker"] = query.end_marker
        if query.reverse:
            parameters["reverse"] = "true"
        answer = await self.transport.request(
            node_of(device),
            "GET",
            path_of(device),
            query=urlencode(parameters, quote_via=quote),
            headers={ROLE_HEADER: role, "X-Backend-Listing": "live"},
        )
        if answer.status == 404:
            return answer, None
        if not 200 <= answer.status < 300:
            raise NodeFailed(f"{node_of(device)}: listing answered {answer.status}")
        page = orjson.loads(answer.body) if answer.body else []
        assert isinstance(page, list)
        return answer, page

    async def _lookup(
        self, device: Device, path_of: Callable[[Device], str], role: str, names: list[str]
    ) -> list[dict[str, Any]]:
        """One replica's records of `names`, tombstones included (PROTOCOL.md: LOOKUP), in
        requests of at most LOOKUP_NAMES_MAX names; none if it has no such container."""
        records: list[dict[str, Any]] = []
        for start in range(0, len(names), LOOKUP_NAMES_MAX):
            headers, body = lookup_request(names[start : start + LOOKUP_NAMES_MAX])
            answer = await self.transport.request(
                node_of(device), "POST", path_of(device), headers={ROLE_HEADER: role, **headers}, body=body
            )
            if answer.status == 404:
                return []
            if answer.status != 200:
                raise NodeFailed(f"{node_of(device)}: lookup answered {answer.status}")
            found = orjson.loads(answer.body)
            assert isinstance(found, list)
            records.extend(found)
        return records


def _entry(role: str, entry: dict[str, Any]) -> ObjectEntry | ContainerEntry:
    timestamp = Timestamp.parse(entry["timestamp"])
    if role == "account":
        return ContainerEntry(
            name=entry["name"], count=entry["count"], bytes=entry["bytes"], last_modified=timestamp
        )
    return ObjectEntry(
        name=entry["name"],
        bytes=entry["bytes"],
        etag=entry["hash"],
        content_type=entry["content_type"],
        last_modified=timestamp,
    )
