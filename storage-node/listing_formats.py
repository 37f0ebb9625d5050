"""Listings as bytes: Swift's JSON, XML and plain forms, and the internal form. Pure.

* JSON: objects `{"name", "bytes", "hash", "content_type", "last_modified"}`, containers
  `{"name", "count", "bytes", "last_modified"}`, roll-ups `{"subdir"}`.
  `last_modified` is ISO 8601 with microseconds, UTC, without a zone (as Swift).
* XML: `<container name="..."><object><name>...` / `<account name="..."><container>...`,
  roll-ups `<subdir name="..."><name>...</name></subdir>` (as Swift).
* plain: one name per line.
* internal (JSON only): every entry with `"timestamp"` (internal form), tombstones as
  `{"name", "timestamp", "deleted": true}`; container rows add their put and delete timestamps.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from dolmen.storage_node.containers import ContainerRow, ObjectEntry
from dolmen.storage_node.listings import Subdir
from dolmen.storage_node.timestamps import TICKS_PER_S, Timestamp

Entry = ObjectEntry | ContainerRow | Subdir
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "plain": "text/plain; charset=utf-8",
}


def iso_8601(timestamp: Timestamp) -> str:
    """`2026-11-23T16:55:18.123450`: Swift's last_modified (whole 10 µs ticks, shown as microseconds)."""
    whole, ticks = divmod(timestamp.ticks, TICKS_PER_S)
    moment = datetime.datetime.fromtimestamp(whole, datetime.UTC).replace(tzinfo=None)
    return f"{moment.isoformat(timespec='seconds')}.{ticks * (1_000_000 // TICKS_PER_S):06d}"


def entry_json(entry: Entry, *, internal: bool) -> dict[str, object]:
    if isinstance(entry, Subdir):
        return {"subdir": entry.name.decode("utf-8")}
    if isinstance(entry, ObjectEntry):
        if entry.deleted:
            return {"name": entry.name, "timestamp": entry.timestamp.internal, "deleted": True}
        answer: dict[str, object] = {
            "name": entry.name,
            "bytes": entry.size,
            "hash": entry.etag,
            "content_type": entry.content_type,
            "last_modified": iso_8601(entry.timestamp),
        }
        if internal:
            answer["timestamp"] = entry.timestamp.internal
        return answer
    row_timestamps = {
        "put_timestamp": entry.put_timestamp.internal,
        "delete_timestamp": entry.delete_timestamp.internal,
    }
    if not entry.live:
        return {"name": entry.name, "timestamp": entry.timestamp.internal, "deleted": True} | row_timestamps
    answer = {
        "name": entry.name,
        "count": entry.object_count,
        "bytes": entry.bytes_used,
        "last_modified": iso_8601(entry.put_timestamp),
    }
    if internal:
        answer |= {"timestamp": entry.timestamp.internal} | row_timestamps
    return answer


def render(entries: Sequence[Entry], listing_format: str, *, internal: bool, role: str, name: str) -> bytes:
    """The body of a listing of `entries` of the container or account `name` in `listing_format`."""
    if internal or listing_format == "json":
        return json.dumps(
            [entry_json(entry, internal=internal) for entry in entries],
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
    if listing_format == "plain":
        return b"".join(_name(entry).encode("utf-8") + b"\n" for entry in entries)
    assert listing_format == "xml"
    item = "object" if role == "container" else "container"
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f"<{role} name={quoteattr(name)}>"]
    for entry in entries:
        if isinstance(entry, Subdir):
            subdir = entry.name.decode("utf-8")
            parts.append(f"<subdir name={quoteattr(subdir)}><name>{escape(subdir)}</name></subdir>")
            continue
        fields = entry_json(entry, internal=False)
        parts.append(f"<{item}>")
        parts.extend(f"<{key}>{escape(str(value))}</{key}>" for key, value in fields.items())
        parts.append(f"</{item}>")
    parts.append(f"</{role}>")
    return "".join(parts).encode("utf-8")


def _name(entry: Entry) -> str:
    return entry.name.decode("utf-8") if isinstance(entry, Subdir) else entry.name
