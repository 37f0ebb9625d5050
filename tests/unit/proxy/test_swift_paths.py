from urllib.parse import quote

import pytest
from dolmen.proxy.errors import InvalidCopySource, InvalidName, InvalidUtf8, NoSuchPath
from dolmen.proxy.swift.paths import (
    SwiftPath,
    check_container_name,
    check_object_name,
    parse_copy_target,
    parse_swift_path,
)
from hypothesis import given
from hypothesis import strategies as st

names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40
)
container_names = names.filter(lambda name: "/" not in name)


@given(account=container_names, container=container_names, obj=names)
def test_any_quoted_names_parse_back_to_themselves(account, container, obj):
    raw = "/v1/" + "/".join(quote(part, safe="") for part in ("AUTH_" + account, container, obj))
    assert parse_swift_path(raw) == SwiftPath("AUTH_" + account, container, obj)


def test_levels_and_trailing_slashes():
    assert parse_swift_path("/v1/AUTH_p") == SwiftPath("AUTH_p")
    assert parse_swift_path("/v1/AUTH_p/") == SwiftPath("AUTH_p")
    assert parse_swift_path("/v1.0/AUTH_p/c/") == SwiftPath("AUTH_p", "c")
    assert parse_swift_path("/v1/AUTH_p/c/a/../b") == SwiftPath("AUTH_p", "c", "a/../b")
    assert parse_swift_path("/v1/AUTH_p/c/dir/") == SwiftPath("AUTH_p", "c", "dir/")


def test_an_encoded_slash_splits_like_a_slash_as_in_swift():
    assert parse_swift_path("/v1/AUTH_p/c%2Fd/o") == SwiftPath("AUTH_p", "c", "d/o")


@pytest.mark.parametrize("raw", ["/", "/v2/AUTH_p", "/v1", "/v1/", "/v1//c", "/v1/AUTH_p//o", "v1/AUTH_p"])
def test_paths_swift_cannot_split_are_not_found(raw):
    with pytest.raises(NoSuchPath):
        parse_swift_path(raw)


@pytest.mark.parametrize("raw", ["/v1/AUTH_p/c/%ff", "/v1/AUTH_p/c%00", "/v1/AUTH_p/c/o%00x"])
def test_bytes_that_are_not_utf8_or_nul_are_refused_as_swift_does(raw):
    with pytest.raises(InvalidUtf8):
        parse_swift_path(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "/v1/.identity/c",  # system accounts are out of reach
        "/v1/p/c",
        "/v1/AUTH_",
        "/v1/AUTH_" + "a" * 252,
        "/v1/AUTH_p/" + "c" * 257,
        "/v1/AUTH_p/c/" + "o" * 1025,
        "/v1/AUTH_p/c/" + quote("é" * 513),
    ],
)
def test_names_swift_refuses(raw):
    with pytest.raises(InvalidName):
        parse_swift_path(raw)


def test_longest_names_are_accepted():
    path = parse_swift_path("/v1/AUTH_" + "a" * 251 + "/" + "c" * 256 + "/" + "o" * 1024)
    assert len(path.account) == 256 and path.container == "c" * 256 and path.obj == "o" * 1024
    assert path.project_id == "a" * 251


def test_copy_targets():
    assert parse_copy_target("/c/o%20x/y", default_account="AUTH_p") == SwiftPath("AUTH_p", "c", "o x/y")
    assert parse_copy_target("c/o", default_account="AUTH_q") == SwiftPath("AUTH_q", "c", "o")
    for bad in ("c", "/c/", "", "/"):
        with pytest.raises(InvalidCopySource):
            parse_copy_target(bad, default_account="AUTH_p")


def test_names_holding_bytes_that_are_not_utf8_are_invalid_utf8():
    """Names as aiohttp or tarfile decode bytes that are not UTF-8 (lone surrogates): 412."""
    for name in ("caf\udce9", "\udcff"):
        with pytest.raises(InvalidUtf8):
            check_object_name(name)
        with pytest.raises(InvalidUtf8):
            check_container_name(name)
    with pytest.raises(InvalidUtf8):
        parse_copy_target("c/caf\udce9", default_account="AUTH_p")
