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
straight to text: a listing of 10,000 entries builds no per-entry objects beyond its strings.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from json.encoder import encode_basestring
from xml.sax.saxutils import escape, quoteattr

from dolmen.storage_node.containers import CONTAINER, entry_fields, row_fields
from dolmen.storage_node.listings import Row, Subdir
from dolmen.storage_node.timestamps import TICKS_PER_S, internal_text

CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "plain": "text/plain; charset=utf-8",
}
MICROSECONDS_PER_TICK = 1_000_000 // TICKS_PER_S


@functools.lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def iso_8601(ticks: int) -> str:
    """`2026-11-23T16:55:18.123450`: Swift's last_modified of a timestamp's ticks (10 µs each)."""
    seconds, fraction = divmod(ticks, TICKS_PER_S)
    return f"{_iso_second(seconds)}.{fraction * MICROSECONDS_PER_TICK:06d}"


def object_json(name: bytes, value: bytes, *, internal: bool) -> str:
    ticks, offset, deleted, size, etag, content_type = entry_fields(value)
    quoted = encode_basestring(name.decode("utf-8"))
    if deleted:
        return f'{{"name":{quoted},"timestamp":"{internal_text(ticks, offset)}","deleted":true}}'
    text = (
        f'{{"name":{quoted},"bytes":{size},"hash":{encode_basestring(etag)},'
        f'"content_type":{encode_basestring(content_type)},"last_modified":"{iso_8601(ticks)}"'
    )
    return text + (f',"timestamp":"{internal_text(ticks, offset)}"}}' if internal else "}")


def row_json(name: bytes, value: bytes, *, internal: bool) -> str:
    put, delete, count, used = row_fields(value)
    quoted = encode_basestring(name.decode("utf-8"))
    timestamps = f'"put_timestamp":"{put.internal}","delete_timestamp":"{delete.internal}"'
    newest = max(put, delete).internal
    if put <= delete:
        return f'{{"name":{quoted},"timestamp":"{newest}","deleted":true,{timestamps}}}'
    text = f'{{"name":{quoted},"count":{count},"bytes":{used},"last_modified":"{iso_8601(put.ticks)}"'
    return text + (f',"timestamp":"{newest}",{timestamps}}}' if internal else "}")


def render(
    rows: Sequence[Row[bytes] | Subdir], listing_format: str, *, internal: bool, role: str, name: str
) -> bytes:
    """The body of a listing of `rows` of the container or account `name` in `listing_format`."""
    entry_json = object_json if role == CONTAINER else row_json
    if internal or listing_format == "json":
        parts = [
            f'{{"subdir":{encode_basestring(row.name.decode("utf-8"))}}}'
            if isinstance(row, Subdir)
            else entry_json(row.name, row.entry, internal=internal)
            for row in rows
        ]
        return ("[" + ",".join(parts) + "]").encode("utf-8")
    if listing_format == "plain":
        return b"".join(row.name + b"\n" for row in rows)
    assert listing_format == "xml"
    item = "object" if role == CONTAINER else "container"
    text = ['<?xml version="1.0" encoding="UTF-8"?>\n', f"<{role} name={quoteattr(name)}>"]
    for row in rows:
        row_name = row.name.decode("utf-8")
        if isinstance(row, Subdir):
            text.append(f"<subdir name={quoteattr(row_name)}><name>{escape(row_name)}</name></subdir>")
            continue
        fields = json.loads(entry_json(row.name, row.entry, internal=False))
        text.append(f"<{item}>")
        text.extend(f"<{key}>{escape(str(value))}</{key}>" for key, value in fields.items())
        text.append(f"</{item}>")
    text.append(f"</{role}>")
    return "".join(text).encode("utf-8")
