"""LOOKUP bodies, pure: names round-trip signed by their body hash; anything else is refused."""

from __future__ import annotations

import pytest
from dolmen.storage_node.errors import BadRequest, UploadChecksumMismatch
from dolmen.storage_node.lookups import lookup_request, parse_lookup
from dolmen.storage_node.signed_bodies import BODY_SHA256_HEADER, body_sha256
from hypothesis import given
from hypothesis import strategies as st

from dolmen.limits import LOOKUP_BYTES_MAX, LOOKUP_NAMES_MAX


@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=30))
def test_names_round_trip_signed_by_their_body_hash(names):
    headers, body = lookup_request(names)
    assert headers["X-Backend-Verb"] == "LOOKUP"
    assert parse_lookup(body, headers[BODY_SHA256_HEADER]) == names


def test_the_longest_lookup_of_the_worst_names_fits_its_byte_bound():
    _, body = lookup_request(["\x1f" * 1024] * LOOKUP_NAMES_MAX)  # every byte escaped as \u001f
    assert len(body) < LOOKUP_BYTES_MAX


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"a": 1}',
        b'["a", 1]',
        b"[null]",
        b"not json",
        b"\xff",
        b'"a"',
        b"[" + b'"n",' * 1_000 + b'"n"]',
    ],
)
def test_anything_but_a_list_of_1_to_1000_names_is_refused(body):
    with pytest.raises(BadRequest):
        parse_lookup(body, body_sha256(body))


def test_a_changed_body_or_a_missing_hash_is_refused():
    headers, body = lookup_request(["a", "b"])
    with pytest.raises(UploadChecksumMismatch):
        parse_lookup(b'["a", "c"]', headers[BODY_SHA256_HEADER])
    with pytest.raises(BadRequest):
        parse_lookup(body, None)
