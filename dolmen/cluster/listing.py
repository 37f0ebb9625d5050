"""Listings merged from several container (or account) replicas, pure: no I/O here.

Each replica answers its live listing: live entries in name order, each with its record
timestamp; it never reads its tombstones, however many there are. (Name order is the byte
order of UTF-8, which is the order of the names' code points, so names compare here as the
strings they are: legal names hold no lone surrogate, where the two orders would differ.) A
page of a replica that came back full only covers names up to its last one: `safe_bound`
says how far the merged result is complete, and the shell fetches further pages beyond it.
Up to that bound, a name some replicas list and others do not is `disputed`: each replica
that does not list it is asked for its record of it (a tombstone, or nothing), so that a name
deleted on one replica and stale on another is not resurrected. When the replicas agree, as
they do but for the updates in flight, nothing is asked. The merge keeps, per name, the
record with the newest timestamp (a tombstone wins a tie) and drops tombstones. Delimiter
roll-ups are applied after the merge (`rollup`), never by the replicas.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dolmen.cluster.infos import AccountInfo, ContainerInfo
from dolmen.storage_node.timestamps import Timestamp


@dataclass(frozen=True, slots=True)
class ListingQuery:
    prefix: str = ""
    delimiter: str = ""
    marker: str = ""
    end_marker: str = ""
    limit: int = 10_000
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class ObjectEntry:
    name: str
    bytes: int
    etag: str
    content_type: str
    last_modified: Timestamp


@dataclass(frozen=True, slots=True)
class ContainerEntry:
    name: str
    count: int
    bytes: int
    last_modified: Timestamp


@dataclass(frozen=True, slots=True)
class Subdir:
    name: str


@dataclass(frozen=True, slots=True)
class Listing:
    entries: list[ObjectEntry | ContainerEntry | Subdir]
    truncated: bool
    info: ContainerInfo | AccountInfo | None = None  # of what is listed, as its replicas answered


def _newer(entry: dict[str, Any], than: dict[str, Any]) -> bool:
    """Whether `entry` supersedes `than`: a newer timestamp, or a tombstone at the same one.
    Replicas write timestamps in their canonical internal text (timestamps.py: fixed width,
    lower-case offset), whose order as text is their order in time."""
    if entry["timestamp"] != than["timestamp"]:
        return bool(entry["timestamp"] > than["timestamp"])
    return bool(entry.get("deleted")) and not than.get("deleted")


def merge_pages(pages: list[list[dict[str, Any]]], *, reverse: bool) -> list[dict[str, Any]]:
    """One entry per name, the newest by timestamp (a tombstone wins a tie), in listing order.
    `pages[0]` is in listing order (a replica's page); the others may be in any order."""
    newest: dict[str, dict[str, Any]] = {}
    for page in pages:
        for entry in page:
            seen = newest.get(entry["name"])
            if seen is None or _newer(entry, seen):
                newest[entry["name"]] = entry
    if pages and len(newest) == len(pages[0]):
        return list(newest.values())  # every name is in the first page, in its order
    return [newest[name] for name in sorted(newest, reverse=reverse)]


def safe_bound(pages: list[list[dict[str, Any]]], full: list[bool], *, reverse: bool) -> str | None:
    """The last name up to which the merge of these pages is complete (None: all of it).

    A replica whose page came back full may hold more names right after its last one, so the
    merge is only complete up to the smallest such last name (the largest when reverse).
    """
    lasts = [page[-1]["name"] for page, was_full in zip(pages, full, strict=True) if was_full and page]
    if not lasts:
        return None
    return max(lasts) if reverse else min(lasts)


def disputed(pages: list[list[dict[str, Any]]]) -> dict[int, list[str]]:
    """For each replica that lacks some, the names other replicas' `pages` list and its own does not."""
    listed = [{entry["name"] for entry in page} for page in pages]
    every = set().union(*listed)
    return {replica: sorted(every - names) for replica, names in enumerate(listed) if every - names}


def split_at(page: list[dict[str, Any]], bound: str | None, *, reverse: bool) -> int:
    """How many entries of `page` (in listing order) come up to `bound` (all of them if None)."""
    cut = len(page)
    if bound is not None:  # (from the end: few entries lie beyond the bound)
        while cut and (page[cut - 1]["name"] < bound if reverse else page[cut - 1]["name"] > bound):
            cut -= 1
    return cut


def rollup(names: list[str], *, prefix: str, delimiter: str) -> list[tuple[str, bool]]:
    """(name, is_subdir) after rolling up names that hold `delimiter` past `prefix`; one subdir per run."""
    result: list[tuple[str, bool]] = []
    for name in names:
        if delimiter:
            cut = name.find(delimiter, len(prefix))
            if cut >= 0:
                subdir = name[: cut + len(delimiter)]
                if not result or result[-1] != (subdir, True):
                    result.append((subdir, True))
                continue
        result.append((name, False))
    return result


PageFetch = Callable[[int, str], Awaitable[list[dict[str, Any]]]]
RecordLookup = Callable[[dict[int, list[str]]], Awaitable[dict[int, list[dict[str, Any]]]]]


async def merged_listing(
    fetch: PageFetch,
    lookup: RecordLookup,
    replicas: int,
    query: ListingQuery,
    *,
    page_entries: int,
    pages_max: int,
) -> tuple[list[tuple[str, dict[str, Any] | None]], bool]:
    """Page through `replicas` live listings at once and merge them: (items, truncated).

    `fetch(replica, marker)` returns that replica's next page of live entries after `marker`
    (at most `page_entries`, in listing order). `lookup({replica: names})` returns, for each
    replica asked, its records of those names, tombstones included (none for a name it has
    no record of). Items are (name, entry), or (subdir, None) for a delimiter roll-up; at most
    query.limit of them. At most `pages_max` rounds of fetches: a listing cut short by that
    bound says truncated (the caller continues from the last name).
    """
    markers = [query.marker] * replicas
    buffers: list[list[dict[str, Any]]] = []
    full: list[bool] = []
    for replica in range(replicas):
        page = await fetch(replica, markers[replica])
        buffers.append(page)
        full.append(len(page) >= page_entries)
        if page:
            markers[replica] = page[-1]["name"]
    items: list[tuple[str, dict[str, Any] | None]] = []
    for _ in range(pages_max):
        bound = safe_bound(buffers, full, reverse=query.reverse)
        cuts = [split_at(page, bound, reverse=query.reverse) for page in buffers]
        ready = [page[:cut] for page, cut in zip(buffers, cuts, strict=True)]
        buffers = [page[cut:] for page, cut in zip(buffers, cuts, strict=True)]
        disputes = disputed(ready)
        looked_up = list((await lookup(disputes)).values()) if disputes else []
        merged = merge_pages(ready + looked_up, reverse=query.reverse)
        live = {entry["name"]: entry for entry in merged if not entry.get("deleted")}
        for name, is_subdir in rollup(list(live), prefix=query.prefix, delimiter=query.delimiter):
            if is_subdir and items and items[-1] == (name, None):
                continue  # the same roll-up continues from the previous round
            if len(items) == query.limit:
                return items, True
            items.append((name, None if is_subdir else live[name]))
        if bound is None:
            return items, False
        for replica in range(replicas):
            if full[replica] and not buffers[replica]:
                page = await fetch(replica, markers[replica])
                buffers[replica] = page
                full[replica] = len(page) >= page_entries
                if page:
                    markers[replica] = page[-1]["name"]
    return items, True
