"""Identity's records in the store: the system account `.identity`, through the cluster client's Records.

Each collection is a fixed number of *shards*, each one record (a register: the truth,
linearizable, changed by compare-and-swap) holding `{"entries": {key: document}}`. A key
`a.b.c` lives in the shard of its first part `a`, so that every key with the prefix
`a.` is in one shard: a user's role assignments and EC2 credentials read in one round.
Listing a collection reads its shards concurrently; nothing here needs a container
listing. A shard holds at most RECORD_BYTES_MAX of JSON: a write that does not fit fails
(ServiceBusy) instead of truncating, which bounds each collection (SHARDS below).

Collections:

    domains, projects, users, roles, services, endpoints   id -> entity
    names          claim digest -> {"id", "collection", "claimed_at_s"}
    assignments    "<user_id>.<project_id>.<role_id>" -> assignment
    ec2            access key -> credential (secret sealed)
    ec2_by_user    "<user_id>.<access>" -> {"access"}
    revocations    random id -> revocation event
and plain records in "state": "fernet_keys" (sealed key repository), "generation".

Unique names (domains; users and projects per domain; roles) are claimed before the
entity is written; a claim is a create in its shard, a compare-and-swap, so of two
concurrent creations of one name exactly one succeeds. A claim whose entity never
appeared (its creator died between the two writes) is taken over after `claim_grace_s`.

`generation` grows after every change a token validator must see (keys, revocations,
roles, catalog): validators poll that one record and reload the rest only when it moved.
A change is written before the generation moves, so a validator that read generation n
has seen every change announced by n.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from dolmen.identity.errors import EntityConflict, EntityNotFound, ServiceBusy

from dolmen.cluster import RecordExists, RecordNotFound, Records, RecordTooLarge, VersionConflict
from dolmen.limits import IDENTITY_LIST_ENTRIES_MAX

ACCOUNT = ".identity"
NAMED_COLLECTIONS = ("domains", "projects", "users", "roles")
# Shards per collection: each holds up to RECORD_BYTES_MAX (60 KiB) of JSON, so roughly
# users 64 x 150 = 9,600 users; revocations 32 x 300 = 9,600 live events.
SHARDS: dict[str, int] = {
    "domains": 4,
    "projects": 64,
    "users": 64,
    "roles": 4,
    "services": 2,
    "endpoints": 4,
    "names": 64,
    "assignments": 64,
    "ec2": 64,
    "ec2_by_user": 64,
    "revocations": 32,
}
SHARD_UPDATE_ATTEMPTS_MAX = 32  # concurrent writers to one shard each retry on a version conflict
GENERATION_UPDATE_ATTEMPTS_MAX = 32

Document = dict[str, Any]


class RecordsLike(Protocol):
    """The part of dolmen.cluster.Records identity uses (see dolmen/cluster/API.md)."""

    async def get(self, collection: str, key: str) -> Any: ...
    async def create(self, collection: str, key: str, doc: Document) -> Any: ...
    async def update(self, collection: str, key: str, doc: Document, *, version: int) -> Any: ...
    async def delete(self, collection: str, key: str, *, version: int | None = None) -> None: ...


def open_records(client: Any) -> Records:
    return Records(client, account=ACCOUNT)


def name_claim_key(collection: str, scope: str, name: str) -> str:
    """The key of a name claim: a digest, so that no name can escape its place in a key."""
    assert collection in NAMED_COLLECTIONS
    return hashlib.sha256(f"{collection}\0{scope}\0{name}".encode()).hexdigest()[:40]


def shard_of(collection: str, key: str) -> str:
    """The shard record of `key`: chosen by the key's first dot-separated part."""
    first = key.split(".", 1)[0]
    number = (
        int.from_bytes(hashlib.blake2b(first.encode(), digest_size=4).digest(), "big") % SHARDS[collection]
    )
    return f"shard-{number:03d}"


