"""The token format: payloads round-trip, and anything altered, foreign or malformed is refused."""

from __future__ import annotations

import base64
import contextlib

import pytest
from cryptography.fernet import Fernet
from dolmen.identity.errors import InvalidToken
from dolmen.identity.tokens import (
    METHODS,
    TokenCodec,
    TokenPayload,
    decode_payload,
    encode_payload,
    new_audit_id,
    whole_microseconds,
)
from dolmen.identity.views import iso_time
from hypothesis import given
from hypothesis import strategies as st

from dolmen.limits import OPENED_TOKENS_MAX

hex_ids = st.binary(min_size=16, max_size=16).map(bytes.hex)
text_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=64)
ids = hex_ids | text_ids
names = st.text(max_size=255)
times_us = st.integers(0, 2**40)


@st.composite
def payloads(draw: st.DrawFn) -> TokenPayload:
    scoped = draw(st.booleans())
    methods = draw(st.sets(st.sampled_from(METHODS), min_size=1))
    issued_us = draw(times_us)
    return TokenPayload(
        user_id=draw(ids),
        user_name=draw(names),
        user_domain_id=draw(ids),
        project_id=draw(ids) if scoped else None,
        project_name=draw(names) if scoped else None,
        project_domain_id=draw(ids) if scoped else None,
        role_ids=tuple(draw(st.lists(ids, max_size=8))) if scoped else (),
        methods=tuple(method for method in METHODS if method in methods),
        issued_at_s=issued_us / 1e6,
        expires_at_s=(issued_us + draw(st.integers(0, 10**11))) / 1e6,
        audit_id=new_audit_id(draw(st.binary(min_size=16, max_size=16))),
    )


def sample_payload(**changes: object) -> TokenPayload:
    fields: dict[str, object] = dict(
        user_id="0" * 32,
        user_name="alice",
        user_domain_id="default",
        project_id="1" * 32,
        project_name="demo",
        project_domain_id="default",
        role_ids=("2" * 32, "3" * 32),
        methods=("password",),
        issued_at_s=1_900_000_000.123456,
        expires_at_s=1_900_003_600.123456,
        audit_id=new_audit_id(bytes(16)),
    )
    fields.update(changes)
    return TokenPayload(**fields)  # type: ignore[arg-type]


@given(payload=payloads())
def test_every_payload_survives_encoding_unchanged(payload: TokenPayload) -> None:
    assert decode_payload(encode_payload(payload)) == payload


@given(payload=payloads(), cut=st.integers(1, 40))
def test_a_truncated_payload_is_refused(payload: TokenPayload, cut: int) -> None:
    data = encode_payload(payload)
    with pytest.raises(InvalidToken):
        decode_payload(data[: max(0, len(data) - cut)])


@given(payload=payloads(), extra=st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(payload: TokenPayload, extra: bytes) -> None:
    with pytest.raises(InvalidToken):
        decode_payload(encode_payload(payload) + extra)


@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_invalid_token(data: bytes) -> None:
    with contextlib.suppress(InvalidToken):
        decode_payload(data)


def test_a_sealed_token_opens_to_its_payload_and_stays_short() -> None:
    codec = TokenCodec([Fernet.generate_key()])
    payload = sample_payload()
    token = codec.seal(payload)
    assert "=" not in token and len(token) < 300
    assert codec.open(token) == payload


def test_a_token_with_any_character_changed_is_refused() -> None:
    codec = TokenCodec([Fernet.generate_key()])
    token = codec.seal(sample_payload())
    for index in range(0, len(token), 7):
        replacement = "A" if token[index] != "A" else "B"
        tampered = token[:index] + replacement + token[index + 1 :]
        with pytest.raises(InvalidToken):
            codec.open(tampered)


def test_a_token_sealed_under_an_unknown_key_is_refused() -> None:
    token = TokenCodec([Fernet.generate_key()]).seal(sample_payload())
    with pytest.raises(InvalidToken):
        TokenCodec([Fernet.generate_key(), Fernet.generate_key()]).open(token)


def test_a_token_sealed_under_a_secondary_key_still_opens() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    token = TokenCodec([old]).seal(sample_payload())
    assert TokenCodec([new, old]).open(token) == sample_payload()


@pytest.mark.parametrize("token", ["", "not a token", "x" * 5000, "é" * 10, "gAAAAA"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        TokenCodec([Fernet.generate_key()]).open(token)


def test_a_validly_sealed_payload_of_another_version_is_refused() -> None:
    key = Fernet.generate_key()
    data = bytearray(encode_payload(sample_payload()))
    data[0] = 2
    token = base64.urlsafe_b64encode(base64.urlsafe_b64decode(Fernet(key).encrypt(bytes(data)))).decode()
    with pytest.raises(InvalidToken):
        TokenCodec([key]).open(token)


def test_an_unscoped_token_carries_no_project_and_no_roles() -> None:
    payload = sample_payload(project_id=None, project_name=None, project_domain_id=None, role_ids=())
    opened = decode_payload(encode_payload(payload))
    assert opened.project_id is None and opened.role_ids == ()


@given(clock_s=st.floats(1.6e9, 2.1e9, allow_nan=False), lifetime_s=st.floats(1.0, 86_400.0))
def test_the_expiry_a_response_shows_is_the_one_its_token_carries(clock_s: float, lifetime_s: float) -> None:
    """A re-scoped token's expiry (decoded from the first token) never shows later than the first's."""
    issued_s = whole_microseconds(clock_s)
    expires_s = whole_microseconds(issued_s + lifetime_s)
    decoded = decode_payload(encode_payload(sample_payload(issued_at_s=issued_s, expires_at_s=expires_s)))
    assert decoded.expires_at_s == expires_s
    assert iso_time(decoded.expires_at_s) == iso_time(expires_s)


def test_an_opened_token_is_remembered_boundedly_and_only_by_its_own_key_set() -> None:
    key = Fernet.generate_key()
    codec = TokenCodec([key])
    first = codec.seal(sample_payload())
    assert codec.open(first) == codec.open(first) == sample_payload()
    tokens = [codec.seal(sample_payload(audit_id=new_audit_id(bytes([n % 256]) * 16))) for n in range(300)]
    for token in tokens:
        codec.open(token)
    assert len(codec._opened) <= OPENED_TOKENS_MAX  # noqa: SLF001 - the bound is the point
    with pytest.raises(InvalidToken):  # a rotated-out key: a new key set, nothing remembered
        TokenCodec([Fernet.generate_key()]).open(first)
    with pytest.raises(InvalidToken):  # a tampered token is never remembered as valid
        codec.open(first[:-2] + ("A" if first[-2] != "A" else "B") + first[-1])
