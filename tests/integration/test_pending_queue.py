"""The pending container-update queue on a real device store: its due-time index finds what is
due without reading what backs off, stays exact as updates are replaced, retried and dropped
(an acknowledgement drops only the very update it acknowledged), and is rebuilt for a queue
written without it. The request path's tries are journaled one record per commit: the record
goes with its last acknowledgement, and what is left of it when due moves into the queue
(all of it after a restart), never over a newer update of the same object."""

from __future__ import annotations

from pathlib import Path

import pytest
from dolmen.storage_node import containers
from dolmen.storage_node.containers import Keyspaces
from dolmen.storage_node.device import DeviceConfig, DeviceStore
from dolmen.storage_node.timestamps import Timestamp
from dolmen.storage_node.updates import (
    JournaledUpdate,
    PendingUpdate,
    QueuedUpdate,
    Replica,
    decode_pending,
    encode_pending,
)

NOW_S = 1_700_000_000.0
REPLICA = Replica("127.0.0.1:6201", "d1", 7)


def update(name: str, *, due_s: float, offset_s: float = 0.0) -> PendingUpdate:
    return PendingUpdate(
        REPLICA,
        "AUTH_u",
        "photos",
        name,
        Timestamp.from_seconds(NOW_S + offset_s),
        False,
        4096,
        "d41d8cd98f00b204e9800998ecf8427e",
        "application/octet-stream",
        next_attempt_s=due_s,
    )


def key_of(name: str) -> bytes:
    return b"object-key/" + name.encode()


async def open_keyspaces(path: Path) -> Keyspaces:
    store = await DeviceStore.open(
        path,
        DeviceConfig(lmdb_map_size_bytes=64 * 2**20, free_space_reserve_bytes=0),
        cluster_fingerprint="0123456789abcdef",
        device="d1",
    )
    return Keyspaces(store)


@pytest.fixture
async def keyspaces(tmp_path: Path):
    opened = await open_keyspaces(tmp_path)
    yield opened
    await opened.store.close()


async def queue(keyspaces: Keyspaces, updates: list[PendingUpdate]) -> list[QueuedUpdate]:
    def apply(txn):
        return [keyspaces.queue_update(txn, key_of(pending.obj), pending) for pending in updates], []

    return await keyspaces.store.submit(apply)


async def journal(keyspaces: Keyspaces, updates: list[PendingUpdate]) -> list[QueuedUpdate | JournaledUpdate]:
    """The updates queued for their tries by one commit, as a PUT's change queues its own."""

    def apply(txn):
        return [keyspaces.queue_for_try(txn, key_of(pending.obj), pending) for pending in updates], []

    return await keyspaces.store.submit(apply)


async def journal_records(keyspaces: Keyspaces) -> int:
    batches = keyspaces.store.db(b"pending_batches")
    return await keyspaces.store.read(lambda txn: txn.stat(batches)["entries"])


async def forget(keyspaces: Keyspaces, acknowledged: list) -> None:
    keyspaces.forget_updates(acknowledged)
    await keyspaces.store.submit(lambda txn: (None, []))  # the forget rides on this commit


async def index_size(keyspaces: Keyspaces) -> int:
    index = keyspaces.store.db(b"pending_due")
    return await keyspaces.store.read(lambda txn: txn.stat(index)["entries"])


async def test_a_pass_reads_only_what_is_due_the_longest_due_first(keyspaces, monkeypatch):
    backing_off = [update(f"later-{i:05d}", due_s=NOW_S + 60 + i) for i in range(5000)]
    due = [update(f"due-{i}", due_s=NOW_S - i) for i in range(3)]
    await queue(keyspaces, backing_off + due)
    decoded = []
    monkeypatch.setattr(
        containers, "decode_pending", lambda value: decoded.append(value) or decode_pending(value)
    )

    found = await keyspaces.due_updates(now_s=NOW_S, limit=1024)

    assert [queued.update.obj for queued in found] == ["due-2", "due-1", "due-0"]
    assert [queued.key for queued in found] == [key_of("due-2"), key_of("due-1"), key_of("due-0")]
    assert len(decoded) == 3  # none of the 5,000 that back off was read
    assert [queued.update.obj for queued in await keyspaces.due_updates(now_s=NOW_S, limit=2)] == [
        "due-2",
        "due-1",
    ]
    assert await keyspaces.pending_count() == 5003


async def test_a_replaced_update_is_due_at_its_own_time_and_its_old_index_entry_goes(keyspaces):
    await queue(keyspaces, [update("photo", due_s=NOW_S - 10)])
    await queue(keyspaces, [update("photo", due_s=NOW_S + 30, offset_s=1)])  # a newer write of it
    assert await index_size(keyspaces) == 2

    assert await keyspaces.due_updates(now_s=NOW_S, limit=10) == []  # the stale entry is not due
    assert await index_size(keyspaces) == 1  # and was removed on the way

    [(key, pending, _)] = await keyspaces.due_updates(now_s=NOW_S + 30, limit=10)
    assert (key, pending.timestamp) == (key_of("photo"), Timestamp.from_seconds(NOW_S + 1))


