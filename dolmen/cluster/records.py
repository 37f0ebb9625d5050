"""Records: JSON documents with versions, each in its own register (the truth, linearizable).

A record lives in the register `r/<account>/<collection>/<key>` (over 256 bytes: `r#` and a
BLAKE2b digest of it), as `{"key", "version", "doc"}` JSON. Versions start at 1 and grow by
one per update; `update` and `delete` check the version the caller read (optimistic
concurrency). Collections follow container naming rules, keys object naming rules, so that
the listing index (an entry per record in the container `<collection>` of the account) can
name them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dolmen.cluster.errors import (
    Conflict,
    NotFound,
    RecordExists,
    RecordNotFound,
    RecordTooLarge,
    VersionConflict,
)
from dolmen.cluster.listing import ListingQuery
from dolmen.cluster.names import check_names
from dolmen.limits import (
    RECORD_BYTES_MAX,
    RECORD_LIST_ENTRIES_MAX,
    REGISTER_KEY_BYTES_MAX,
    REGISTER_PAYLOAD_BYTES_MAX,
)

INDEX_CONTENT_TYPE = "application/x-dolmen-record-index"
RECORD_READS_CONCURRENT_MAX = 16  # registers Records.list reads at once


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator with no items


if TYPE_CHECKING:
    from dolmen.cluster.client import ClusterClient


@dataclass(frozen=True, slots=True)
class Record:
    key: str
    doc: dict[str, Any]
    version: int


def record_register_key(account: str, collection: str, key: str) -> str:
    """The register of one record (account and collection cannot contain '/': unambiguous)."""
    full = f"r/{account}/{collection}/{key}"
    if len(full.encode("utf-8")) <= REGISTER_KEY_BYTES_MAX:
        return full
    return "r#" + hashlib.blake2b(full.encode("utf-8"), digest_size=32).hexdigest()


def encode_record(record: Record) -> bytes:
    doc_bytes = json.dumps(record.doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(doc_bytes) > RECORD_BYTES_MAX:
        raise RecordTooLarge(
            f"record {record.key!r} is {len(doc_bytes)} bytes of JSON; at most {RECORD_BYTES_MAX}"
        )
    data = json.dumps(
        {"key": record.key, "version": record.version, "doc": record.doc},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    if len(data) > REGISTER_PAYLOAD_BYTES_MAX:
        raise RecordTooLarge(f"record {record.key!r} does not fit a register")
    return data


def decode_record(data: bytes | None) -> Record | None:
    if data is None:
        return None
    document = json.loads(data)
    return Record(key=document["key"], doc=document["doc"], version=document["version"])


class Records:
    """JSON records of one system account (API.md: Registers and records)."""

    def __init__(self, client: ClusterClient, account: str = ".identity") -> None:
        check_names(account, internal=True)
        self.client = client
        self.account = account

    def _register(self, collection: str, key: str) -> str:
        check_names(self.account, collection, key, internal=True)
        return record_register_key(self.account, collection, key)

    async def get(self, collection: str, key: str) -> Record | None:
        """The record (linearizable: every acknowledged change before this call is seen), or None."""
        return decode_record(await self.client.read_register(self._register(collection, key)))

    async def create(self, collection: str, key: str, doc: dict[str, Any]) -> Record:
        """Create the record at version 1; RecordExists if the key is taken (one racer wins)."""
        register = self._register(collection, key)
        new = Record(key=key, doc=doc, version=1)
        encoded = encode_record(new)

        def create(current: bytes | None) -> bytes:
            if current is not None:
                raise RecordExists(f"{collection}/{key} exists")
            return encoded

        # The index entry first: a record is never without one (an entry without a record is skipped).
        with contextlib.suppress(Conflict):  # a racing create wrote the same entry, a little later
            await self.client.put_object(
                self.account,
                collection,
                key,
                _empty(),
                content_type=INDEX_CONTENT_TYPE,
                length=0,
                internal=True,
            )
        stored = decode_record(await self.client.cas(register, create))
        assert stored is not None
        return stored

    async def update(self, collection: str, key: str, doc: dict[str, Any], *, version: int) -> Record:
        """Replace the document if the record is still at `version`; the new record is at version + 1."""
        register = self._register(collection, key)
        encode_record(Record(key=key, doc=doc, version=version + 1))  # RecordTooLarge before any round

        def update(current: bytes | None) -> bytes:
            record = decode_record(current)
            if record is None:
                raise RecordNotFound(f"{collection}/{key} does not exist")
            if record.version != version:
                raise VersionConflict(f"{collection}/{key} is at version {record.version}, not {version}")
            return encode_record(Record(key=key, doc=doc, version=version + 1))

        stored = decode_record(await self.client.cas(register, update))
        assert stored is not None
        return stored

    async def delete(self, collection: str, key: str, *, version: int | None = None) -> None:
        """Delete the record (if at `version`, when given); RecordNotFound, VersionConflict."""
        register = self._register(collection, key)

        def delete(current: bytes | None) -> None:
            record = decode_record(current)
            if record is None:
                raise RecordNotFound(f"{collection}/{key} does not exist")
            if version is not None and record.version != version:
                raise VersionConflict(f"{collection}/{key} is at version {record.version}, not {version}")
            return None

        await self.client.cas(register, delete)
        with contextlib.suppress(NotFound):  # the index entry goes after the record
            await self.client.delete_object(self.account, collection, key, internal=True)

    async def list(self, collection: str, prefix: str = "") -> list[Record]:
        """The collection's records whose key starts with `prefix`, in key order (at most
        RECORD_LIST_ENTRIES_MAX). Each is read linearizably; index entries without a record are skipped."""
        check_names(self.account, collection, internal=True)
        keys: list[str] = []
        marker = ""
        while len(keys) < RECORD_LIST_ENTRIES_MAX:
            query = ListingQuery(
                prefix=prefix, marker=marker, limit=min(1000, RECORD_LIST_ENTRIES_MAX - len(keys))
            )
            try:
                listing = await self.client.list_objects(self.account, collection, query, internal=True)
            except NotFound:
                break
            keys += [entry.name for entry in listing.entries]
            if not listing.truncated or not listing.entries:
                break
            marker = listing.entries[-1].name
        limit = asyncio.Semaphore(RECORD_READS_CONCURRENT_MAX)

        async def read(key: str) -> Record | None:
            async with limit:
                return await self.get(collection, key)

        records = await asyncio.gather(*(read(key) for key in keys))
        return [record for record in records if record is not None]
