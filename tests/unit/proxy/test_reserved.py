"""Reserved container names: hidden, deterministic, within the name limit, refused by the Swift API."""

from __future__ import annotations

import pytest
from dolmen.proxy.errors import InvalidName
from dolmen.proxy.reserved import RESERVED_CONTAINER_PREFIX, is_reserved, reserved_container
from dolmen.proxy.swift.paths import parse_swift_path
from hypothesis import given
from hypothesis import strategies as st

from dolmen.limits import CONTAINER_NAME_BYTES_MAX

container_names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=256
).filter(lambda name: len(name.encode()) <= CONTAINER_NAME_BYTES_MAX and not is_reserved(name))


@given(container_names, st.sampled_from(["uploads", "versions"]))
def test_a_reserved_name_is_reserved_fits_and_is_deterministic(owner: str, purpose: str) -> None:
    name = reserved_container(purpose, owner)
    assert is_reserved(name)
    assert len(name.encode()) <= CONTAINER_NAME_BYTES_MAX
    assert name == reserved_container(purpose, owner)
    assert name != reserved_container("uploads" if purpose == "versions" else "versions", owner)


def test_short_names_stay_readable_and_long_ones_are_hashed() -> None:
    assert reserved_container("uploads", "photos") == ".dolmen+uploads+photos"
    long_name = "x" * 256
    assert reserved_container("uploads", long_name) != reserved_container("uploads", "x" * 255)
    assert reserved_container("uploads", long_name).startswith(RESERVED_CONTAINER_PREFIX + "uploads+")


@pytest.mark.parametrize("path", ["/v1/AUTH_p/.dolmen+uploads+b", "/v1/AUTH_p/.dolmen%2Bx/obj", "/v1/AUTH_p/.dolmen+"])
def test_the_swift_api_cannot_address_a_reserved_container(path: str) -> None:
    with pytest.raises(InvalidName):
        parse_swift_path(path)


def test_names_near_the_prefix_stay_addressable() -> None:
    assert parse_swift_path("/v1/AUTH_p/.dolmen").container == ".dolmen"
    assert parse_swift_path("/v1/AUTH_p/.dolmen-x/o").container == ".dolmen-x"
