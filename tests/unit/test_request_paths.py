"""Request paths: strict devices and partitions, names decoded after splitting, never paths on disk."""

from __future__ import annotations

import pytest
from dolmen.storage_node.errors import BadRequest, InvalidName, InvalidPartition, InvalidRegister
from dolmen.storage_node.request_paths import (
    ObjectPath,
    parse_object_path,
    parse_partition_path,
    parse_register_path,
    parse_suffixes,
    split_target,
)

from dolmen.limits import OBJECT_NAME_BYTES_MAX, PARTITION_MAX


def test_object_path_parts_are_percent_decoded_after_splitting():
    assert parse_object_path("/sda1/17/AUTH_a/photos/2024%2F..%2Fcat%20%C3%A9.jpg") == ObjectPath(
        "sda1", 17, "AUTH_a", "photos", "2024/../cat é.jpg"
    )


def test_object_names_keep_slashes_dots_and_empty_segments():
    assert parse_object_path("/d/0/a/c/x//../y/.").obj == "x//../y/."


@pytest.mark.parametrize(
    "path,error",
    [
        ("/d/0/a/c", BadRequest),
        ("d/0/a/c/o", BadRequest),
        ("/.d/0/a/c/o", BadRequest),
        ("/d%2F/0/a/c/o", BadRequest),
        ("/../0/a/c/o", BadRequest),
        ("/d/-1/a/c/o", InvalidPartition),
        ("/d/01/a/c/o", InvalidPartition),
        ("/d/+1/a/c/o", InvalidPartition),
        (f"/d/{PARTITION_MAX + 1}/a/c/o", InvalidPartition),
        ("/d/0//c/o", InvalidName),
        ("/d/0/a/c/", InvalidName),
        ("/d/0/a%2Fb/c/o", InvalidName),
        ("/d/0/a/c/o%00", InvalidName),
        ("/d/0/a/c/o\x00", InvalidName),  # (a raw NUL: plain ASCII names are checked without decoding)
        ("/d/0/a/c/o%FF", InvalidName),
        ("/d/0/a/c/%ED%A0%80", InvalidName),  # an encoded surrogate is not UTF-8
        ("/d/0/a/c/%C0%AF", InvalidName),  # overlong "/"
        ("/d/0/a/c/o%2", InvalidName),
        ("/d/0/a/c/o%zz", InvalidName),
        ("/d/0/a/c/" + "x" * (OBJECT_NAME_BYTES_MAX + 1), InvalidName),
        ("/d/0/" + "a" * 257 + "/c/o", InvalidName),
    ],
)
def test_malformed_object_paths_are_refused(path, error):
    with pytest.raises(error):
        parse_object_path(path)


def test_the_longest_object_name_is_accepted():
    assert len(parse_object_path("/d/0/a/c/" + "é" * (OBJECT_NAME_BYTES_MAX // 2)).obj) == 512
    assert len(parse_object_path("/d/0/a/c/" + "x" * OBJECT_NAME_BYTES_MAX).obj) == OBJECT_NAME_BYTES_MAX


def test_partition_and_register_paths():
    assert parse_partition_path("/d/5").rest == b""
    assert parse_partition_path("/d/5/abc-def").rest == b"abc-def"
    assert parse_register_path("/d/5/bucket%2Fa%00")[1] == b"bucket/a\0"
    with pytest.raises(InvalidRegister):
        parse_register_path("/d/5/")


def test_suffix_lists():
    assert parse_suffixes(b"") == []
    assert parse_suffixes(b"abc-00f") == ["abc", "00f"]
    for bad in (b"ABC", b"abcd", b"abc-", b"xyz"):
        with pytest.raises(BadRequest):
            parse_suffixes(bad)


def test_split_target():
    assert split_target("/a/b?c=d?e") == ("/a/b", "c=d?e")
    assert split_target("/a") == ("/a", "")
