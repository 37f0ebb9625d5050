"""Reserved container names: hidden, deterministic, within the name limit, refused by the Swift API."""

from __future__ import annotations

import pytest
from dolmen.proxy.errors import InvalidName
from dolmen.proxy.reserved import (
    PUBLIC_LISTING_ROUNDS_MAX,
    RESERVED_CONTAINER_PREFIX,
    is_reserved,
    list_public_containers,
    reserved_container,
)
from dolmen.proxy.swift.paths import parse_swift_path
from hypothesis import given
from hypothesis import strategies as st

from dolmen.cluster import ContainerEntry, Listing, ListingQuery, Timestamp
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


@pytest.mark.parametrize(
    "path", ["/v1/AUTH_p/.dolmen+uploads+b", "/v1/AUTH_p/.dolmen%2Bx/obj", "/v1/AUTH_p/.dolmen+"]
)
def test_the_swift_api_cannot_address_a_reserved_container(path: str) -> None:
    with pytest.raises(InvalidName):
        parse_swift_path(path)


def test_names_near_the_prefix_stay_addressable() -> None:
    assert parse_swift_path("/v1/AUTH_p/.dolmen").container == ".dolmen"
    assert parse_swift_path("/v1/AUTH_p/.dolmen-x/o").container == ".dolmen-x"


class Lister:
    """A sorted list of container names answering list_containers as the cluster client pages it."""

    def __init__(self, names: list[str]) -> None:
        self.names = sorted(names, key=lambda name: name.encode())
        self.calls = 0

    async def list_containers(self, account: str, query: ListingQuery) -> Listing:
        self.calls += 1
        names = self.names[::-1] if query.reverse else self.names
        if query.marker:
            marker = query.marker.encode()
            names = [n for n in names if (n.encode() < marker if query.reverse else n.encode() > marker)]
        page = names[: query.limit]
        return Listing(
            [ContainerEntry(n, 0, 0, Timestamp(1.0)) for n in page], truncated=len(names) > query.limit
        )


user_names = st.lists(
    st.text(st.sampled_from(".abdemnolz+"), min_size=1, max_size=10).filter(lambda n: not is_reserved(n)),
    unique=True,
    max_size=30,
)


@given(user_names, st.lists(container_names, unique=True, max_size=30), st.integers(1, 40), st.booleans())
async def test_public_listings_hide_reserved_containers_and_still_fill_a_page(users, owners, limit, reverse):
    hidden = {reserved_container("versions", owner) for owner in owners}
    lister = Lister(users + sorted(hidden))
    listing = await list_public_containers(lister, "AUTH_a", ListingQuery(limit=limit, reverse=reverse))  # type: ignore[arg-type]
    expected = sorted(users, key=lambda name: name.encode(), reverse=reverse)
    assert [entry.name for entry in listing.entries] == expected[:limit]
    assert lister.calls <= PUBLIC_LISTING_ROUNDS_MAX
