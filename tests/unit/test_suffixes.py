"""Suffix hashes: order-independent, and incremental updates agree with a from-scratch computation."""

from __future__ import annotations

from dolmen.storage_node.keycodec import object_key
from dolmen.storage_node.suffix_log import add_delta, decode_deltas, encode_deltas
from dolmen.storage_node.suffixes import (
    apply_delta,
    combine,
    entry_hash,
    format_hash,
    suffix_from_key,
    suffix_hash_of,
    suffix_key_of,
    suffix_of,
    suffix_text,
)
from dolmen.storage_node.timestamps import Timestamp
from hypothesis import given
from hypothesis import strategies as st

names = st.text(st.characters(codec="utf-8", exclude_characters="\0"), min_size=1, max_size=30)
records = st.dictionaries(
    names, st.tuples(st.integers(0, 10**15 - 1), st.booleans()), min_size=0, max_size=40
)


def entries_of(mapping):
    return [
        (object_key(5, "a", "c", name), Timestamp(ticks), tombstone)
        for name, (ticks, tombstone) in mapping.items()
    ]


def incremental(operations):
    """Apply (key, old entry or None, new entry or None) changes the way the store does."""
    sums = {}
    for key, old, new in operations:
        suffix = suffix_of(key)
        sums[suffix] = combine(
            sums.get(suffix),
            remove=None if old is None else entry_hash(key, *old),
            add=None if new is None else entry_hash(key, *new),
        )
    return {suffix_text(suffix): format_hash(value[0]) for suffix, value in sums.items() if value}


@given(mapping=records, seed=st.randoms(use_true_random=False))
def test_suffix_hashes_do_not_depend_on_insertion_order(mapping, seed):
    entries = entries_of(mapping)
    shuffled = list(entries)
    seed.shuffle(shuffled)
    assert suffix_hash_of(entries) == suffix_hash_of(shuffled)


@given(before=records, after=records, seed=st.randoms(use_true_random=False))
def test_incremental_updates_match_a_recomputation(before, after, seed):
    operations = [(key, None, (ts, tomb)) for key, ts, tomb in entries_of(before)]
    old = {key: (ts, tomb) for key, ts, tomb in entries_of(before)}
    new = {key: (ts, tomb) for key, ts, tomb in entries_of(after)}
    changes = [
        (key, old.get(key), new.get(key)) for key in set(old) | set(new) if old.get(key) != new.get(key)
    ]
    seed.shuffle(changes)
    assert incremental(operations + changes) == suffix_hash_of(entries_of(after))


@given(mapping=records)
def test_a_different_timestamp_or_kind_changes_the_hash(mapping):
    if not mapping:
        return
    entries = entries_of(mapping)
    key, timestamp, tombstone = entries[0]
    changed = [(key, timestamp, not tombstone), *entries[1:]]
    assert suffix_hash_of(entries) != suffix_hash_of(changed)


def test_suffixes_are_three_hex_digits():
    assert all(len(suffix_text(suffix_of(object_key(0, "a", "c", f"o{i}")))) == 3 for i in range(100))
    assert suffix_hash_of([]) == {}


@given(
    before=records,
    after=records,
    seed=st.randoms(use_true_random=False),
    commit_sizes=st.lists(st.integers(1, 8), min_size=1),
    folded=st.integers(0, 100),
)
def test_changes_kept_as_delta_records_then_partly_folded_match_a_recomputation(
    before, after, seed, commit_sizes, folded
):
    """Each commit's changes summed into one delta record (suffix_log.py); the oldest records
    folded into stored sums, the rest read as pending: the same hashes as from scratch."""
    old = {key: (ts, tomb) for key, ts, tomb in entries_of(before)}
    new = {key: (ts, tomb) for key, ts, tomb in entries_of(after)}
    changes = [(key, None, entry) for key, entry in old.items()]
    later = [(key, old.get(key), new.get(key)) for key in set(old) | set(new) if old.get(key) != new.get(key)]
    seed.shuffle(later)
    changes += later
    records, start = [], 0
    for size in commit_sizes * (len(changes) // sum(commit_sizes) + 1):
        deltas: dict[bytes, list[int]] = {}
        for key, was, becomes in changes[start : start + size]:
            removed = 0 if was is None else entry_hash(key, *was)
            added = 0 if becomes is None else entry_hash(key, *becomes)
            add_delta(
                deltas, suffix_key_of(b"o", key), added - removed, (becomes is not None) - (was is not None)
            )
        records.append(encode_deltas(deltas))
        start += size
        if start >= len(changes):
            break
    stored: dict[bytes, tuple[int, int] | None] = {}
    for record in records[:folded]:
        for suffix_key, total, count in decode_deltas(record):
            stored[suffix_key] = apply_delta(stored.get(suffix_key), total=total, count=count)
    sums = {key: list(value) for key, value in stored.items() if value is not None}
    for record in records[folded:]:
        for suffix_key, total, count in decode_deltas(record):
            add_delta(sums, suffix_key, total, count)
    read = {
        suffix_text(suffix_from_key(key)): format_hash(total) for key, (total, count) in sums.items() if count
    }
    assert read == suffix_hash_of(entries_of(after))
