"""The upload cleaner: the one background component that removes what ended multipart uploads leave.

Work is a queue in the store, so it survives restarts and any worker can add
to it: each entry of the container `upload-sweeps` in the system account
`.s3` is one scheduled sweep of one upload, named `<due time, 12 digits>/<upload
id>/<token>` (so a listing returns them in due order) with a small JSON body
naming the upload (account, bucket, key, upload id). Creating an upload
schedules its expiry sweep (`upload_expiry_s` later); ending one (abort,
complete) schedules a sweep due at once.

A sweep of an upload:
1. a live upload record that has not expired: the sweep was early (an end cut
   short); it is replaced by one at the expiry time;
2. an expired record is removed (the upload is aborted);
3. every stored part the upload's completed object does not use is deleted
   (all of them for an aborted or expired upload), at most
   `cleaner_deletes_per_pass` per pass; the entry goes only when none is left.

One proxy worker (the first) runs `UploadCleaner.run`: every
`cleaner_interval_s` one pass over at most `cleaner_sweeps_per_pass` due
entries. A pass that fails is logged and retried at the next interval; a cancel
between two deletes leaves the entry, so the next pass resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from dolmen.proxy.errors import ManifestInvalid
from dolmen.proxy.largeobjects import read_manifest
from dolmen.proxy.reserved import reserved_container
from dolmen.proxy.s3.mpobjects import upload_id_of
from dolmen.proxy.s3.uploads import (
    initiated_s,
    parse_part_entry,
    parse_record_name,
    parts_prefix,
    record_name,
)
from dolmen.proxy.swift.access import Authoriser
from dolmen.proxy.swift.headers import sysmeta_item

from dolmen.cluster import ClusterClient, ListingQuery, NotFound, ObjectEntry
from dolmen.errors import DolmenError
from dolmen.limits import LISTING_PAGE_ENTRIES_MAX

log = logging.getLogger("dolmen.proxy.s3.cleaner")

QUEUE_ACCOUNT = ".s3"
QUEUE_CONTAINER = "upload-sweeps"
_ENTRY_BYTES_MAX = 4096


@dataclass(frozen=True, kw_only=True)
class Sweep:
    account: str
    bucket: str
    key: str
    upload_id: str

    def encode(self) -> bytes:
        return json.dumps(
            {"account": self.account, "bucket": self.bucket, "key": self.key, "upload_id": self.upload_id},
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, body: bytes) -> Sweep:
        """ValueError or TypeError for a body that is not a sweep Dolmen wrote."""
        sweep = cls(**json.loads(body))
        if parse_record_name(record_name(sweep.key, sweep.upload_id)) != (sweep.key, sweep.upload_id):
            raise ValueError("not an upload id")
        return sweep


def entry_name(due_s: float, upload_id: str) -> str:
    return f"{max(0, int(due_s)):012d}/{upload_id}/{secrets.token_hex(4)}"


def due_of(name: str) -> int:
    head = name.partition("/")[0]
    return int(head) if head.isdigit() else 0


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def schedule_sweep(
    client: ClusterClient, *, account: str, bucket: str, key: str, upload_id: str, due_s: float
) -> None:
    """Add a sweep of this upload, due at `due_s` (Unix seconds); durable once this returns."""
    sweep = Sweep(account=account, bucket=bucket, key=key, upload_id=upload_id)
    await client.put_object(
        QUEUE_ACCOUNT,
        QUEUE_CONTAINER,
        entry_name(due_s, upload_id),
        _one(sweep.encode()),
        content_type="application/json",
        internal=True,
    )


async def used_parts(client: ClusterClient, sweep: Sweep) -> frozenset[str]:
    """The parts of `sweep`'s upload that the object at its key uses (none unless it is that upload's)."""
    try:
        info, segments = await read_manifest(client, sweep.account, sweep.bucket, sweep.key)
    except (NotFound, ManifestInvalid):
        return frozenset()
    if upload_id_of(info) != sweep.upload_id:
        return frozenset()
    container = reserved_container("uploads", sweep.bucket)
    return frozenset(segment.obj for segment in segments if segment.container == container)


# A bucket in which a multipart upload was ever started carries this container item (its value:
# when it was set, Unix seconds). Only there can a write or delete replace a completed upload,
# so elsewhere `replaced_upload` skips looking (a quorum HEAD before every small write).
MULTIPART_BUCKET_ITEM = sysmeta_item("s3-multipart-since")
CLOCK_SKEW_MARGIN_S = 1.0  # proxies' clocks agree within this (NTP): added to every wait below


async def mark_multipart_bucket(
    client: ClusterClient, authoriser: Authoriser, account: str, bucket: str
) -> float:
    """Flag `bucket` as holding multipart uploads (before the first one starts); when it was flagged."""
    info = await authoriser.container_info(account, bucket)
    since = _flagged_since(info.metadata if info is not None else {})
    if since is None:
        since = time.time()
        await client.post_container(account, bucket, {MULTIPART_BUCKET_ITEM: f"{since:.6f}"})
        authoriser.invalidate(account, bucket)
    return since


async def wait_until_every_proxy_sees_the_flag(
    client: ClusterClient, authoriser: Authoriser, account: str, bucket: str
) -> None:
    """Before a completed upload's object is written: every proxy's cached info of the bucket
    is newer than its flag, so none skips `replaced_upload`'s HEAD of that key any more.
    Waits at most cache_ttl_s (plus the clock margin), and only just after a bucket's first upload."""
    since = await mark_multipart_bucket(client, authoriser, account, bucket)
    wait_s = since + authoriser.cache_ttl_s + CLOCK_SKEW_MARGIN_S - time.time()
    if wait_s > 0:
        await asyncio.sleep(min(wait_s, authoriser.cache_ttl_s + CLOCK_SKEW_MARGIN_S))