class Shards:
    """Get, create, change and delete entries of sharded collections, each a compare-and-swap."""

    def __init__(self, records: RecordsLike) -> None:
        self.records = records

    async def get(self, collection: str, key: str) -> Document | None:
        record = await self.records.get(collection, shard_of(collection, key))
        if record is None:
            return None
        entry = record.doc["entries"].get(key)
        return None if entry is None else dict(entry)

    async def entries(self, collection: str, prefix: str = "") -> list[tuple[str, Document]]:
        """Entries whose key starts with `prefix`, in key order; one shard if the prefix holds a dot."""
        if "." in prefix:
            names = [shard_of(collection, prefix)]
        else:
            names = sorted({f"shard-{number:03d}" for number in range(SHARDS[collection])})
        records = await asyncio.gather(*(self.records.get(collection, name) for name in names))
        found = [
            (key, dict(doc))
            for record in records
            if record is not None
            for key, doc in record.doc["entries"].items()
            if key.startswith(prefix)
        ]
        return sorted(found, key=lambda item: item[0])

    async def edit(
        self,
        collection: str,
        key: str,
        change: Callable[[Document | None], Document | None],
        *,
        expired: Callable[[Document], bool] | None = None,
    ) -> tuple[Document | None, Document | None]:
        """Apply `change` to the entry (None: absent) and store its result (None: delete); (before, after).

        `change` may raise to refuse; it may run more than once (on concurrent writes to the shard).
        Entries of the shard for which `expired` holds are dropped in the same write.
        """
        shard = shard_of(collection, key)
        for _ in range(SHARD_UPDATE_ATTEMPTS_MAX):
            record = await self.records.get(collection, shard)
            entries = dict(record.doc["entries"]) if record is not None else {}
            if expired is not None:
                entries = {k: doc for k, doc in entries.items() if k == key or not expired(doc)}
            before = entries.get(key)
            after = change(None if before is None else dict(before))
            if after == before and (record is None or len(entries) == len(record.doc["entries"])):
                return before, after  # nothing to write
            if after is None:
                entries.pop(key, None)
            else:
                entries[key] = after
            try:
                if record is None:
                    await self.records.create(collection, shard, {"entries": entries})
                else:
                    await self.records.update(collection, shard, {"entries": entries}, version=record.version)
            except (VersionConflict, RecordExists, RecordNotFound):
                continue
            except RecordTooLarge:
                raise ServiceBusy(f"the {collection} shard is full") from None
            return before, after
        raise ServiceBusy(f"{collection} keeps changing; try again")


