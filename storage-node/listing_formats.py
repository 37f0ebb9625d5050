"""Listings as bytes: Swift's JSON, XML and plain forms, and the internal form. Pure.

* JSON: objects `{"name", "bytes", "hash", "content_type", "last_modified"}`, containers
  `{"name", "count", "bytes", "last_modified"}`, roll-ups `{"subdir"}`.
  `last_modified` is ISO 8601 with microseconds, UTC, without a zone (as Swift).
* XML: `<container name="..."><object><name>...` / `<account name="..."><container>...`,
  roll-ups `<subdir name="..."><name>...</name></subdir>` (as Swift).
* plain: one name per line.
* internal (JSON only): every entry with `"timestamp"` (internal form), tombstones as
  `{"name", "timestamp", "deleted": true}`; container rows add their put and delete timestamps.

Rows arrive as stored (containers.py: name bytes and the stored value) and are rendered
straight to bytes: an object entry keeps its listed JSON members (entries.py), so a JSON
listing is mostly a concatenation of stored bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring
from xml.sax.saxutils import escape, quoteattr

from dolmen.storage_node.containers import CONTAINER, row_fields
from dolmen.storage_node.entries import entry_is_live, entry_listed, entry_timestamp
from dolmen.storage_node.listings import Row, Subdir
from dolmen.storage_node.timestamps import internal_text, iso_8601

CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "plain": "text/plain; charset=utf-8",
}
_JSON_ESCAPED = re.compile(rb'["\\\x00-\x1f]')  # what a JSON string cannot hold as is


def json_name(name: bytes) -> bytes:
    """A UTF-8 name as a JSON string; most names need no escape and are copied as they are."""
    if _JSON_ESCAPED.search(name) is None:
        return b'"' + name + b'"'
    return encode_basestring(name.decode("utf-8")).encode("utf-8")


def object_json(name: bytes, value: bytes, *, internal: bool) -> bytes:
    if not entry_is_live(value):
        timestamp = internal_text(*entry_timestamp(value))
        return b'{"name":%b,"timestamp":"%b","deleted":true}' % (json_name(name), timestamp.encode())
    if internal:
        timestamp = internal_text(*entry_timestamp(value))
        return b'{"name":%b,%b,"timestamp":"%b"}' % (json_name(name), entry_listed(value), timestamp.encode())
    return b'{"name":%b,%b}' % (json_name(name), entry_listed(value))


def plain_objects_json(rows: Sequence[Row[bytes] | Subdir], *, internal: bool) -> list[bytes] | None:
    """object_json of every row, in the one loop that serves most listings, if no name needs a
    JSON escape (checked for all names at once; else None): a live entry then costs a slice of
    its stored members and one formatting (with its timestamp's text, if `internal`)."""
    names = b"".join(row.name if isinstance(row, Subdir) else row[0] for row in rows)
    if _JSON_ESCAPED.search(names) is not None:
        return None
    live = _timestamped_live_json if internal else _live_json
    return [
        b'{"subdir":"%b"}' % row.name
        if isinstance(row, Subdir)
        else live(*row)
        if entry_is_live(row[1])
        else object_json(*row, internal=internal)
        for row in rows
    ]


def _live_json(name: bytes, value: bytes) -> bytes:
    return b'{"name":"%b",%b}' % (name, entry_listed(value))


def _timestamped_live_json(name: bytes, value: bytes) -> bytes:
    timestamp = internal_text(*entry_timestamp(value)).encode()
    return b'{"name":"%b",%b,"timestamp":"%b"}' % (name, entry_listed(value), timestamp)


def row_json(name: bytes, value: bytes, *, internal: bool) -> bytes:
    put, delete, count, used = row_fields(value)
    quoted = encode_basestring(name.decode("utf-8"))
    timestamps = f'"put_timestamp":"{put.internal}","delete_timestamp":"{delete.internal}"'
    newest = max(put, delete).internal
    if put <= delete:
        return f'{{"name":{quoted},"timestamp":"{newest}","deleted":true,{timestamps}}}'.encode()
    text = f'{{"name":{quoted},"count":{count},"bytes":{used},"last_modified":"{iso_8601(put.ticks)}"'
    return (text + (f',"timestamp":"{newest}",{timestamps}}}' if internal else "}")).encode("utf-8")


def render(
    rows: Sequence[Row[bytes] | Subdir], listing_format: str, *, internal: bool, role: str, name: str
) -> bytes:
    """The body of a listing of `rows` of the container or account `name` in `listing_format`."""
    entry_json: Callable[..., bytes] = object_json if role == CONTAINER else row_json
    if internal or listing_format == "json":
        parts = plain_objects_json(rows, internal=internal) if role == CONTAINER else None
        if parts is None:
            parts = [
                b'{"subdir":%b}' % json_name(row.name)
                if isinstance(row, Subdir)
                else entry_json(*row, internal=internal)
                for row in rows
            ]
        return b"[" + b",".join(parts) + b"]"
    if listing_format == "plain":
        return b"".join((row.name if isinstance(row, Subdir) else row[0]) + b"\n" for row in rows)
    assert listing_format == "xml"
    item = "object" if role == CONTAINER else "container"
    text = ['<?xml version="1.0" encoding="UTF-8"?>\n', f"<{role} name={quoteattr(name)}>"]
    for row in rows:
        if isinstance(row, Subdir):
            subdir = row.name.decode("utf-8")
            text.append(f"<subdir name={quoteattr(subdir)}><name>{escape(subdir)}</name></subdir>")
            continue
        fields = json.loads(entry_json(*row, internal=False))
        text.append(f"<{item}>")
        text.extend(f"<{key}>{escape(str(value))}</{key}>" for key, value in fields.items())
        text.append(f"</{item}>")
    text.append(f"</{role}>")
    return "".join(text).encode("utf-8")