def _flagged_since(metadata: Mapping[str, str]) -> float | None:
    try:
        return float(metadata[MULTIPART_BUCKET_ITEM])
    except (KeyError, ValueError):
        return None


async def replaced_upload(
    client: ClusterClient, authoriser: Authoriser, account: str, bucket: str, key: str
) -> str | None:
    """The upload whose completed object `key` holds now; call before replacing or deleting `key`."""
    container = await authoriser.container_info(account, bucket)
    if container is not None and MULTIPART_BUCKET_ITEM not in container.metadata:
        return None  # no upload was ever started in this bucket
    try:
        info = await client.head_object(account, bucket, key)
    except NotFound:
        return None
    return upload_id_of(info)


async def sweep_replaced(
    client: ClusterClient, account: str, bucket: str, key: str, upload_id: str | None
) -> None:
    """After `key` was replaced or deleted: the upload it held (if any) is swept now, all its parts."""
    if upload_id is not None:
        await schedule_sweep(
            client, account=account, bucket=bucket, key=key, upload_id=upload_id, due_s=time.time()
        )


class UploadCleaner:
    """Runs the due sweeps, a bounded amount of work per pass."""

    def __init__(
        self,
        client: ClusterClient,
        *,
        upload_expiry_s: float,
        interval_s: float,
        sweeps_per_pass: int,
        deletes_per_pass: int,
    ) -> None:
        self._client = client
        self._upload_expiry_s = upload_expiry_s
        self._interval_s = interval_s
        self._sweeps_per_pass = sweeps_per_pass
        self._deletes_per_pass = deletes_per_pass

    async def run(self) -> None:
        """Pass after pass until cancelled; a failed pass is logged, never fatal."""
        while True:
            try:
                await self.run_pass(now_s=time.time())
            except DolmenError as error:
                log.warning("s3.cleaner.pass_failed", extra={"reason": f"{type(error).__name__}: {error}"})
            except Exception:  # a bug must not end the only cleaner: logged, retried next pass
                log.exception("s3.cleaner.pass_crashed")
            await asyncio.sleep(self._interval_s)

    async def run_pass(self, *, now_s: float) -> int:
        """Run the sweeps due by `now_s` (at most sweeps_per_pass); the number finished."""
        try:
            listing = await self._client.list_objects(
                QUEUE_ACCOUNT, QUEUE_CONTAINER, ListingQuery(limit=self._sweeps_per_pass), internal=True
            )
        except NotFound:
            return 0
        budget = [self._deletes_per_pass]
        finished = 0
        for entry in listing.entries:
            if not isinstance(entry, ObjectEntry) or due_of(entry.name) > now_s or budget[0] <= 0:
                break
            if await self._sweep_entry(entry.name, now_s=now_s, budget=budget):
                finished += 1
        return finished

    async def _sweep_entry(self, name: str, *, now_s: float, budget: list[int]) -> bool:
        try:
            async with self._client.get_object(QUEUE_ACCOUNT, QUEUE_CONTAINER, name, internal=True) as reader:
                body = b"".join([chunk async for chunk in reader.body])[:_ENTRY_BYTES_MAX]
        except NotFound:
            return False
        try:
            sweep = Sweep.decode(body)
        except (ValueError, TypeError):
            log.error("s3.cleaner.bad_entry", extra={"entry": name[:200]})  # dropped: it names nothing
        else:
            if not await self._sweep(sweep, now_s=now_s, budget=budget):
                return False
        with contextlib.suppress(NotFound):
            await self._client.delete_object(QUEUE_ACCOUNT, QUEUE_CONTAINER, name, internal=True)
        return True

    async def _sweep(self, sweep: Sweep, *, now_s: float, budget: list[int]) -> bool:
        """True when nothing of the upload is left to remove."""
        container = reserved_container("uploads", sweep.bucket)
        record = record_name(sweep.key, sweep.upload_id)
        expires_s = initiated_s(sweep.upload_id) + self._upload_expiry_s
        try:
            await self._client.head_object(sweep.account, container, record)
        except NotFound:
            pass
        else:
            if now_s < expires_s:  # early: the upload lives on; its expiry sweep replaces this one
                await schedule_sweep(
                    self._client,
                    account=sweep.account,
                    bucket=sweep.bucket,
                    key=sweep.key,
                    upload_id=sweep.upload_id,
                    due_s=expires_s,
                )
                return True
            with contextlib.suppress(NotFound):
                await self._client.delete_object(sweep.account, container, record)
            log.info("s3.cleaner.expired", extra={"upload_id": sweep.upload_id})
        used = await used_parts(self._client, sweep)
        marker = ""
        while True:
            try:
                listing = await self._client.list_objects(
                    sweep.account,
                    container,
                    ListingQuery(
                        prefix=parts_prefix(sweep.upload_id), marker=marker, limit=LISTING_PAGE_ENTRIES_MAX
                    ),
                )
            except NotFound:
                return True
            for entry in listing.entries:
                marker = entry.name
                if not isinstance(entry, ObjectEntry) or entry.name in used:
                    continue
                if parse_part_entry(entry.name, entry.etag, entry.bytes, 0.0) is None:
                    continue
                if budget[0] <= 0:
                    return False
                budget[0] -= 1
                with contextlib.suppress(NotFound):
                    await self._client.delete_object(sweep.account, container, entry.name)
            if not listing.truncated or not listing.entries:
                return True
