"""Listings merged from several container (or account) replicas, pure: no I/O here.

Each replica answers its internal listing: entries in name order (byte order of UTF-8),
each with its record timestamp, tombstones included (`"deleted": true`). The merge keeps,
per name, the entry with the newest timestamp and drops tombstones, so a name deleted on
one replica and stale on another is not resurrected. A page of a replica that came back
full only covers names up to its last one: `safe_bound` says how far the merged result is
complete, and the shell fetches further pages beyond it. Delimiter roll-ups are applied
after the merge (`rollup`), never by the replicas.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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


def sort_key(name: str) -> bytes:
    """Listing order: byte order of the UTF-8 name (as the replicas sort)."""
    return name.encode("utf-8")


def merge_pages(pages: list[list[dict[str, Any]]], *, reverse: bool) -> list[dict[str, Any]]:
    """One entry per name, the newest by timestamp (a tombstone wins a tie), in listing order."""
    newest: dict[str, tuple[Timestamp, bool, dict[str, Any]]] = {}
    for page in pages:
        for entry in page:
            key = (Timestamp.parse(entry["timestamp"]), bool(entry.get("deleted")), entry)
            seen = newest.get(entry["name"])
            if seen is None or key[:2] > seen[:2]:
                newest[entry["name"]] = key
    names = sorted(newest, key=sort_key, reverse=reverse)
    return [newest[name][2] for name in names]


def safe_bound(pages: list[list[dict[str, Any]]], full: list[bool], *, reverse: bool) -> str | None:
    """The last name up to which the merge of these pages is complete (None: all of it).

    A replica whose page came back full may hold more names right after its last one, so the
    merge is only complete up to the smallest such last name (the largest when reverse).
    """
    lasts = [page[-1]["name"] for page, was_full in zip(pages, full, strict=True) if was_full and page]
    if not lasts:
        return None
    return (max if reverse else min)(lasts, key=sort_key)


def within(name: str, bound: str | None, *, reverse: bool) -> bool:
    if bound is None:
        return True
    return sort_key(name) >= sort_key(bound) if reverse else sort_key(name) <= sort_key(bound)


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


async def merged_listing(
    fetch: PageFetch, replicas: int, query: ListingQuery, *, page_entries: int, pages_max: int
) -> tuple[list[tuple[str, dict[str, Any] | None]], bool]:
    """Page through `replicas` internal listings at once and merge them: (items, truncated).

    `fetch(replica, marker)` returns that replica's next page after `marker` (at most
    `page_entries` entries, in listing order). Items are (name, entry), or (subdir, None)
    for a delimiter roll-up; at most query.limit of them. At most `pages_max` rounds of
    fetches: a listing cut short by that bound says truncated (the caller continues from
    the last name).
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
        ready = [
            entry
            for entry in merge_pages(buffers, reverse=query.reverse)
            if within(entry["name"], bound, reverse=query.reverse)
        ]
        buffers = [
            [e for e in page if not within(e["name"], bound, reverse=query.reverse)] for page in buffers
        ]
        live = {entry["name"]: entry for entry in ready if not entry.get("deleted")}
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