class IdentityStore:
    """Typed access to identity's collections. Raises EntityNotFound / EntityConflict."""

    def __init__(
        self, records: RecordsLike, *, claim_grace_s: float = 30.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.records = records
        self.shards = Shards(records)
        self.claim_grace_s = claim_grace_s
        self.clock = clock

    # --- entries ---------------------------------------------------------------

    async def get(self, collection: str, key: str) -> Document:
        found = await self.shards.get(collection, key)
        if found is None:
            raise EntityNotFound(f"Could not find {_noun(collection)}: {key}.")
        return found

    async def find(self, collection: str, key: str) -> Document | None:
        return await self.shards.get(collection, key)

    async def list(self, collection: str, prefix: str = "") -> list[Document]:
        entries = await self.shards.entries(collection, prefix)
        if len(entries) > IDENTITY_LIST_ENTRIES_MAX:
            raise ServiceBusy(f"more than {IDENTITY_LIST_ENTRIES_MAX} {collection}: list with a filter")
        return [doc for _, doc in entries]

    async def put_new(
        self, collection: str, key: str, doc: Document, *, expired: Callable[[Document], bool] | None = None
    ) -> Document:
        """Store `doc` under a new `key`; EntityConflict if the key is taken. See Shards.edit for `expired`."""

        def create(current: Document | None) -> Document:
            if current is not None:
                raise EntityConflict(f"Conflict occurred attempting to store {_noun(collection)} {key}.")
            return doc

        await self.shards.edit(collection, key, create, expired=expired)
        return doc

    async def change(
        self, collection: str, key: str, edit: Callable[[Document], Document]
    ) -> tuple[Document, Document]:
        """Apply `edit` to the current document (again on concurrent changes); (before, after)."""

        def change(current: Document | None) -> Document:
            if current is None:
                raise EntityNotFound(f"Could not find {_noun(collection)}: {key}.")
            return edit(current)

        before, after = await self.shards.edit(collection, key, change)
        assert before is not None and after is not None
        return before, after

    async def remove(self, collection: str, key: str) -> None:
        def delete(current: Document | None) -> None:
            if current is None:
                raise EntityNotFound(f"Could not find {_noun(collection)}: {key}.")

        await self.shards.edit(collection, key, delete)

    async def discard(self, collection: str, key: str) -> None:
        """Delete `key` if it is there."""
        await self.shards.edit(collection, key, lambda current: None)

    # --- named entities ------------------------------------------------------

    async def create_named(self, collection: str, doc: Document, *, scope: str) -> Document:
        """Claim `doc["name"]` in `scope`, then store `doc` under `doc["id"]`; EntityConflict if the name is taken."""
        await self._claim(collection, scope, doc["name"], doc["id"])
        try:
            return await self.put_new(collection, doc["id"], doc)
        except BaseException:
            await self._release(collection, scope, doc["name"], doc["id"])
            raise

    async def find_by_name(self, collection: str, scope: str, name: str) -> Document | None:
        claim = await self.shards.get("names", name_claim_key(collection, scope, name))
        if claim is None:
            return None
        return await self.find(collection, claim["id"])

    async def rename(self, collection: str, entity: Document, new_name: str, *, scope: str) -> None:
        """Claim `new_name` for `entity` (the caller then updates the entity and releases the old name)."""
        if new_name != entity["name"]:
            await self._claim(collection, scope, new_name, entity["id"])

    async def release_name(self, collection: str, scope: str, name: str, entity_id: str) -> None:
        await self._release(collection, scope, name, entity_id)

    async def delete_named(self, collection: str, doc: Document, *, scope: str) -> None:
        await self.remove(collection, doc["id"])
        await self._release(collection, scope, doc["name"], doc["id"])

    async def _claim(self, collection: str, scope: str, name: str, entity_id: str) -> None:
        key = name_claim_key(collection, scope, name)
        # Taken by a live entity: conflict. Taken by a creator that died before writing its
        # entity (no entity, claim older than the grace time): take it over.
        current = await self.shards.get("names", key)
        stale = current is not None and await self._is_stale(collection, current)
        claim = {"id": entity_id, "collection": collection, "claimed_at_s": self.clock()}

        def take(existing: Document | None) -> Document:
            if existing is not None and not (stale and existing == current):
                raise EntityConflict(
                    f"Conflict occurred attempting to store {_noun(collection)} - Duplicate entry."
                )
            return claim

        await self.shards.edit("names", key, take)

    async def _is_stale(self, collection: str, claim: Document) -> bool:
        old = self.clock() - float(claim.get("claimed_at_s", 0)) > self.claim_grace_s
        return old and await self.find(collection, claim["id"]) is None

    async def _release(self, collection: str, scope: str, name: str, entity_id: str) -> None:
        def release(existing: Document | None) -> Document | None:
            return None if existing is not None and existing.get("id") == entity_id else existing

        await self.shards.edit("names", name_claim_key(collection, scope, name), release)

    # --- what validators poll ------------------------------------------------

    async def generation(self) -> int:
        record = await self.records.get("state", "generation")
        return 0 if record is None else int(record.doc["generation"])

    async def bump_generation(self) -> int:
        """Announce a change to validators; call it after the change is written."""
        for _ in range(GENERATION_UPDATE_ATTEMPTS_MAX):
            record = await self.records.get("state", "generation")
            try:
                if record is None:
                    await self.records.create("state", "generation", {"generation": 1})
                    return 1
                generation = int(record.doc["generation"]) + 1
                await self.records.update(
                    "state", "generation", {"generation": generation}, version=record.version
                )
                return generation
            except (RecordExists, VersionConflict, RecordNotFound):
                continue
        raise ServiceBusy("the identity generation keeps changing; try again")

    async def sealed_keys(self) -> Mapping[str, Any] | None:
        record = await self.records.get("state", "fernet_keys")
        return None if record is None else record.doc


def _noun(collection: str) -> str:
    return {
        "domains": "domain",
        "projects": "project",
        "users": "user",
        "roles": "role",
        "services": "service",
        "endpoints": "endpoint",
        "assignments": "role assignment",
        "ec2": "credential",
        "names": "name",
        "state": "state",
    }.get(collection, collection)
