"""Container updates sent together, pure: the body of an `UPDATE` and its parsing.

An object node sends the container updates bound for one container replica in one
request when several are waiting (updater.py): `POST` with `X-Backend-Verb: UPDATE` on
the container's path, a JSON array of entries as the body, and the body's SHA-256 in
`X-Backend-Body-Sha256` so that the request signature covers it (PROTOCOL.md, "Container
server"). The container applies the whole array in one commit, or nothing.
"""

from __future__ import annotations

import orjson
from dolmen.storage_node.entries import ObjectEntry
from dolmen.storage_node.errors import BadRequest
from dolmen.storage_node.signed_bodies import BODY_SHA256_HEADER, body_sha256, signed_json
from dolmen.storage_node.timestamps import Timestamp
from dolmen.storage_node.updates import PendingUpdate
from dolmen.storage_node.verbs import ROLE_HEADER, VERB_HEADER

from dolmen.limits import UPDATE_BATCH_BYTES_MAX, UPDATE_BATCH_ENTRIES_MAX

UPDATE_VERB = "UPDATE"
_FIELDS = {"name": str, "timestamp": str, "deleted": bool, "size": int, "etag": str, "content_type": str}


def batch_request(updates: list[PendingUpdate]) -> tuple[str, str, dict[str, str], bytes]:
    """(method, raw path, headers, body) of the UPDATE carrying `updates`, all bound for one
    container replica (at most UPDATE_BATCH_ENTRIES_MAX)."""
    first = updates[0]
    assert 0 < len(updates) <= UPDATE_BATCH_ENTRIES_MAX  # (and all bound for `first`'s destination)
    entries = [
        {
            "name": update.obj,
            "timestamp": update.timestamp.internal,
            "deleted": update.deleted,
            "size": update.size,
            "etag": update.etag,
            "content_type": update.content_type,
        }
        for update in updates
    ]
    body = orjson.dumps(entries)
    headers = {
        "X-Timestamp": max(update.timestamp for update in updates).internal,
        ROLE_HEADER: "container",
        VERB_HEADER: UPDATE_VERB,
        BODY_SHA256_HEADER: body_sha256(body),
    }
    return "POST", first.replica.path(first.account, first.container), headers, body


def destination(update: PendingUpdate) -> tuple[object, str, str]:
    """What updates must share to travel in one UPDATE: the container replica and its names."""
    return update.replica, update.account, update.container


def parse_batch(body: bytes, signed_sha256: str | None) -> list[ObjectEntry]:
    """The entries of an UPDATE body. UploadChecksumMismatch unless the body has the signed
    SHA-256; BadRequest for anything but a JSON array of 1..UPDATE_BATCH_ENTRIES_MAX entries
    with exactly the fields batch_request writes (their bounds are the engine's to check)."""
    entries = signed_json(
        body,
        signed_sha256,
        bytes_max=UPDATE_BATCH_BYTES_MAX,
        what="an UPDATE body",
        shape="a JSON array of entries",
    )
    if not isinstance(entries, list) or not 1 <= len(entries) <= UPDATE_BATCH_ENTRIES_MAX:
        raise BadRequest(f"an UPDATE body is a JSON array of 1..{UPDATE_BATCH_ENTRIES_MAX} entries")
    return [_entry(item) for item in entries]


def _entry(item: object) -> ObjectEntry:
    if type(item) is not dict or item.keys() != _FIELDS.keys():
        raise BadRequest(f"an UPDATE entry has exactly the fields {', '.join(_FIELDS)}")
    name, timestamp, deleted = item["name"], item["timestamp"], item["deleted"]
    size, etag, content_type = item["size"], item["etag"], item["content_type"]
    # JSON makes exactly these types, so one comparison of each (bool is not an int here).
    if not (
        type(name) is str
        and type(timestamp) is str
        and type(deleted) is bool
        and type(size) is int
        and type(etag) is str
        and type(content_type) is str
    ):
        for field, kind in _FIELDS.items():
            if type(item[field]) is not kind:
                raise BadRequest(f"an UPDATE entry's {field} must be a {kind.__name__}")
    if not name:
        raise BadRequest("an UPDATE entry's name is empty")
    return ObjectEntry(name, Timestamp.parse(timestamp), deleted, size, etag, content_type)
