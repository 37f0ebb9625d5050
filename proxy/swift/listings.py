"""Account and container listings: the query Swift accepts and the bodies it renders, pure.

Query (`format`, `prefix`, `delimiter`, `marker`, `end_marker`, `limit`,
`reverse`), already decoded (`dolmen.proxy.swift.requests.parse_query`); a `limit` above LISTING_PAGE_ENTRIES_MAX is ListingLimitExceeded
(412, "Maximum limit is 10000"); a `limit` that is not a number is ignored (the
maximum), as Swift. The output format comes from `format=json|xml|plain`, else
from `Accept`; anything else is plain text.

Bodies, as Swift's listing_formats renders them: JSON arrays of
`{"name","bytes","hash","content_type","last_modified"}` (objects),
`{"name","count","bytes","last_modified"}` (containers) and `{"subdir"}`;
XML with an XML declaration; plain text one name per line. An empty plain
listing is a 204 without a body; empty JSON is `[]`, empty XML an empty element.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from xml.sax.saxutils import escape, quoteattr

import orjson
from dolmen.proxy.errors import ListingLimitExceeded
from dolmen.storage_node.timestamps import iso_8601

from dolmen.limits import LISTING_PAGE_ENTRIES_MAX

JSON = "application/json"
XML = "application/xml"
TEXT = "text/plain"
FORMATS = {"json": JSON, "xml": XML, "plain": TEXT}
TRUE_VALUES = frozenset({"true", "1", "yes", "on", "t", "y"})


class HasTicks(Protocol):
    @property
    def ticks(self) -> int: ...


class ObjectRow(Protocol):
    name: str
    bytes: int
    etag: str
    content_type: str
    last_modified: HasTicks


class ContainerRow(Protocol):
    name: str
    count: int
    bytes: int
    last_modified: HasTicks


@dataclass(frozen=True, slots=True)
class ListingRequest:
    """The parsed query of a listing GET."""

    content_type: str
    prefix: str = ""
    delimiter: str = ""
    marker: str = ""
    end_marker: str = ""
    limit: int = LISTING_PAGE_ENTRIES_MAX
    reverse: bool = False


def listing_content_type(query: Mapping[str, str], accept: str | None) -> str:
    """`format=` wins; else the first of JSON, XML or text that `Accept` names; else text."""
    requested = query.get("format")
    if requested is not None:
        return FORMATS.get(requested.lower(), TEXT)
    if accept:
        for item in accept.split(","):
            media = item.split(";", 1)[0].strip().lower()
            if media == JSON:
                return JSON
            if media in (XML, "text/xml"):
                return XML
            if media in (TEXT, "text/*", "*/*"):
                return TEXT
    return TEXT


def parse_listing_request(query: Mapping[str, str], accept: str | None) -> ListingRequest:
    """The ListingRequest of a decoded query; raises ListingLimitExceeded."""
    limit = LISTING_PAGE_ENTRIES_MAX
    given = query.get("limit", "")
    if given.isascii() and given.isdigit():
        limit = int(given)
        if limit > LISTING_PAGE_ENTRIES_MAX:
            raise ListingLimitExceeded(f"Maximum limit is {LISTING_PAGE_ENTRIES_MAX}")
    delimiter = query.get("delimiter", "")
    return ListingRequest(
        content_type=listing_content_type(query, accept),
        prefix=query.get("prefix", ""),
        delimiter=delimiter,
        marker=query.get("marker", ""),
        end_marker=query.get("end_marker", ""),
        limit=limit,
        reverse=query.get("reverse", "").lower() in TRUE_VALUES,
    )


def object_rows(entries: Sequence[object]) -> list[dict[str, object]]:
    """JSON-ready rows of object listing entries (objects and subdirs)."""
    return _rows(entries, _object_row)


def container_rows(entries: Sequence[object]) -> list[dict[str, object]]:
    """JSON-ready rows of account listing entries (containers and subdirs)."""
    return _rows(entries, _container_row)


def _object_row(row: ObjectRow) -> dict[str, object]:
    return {
        "name": row.name,
        "bytes": row.bytes,
        "hash": row.etag,
        "content_type": row.content_type,
        "last_modified": iso_8601(row.last_modified.ticks),
    }


def _container_row(row: ContainerRow) -> dict[str, object]:
    return {
        "name": row.name,
        "count": row.count,
        "bytes": row.bytes,
        "last_modified": iso_8601(row.last_modified.ticks),
    }


def _rows(entries: Sequence[object], row_of: Callable[[Any], dict[str, object]]) -> list[dict[str, object]]:
    """Subdir entries as `{"subdir": name}`, every other entry as `row_of` makes it."""
    return [{"subdir": entry.name} if _is_subdir(entry) else row_of(entry) for entry in entries]  # type: ignore[attr-defined]


def _is_subdir(entry: object) -> bool:
    """Subdir entries carry only a name; objects have an etag, containers a count."""
    return not (hasattr(entry, "etag") or hasattr(entry, "count"))


def render_listing(rows: list[dict[str, object]], content_type: str, *, root: str, name: str) -> bytes:
    """The body of a listing in `content_type`; `root` is "account" or "container"."""
    assert root in ("account", "container")
    if content_type == JSON:
        return orjson.dumps(rows)  # (UTF-8, compact: Swift's own escapes non-ASCII and spaces items)
    if content_type == XML:
        return _render_xml(rows, root=root, name=name)
    return b"".join(f"{row.get('name', row.get('subdir'))}\n".encode() for row in rows)


def _render_xml(rows: list[dict[str, object]], *, root: str, name: str) -> bytes:
    fields = (
        ("name", "hash", "bytes", "content_type", "last_modified")
        if root == "container"
        else (
            "name",
            "count",
            "bytes",
            "last_modified",
        )
    )
    element = "object" if root == "container" else "container"
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f"<{root} name={quoteattr(name)}>"]
    if root == "account":
        parts.append("\n")
    for row in rows:
        if "subdir" in row:
            subdir = str(row["subdir"])
            inner = f"<name>{escape(subdir)}</name>" if root == "container" else ""
            parts.append(f"<subdir name={quoteattr(subdir)}>{inner}</subdir>")
        else:
            inner = "".join(f"<{field}>{escape(str(row[field]))}</{field}>" for field in fields)
            parts.append(f"<{element}>{inner}</{element}>")
        if root == "account":
            parts.append("\n")
    parts.append(f"</{root}>")
    return "".join(parts).encode()