async def test_retries_move_an_update_in_the_index_and_acknowledgements_drop_both(keyspaces):
    first, second = await queue(keyspaces, [update("a", due_s=NOW_S - 1), update("b", due_s=NOW_S - 1)])

    await keyspaces.retry_later(first, first.update.failed(now_s=NOW_S, base_s=5, max_s=60))
    keyspaces.forget_updates([second])
    await keyspaces.store.submit(lambda txn: (None, []))  # the forget rides on this commit

    assert await keyspaces.due_updates(now_s=NOW_S, limit=10) == []
    [(key, retried, _)] = await keyspaces.due_updates(now_s=NOW_S + 5, limit=10)
    assert (key, retried.attempts, retried.next_attempt_s) == (key_of("a"), 1, NOW_S + 5)
    assert await keyspaces.pending_count() == 1 and await index_size(keyspaces) == 1

    keyspaces.forget_updates([first])  # a late acknowledgement of the try before the retry
    await keyspaces.store.submit(lambda txn: (None, []))
    assert [queued.update for queued in await keyspaces.due_updates(now_s=NOW_S + 5, limit=10)] == [retried]


async def test_an_acknowledgement_of_an_older_write_keeps_the_newer_update(keyspaces):
    [older] = await queue(keyspaces, [update("a", due_s=NOW_S - 2)])
    [newer] = await queue(keyspaces, [update("a", due_s=NOW_S - 1, offset_s=1)])

    keyspaces.forget_updates([older])
    await keyspaces.store.submit(lambda txn: (None, []))

    assert await keyspaces.due_updates(now_s=NOW_S, limit=10) == [newer]


async def test_a_queue_written_without_the_index_is_indexed_once(keyspaces):
    pending_db = keyspaces.store.db(b"pending")
    unindexed = [update(f"old-{i}", due_s=NOW_S - i) for i in range(3)]

    def write_queue_only(txn):
        for pending in unindexed:
            txn.put(key_of(pending.obj), encode_pending(pending), db=pending_db)
        return None, []

    await keyspaces.store.submit(write_queue_only)
    assert await keyspaces.due_updates(now_s=NOW_S, limit=10) == []  # invisible until indexed

    assert await keyspaces.index_pending() == 3
    assert await keyspaces.index_pending() == 0
    found = await keyspaces.due_updates(now_s=NOW_S, limit=10)
    assert [queued.update.obj for queued in found] == ["old-2", "old-1", "old-0"]


async def test_the_tries_of_one_commit_are_one_journal_record_gone_with_its_last_acknowledgement(
    keyspaces,
):
    tried = await journal(keyspaces, [update(name, due_s=NOW_S + 10) for name in "abc"])

    journaled = [one for one in tried if isinstance(one, JournaledUpdate)]
    assert len(journaled) == 3
    assert len({one.record_key for one in journaled}) == 1
    assert [one.position for one in journaled] == [0, 1, 2]
    assert await journal_records(keyspaces) == 1 and await index_size(keyspaces) == 0
    assert await keyspaces.pending_count() == 3

    await forget(keyspaces, [tried[2], tried[0]])
    assert await journal_records(keyspaces) == 1
    await forget(keyspaces, [tried[1]])
    assert await journal_records(keyspaces) == 0 and await keyspaces.pending_count() == 0


async def test_what_is_left_of_a_due_journal_record_moves_into_the_queue(keyspaces):
    a, b, c = await journal(keyspaces, [update(name, due_s=NOW_S) for name in "abc"])
    await forget(keyspaces, [b])

    assert await keyspaces.expand_due_journals(now_s=NOW_S - 1, limit=100) == 0  # not due yet
    assert await keyspaces.expand_due_journals(now_s=NOW_S, limit=100) == 2
    assert await journal_records(keyspaces) == 0
    due = await keyspaces.due_updates(now_s=NOW_S, limit=10)
    assert sorted((queued.key, queued.update) for queued in due) == [
        (key_of("a"), a.update),
        (key_of("c"), c.update),
    ]

    await forget(keyspaces, [a])  # a late acknowledgement of its try: the queued copy is the updater's
    assert len(await keyspaces.due_updates(now_s=NOW_S, limit=10)) == 2


async def test_after_a_restart_a_due_journal_record_moves_whole(tmp_path):
    before = await open_keyspaces(tmp_path)
    a, b = await journal(before, [update(name, due_s=NOW_S) for name in "ab"])
    await forget(before, [a])  # acknowledged: only this process knew
    await before.store.close()

    after = await open_keyspaces(tmp_path)
    try:
        assert await after.expand_due_journals(now_s=NOW_S, limit=100) == 2
        due = await after.due_updates(now_s=NOW_S, limit=10)
        assert sorted(queued.update.obj for queued in due) == ["a", "b"]
    finally:
        await after.store.close()


async def test_a_journaled_update_never_replaces_a_newer_queued_one(keyspaces):
    [newer] = await queue(keyspaces, [update("a", due_s=NOW_S + 30, offset_s=1)])
    await journal(keyspaces, [update("a", due_s=NOW_S), update("b", due_s=NOW_S)])

    assert await keyspaces.expand_due_journals(now_s=NOW_S, limit=100) == 1  # b only
    assert [queued.update.obj for queued in await keyspaces.due_updates(now_s=NOW_S, limit=10)] == ["b"]
    later = await keyspaces.due_updates(now_s=NOW_S + 30, limit=10)
    assert [queued for queued in later if queued.key == key_of("a")] == [newer]


async def test_records_move_whole_until_the_limit_is_reached(keyspaces):
    for name in "abc":
        await journal(keyspaces, [update(name, due_s=NOW_S), update(name + "2", due_s=NOW_S)])

    assert await keyspaces.expand_due_journals(now_s=NOW_S, limit=3) == 4  # two records, whole
    assert await journal_records(keyspaces) == 1
    assert await keyspaces.expand_due_journals(now_s=NOW_S, limit=3) == 2
    assert await journal_records(keyspaces) == 0 and await keyspaces.pending_count() == 6
