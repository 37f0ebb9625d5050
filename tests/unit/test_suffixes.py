"""Suffix hashes: order-independent, and incremental updates agree with a from-scratch computation."""

from __future__ import annotations

from dolmen.storage_node.keycodec import object_key
from dolmen.storage_node.suffixes import (
    combine,
    entry_hash,
    format_hash,
    suffix_hash_of,
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
