"""Object keys: every legal name fits LMDB, is findable, and sorts in name order within a container."""

from __future__ import annotations

import pytest
from dolmen.storage_node.errors import InvalidName, InvalidPartition
from dolmen.storage_node.keycodec import (
    NAME_INLINE_BYTES_MAX,
    NAME_PREFIX_BYTES,
    PARTITION_MAX,
    PREFIX_BYTES,
    container_prefix,
    decode_object_key,
    is_hashed,
    object_key,
)
from hypothesis import given
from hypothesis import strategies as st

from dolmen.limits import LMDB_KEY_BYTES_MAX, OBJECT_NAME_BYTES_MAX

legal_characters = st.characters(codec="utf-8", exclude_characters="\0")
# Short names explore the alphabet; long ones exercise the hashed path and its boundary.
object_names = st.one_of(
    st.text(legal_characters, min_size=1, max_size=40),
    st.text(legal_characters, min_size=100, max_size=OBJECT_NAME_BYTES_MAX),
).filter(lambda name: len(name.encode()) <= OBJECT_NAME_BYTES_MAX)
container_names = st.text(st.characters(codec="utf-8", exclude_characters="\0/"), min_size=1, max_size=20)
partitions = st.integers(0, PARTITION_MAX)


@given(partition=partitions, account=container_names, container=container_names, name=object_names)
def test_every_legal_name_has_a_key_that_fits_and_decodes(partition, account, container, name):
    key = object_key(partition, account, container, name)
    assert len(key) <= LMDB_KEY_BYTES_MAX
    assert key.startswith(container_prefix(partition, account, container))
    decoded = decode_object_key(key)
    assert decoded.partition == partition
    encoded = name.encode()
    if len(encoded) <= NAME_INLINE_BYTES_MAX:
        assert decoded.name == name and not is_hashed(key)
    else:
        assert decoded.name is None and is_hashed(key)
        assert decoded.name_prefix == encoded[:NAME_PREFIX_BYTES]


@given(first=object_names, second=object_names)
def test_distinct_names_have_distinct_keys(first, second):
    if first != second:
        assert object_key(1, "a", "c", first) != object_key(1, "a", "c", second)


@given(first=object_names, second=object_names)
def test_keys_sort_in_name_order_for_names_that_fit(first, second):
    a, b = first.encode(), second.encode()
    key_a, key_b = object_key(3, "a", "c", first), object_key(3, "a", "c", second)
    if len(a) <= NAME_INLINE_BYTES_MAX and len(b) <= NAME_INLINE_BYTES_MAX:
        assert (a < b) == (key_a < key_b)
    elif a[:NAME_PREFIX_BYTES] != b[:NAME_PREFIX_BYTES]:
        # Outside one 474-byte prefix run, hashed keys keep name order too.
        assert (a < b) == (key_a < key_b)


@given(name=st.text(legal_characters, min_size=200, max_size=OBJECT_NAME_BYTES_MAX), extra=object_names)
def test_every_key_sharing_a_long_prefix_lies_in_one_contiguous_run(name, extra):
    encoded = name.encode()
    if len(encoded) < NAME_PREFIX_BYTES:
        return
    run = container_prefix(0, "a", "c") + encoded[:NAME_PREFIX_BYTES]
    key = object_key(0, "a", "c", extra)
    inside = extra.encode().startswith(encoded[:NAME_PREFIX_BYTES])
    assert key.startswith(run) == inside


def test_the_longest_names_fit_exactly():
    name = "x" * OBJECT_NAME_BYTES_MAX
    assert len(object_key(PARTITION_MAX, "a" * 256, "c" * 256, name)) == LMDB_KEY_BYTES_MAX
    assert len(object_key(0, "a", "c", "x" * NAME_INLINE_BYTES_MAX)) == PREFIX_BYTES + NAME_INLINE_BYTES_MAX


@pytest.mark.parametrize(
    "account,container,name",
    [
        ("a", "c", ""),
        ("a", "c", "nul\0inside"),
        ("a", "c", "x" * (OBJECT_NAME_BYTES_MAX + 1)),
        ("a", "c", "lone \ud800 surrogate"),
        ("a/b", "c", "o"),
        ("a", "c/d", "o"),
        ("", "c", "o"),
        ("a" * 257, "c", "o"),
    ],
)
def test_illegal_names_are_refused(account, container, name):
    for _ in range(2):  # the second time too: digests are cached, refusals never are
        with pytest.raises(InvalidName):
            object_key(0, account, container, name)


@pytest.mark.parametrize("partition", [-1, PARTITION_MAX + 1, True, "1"])
def test_illegal_partitions_are_refused(partition):
    with pytest.raises(InvalidPartition):
        object_key(partition, "a", "c", "o")


def test_names_with_dots_and_slashes_are_ordinary_names():
    assert decode_object_key(object_key(0, "a", "c", "../../etc/passwd")).name == "../../etc/passwd"
