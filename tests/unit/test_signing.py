"""Internal request signatures: what verifies, and every way a request is refused."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dolmen.keys import request_signing_key
from dolmen.signing import (
    EXPIRES_HEADER,
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    SignatureExpired,
    SignatureInvalid,
    SignatureMissing,
    canonical_request,
    footer_signature,
    sign_request,
    verify_footer,
    verify_request,
)

SECRET = bytes(range(32))
KEYS = {1: request_signing_key(SECRET, 1), 2: request_signing_key(SECRET, 2)}
NOW_S = 1_700_000_000.0


def signed(method="PUT", path="/sda/12/a/c/o", query="", headers=None, key_id=1, now_s=NOW_S):
    headers = dict(
        headers or {"X-Timestamp": "1700000000.00000", "X-Backend-Container-Host": "10.0.0.1:6000"}
    )
    headers.update(
        sign_request(
            KEYS[key_id], key_id=key_id, method=method, path=path, query=query, headers=headers, now_s=now_s
        )
    )
    return headers


def test_the_canonical_request_is_the_documented_bytes() -> None:
    headers = [
        ("Host", "node"),
        ("X-Timestamp", " 1700000000.00000 "),
        ("X-Backend-Zeta", "\tlast\udcff "),  # an undecodable byte as the server passes it on
        ("X-Backend-Signature", "not covered"),
        ("x-backend-alpha", "first"),
        ("Content-Type", "not covered"),
    ]
    assert canonical_request(
        method="put",
        path="/sda/12/a/c/%C3%A9t%C3%A9",
        query="multipart-manifest=get",
        headers=headers,
        key_id=7,
        expires_s=1700000060,
    ) == (
        b"dolmen-request-v1\nPUT\n/sda/12/a/c/%C3%A9t%C3%A9\nmultipart-manifest=get\n1700000000.00000\n"
        b"1700000060\n7\nx-backend-alpha:first\nx-backend-zeta:last\xff\n"
    )


def test_signatures_are_hmac_sha256_of_the_canonical_request_under_any_number_of_keys() -> None:
    for key_id in range(1, 200):  # more keys than are kept prepared
        key = request_signing_key(SECRET, key_id)
        headers = {"X-Timestamp": "1700000000.00000"}
        headers |= sign_request(key, key_id=key_id, method="GET", path="/d/1", headers=headers, now_s=NOW_S)
        message = canonical_request(
            method="GET",
            path="/d/1",
            query="",
            headers=headers.items(),
            key_id=key_id,
            expires_s=int(NOW_S + 60),
        )
        assert headers[SIGNATURE_HEADER] == hmac.new(key, message, hashlib.sha256).hexdigest()
        footer_mac = footer_signature(
            key, request_signature_hex=headers[SIGNATURE_HEADER], footer_bytes=b"{}"
        )
        footer_message = b"dolmen-footer-v1\n" + headers[SIGNATURE_HEADER].encode() + b"\n{}"
        assert footer_mac == hmac.new(key, footer_message, hashlib.sha256).digest()


def verify(headers, method="PUT", path="/sda/12/a/c/o", query="", now_s=NOW_S):
    return verify_request(KEYS, method=method, path=path, query=query, headers=headers.items(), now_s=now_s)


def test_a_signed_request_verifies_and_reports_its_key_id():
    result = verify(signed(key_id=2))
    assert result.key_id == 2
    assert len(result.signature_hex) == 64


def test_header_names_are_case_insensitive_and_order_free():
    headers = signed()
    shuffled = {name.lower(): value for name, value in reversed(list(headers.items()))}
    verify(shuffled)


def test_an_unsigned_request_is_refused_as_missing():
    with pytest.raises(SignatureMissing):
        verify({"X-Timestamp": "1700000000.00000"})


@pytest.mark.parametrize(
    "change",
    [
        {"method": "DELETE"},
        {"path": "/sda/12/a/c/other"},
        {"query": "multipart-manifest=get"},
    ],
)
def test_changing_method_path_or_query_breaks_the_signature(change):
    with pytest.raises(SignatureInvalid):
        verify(signed(), **change)


@pytest.mark.parametrize(
    "name,value",
    [
        ("X-Timestamp", "1700000001.00000"),
        ("X-Backend-Container-Host", "10.0.0.2:6000"),
        ("X-Backend-Extra", "added"),
        (EXPIRES_HEADER, str(int(NOW_S) + 100)),
        (KEY_ID_HEADER, "2"),
    ],
)
def test_changing_or_adding_a_signed_header_breaks_the_signature(name, value):
    headers = signed()
    headers[name] = value
    with pytest.raises(SignatureInvalid):
        verify(headers)


def test_unsigned_headers_may_change():
    headers = signed()
    headers["Content-Type"] = "text/plain"
    headers["X-Object-Meta-Color"] = "blue"
    verify(headers)


def test_expired_and_far_future_signatures_are_refused():
    with pytest.raises(SignatureExpired):
        verify(signed(now_s=NOW_S - 1000))
    with pytest.raises(SignatureExpired):
        verify(signed(now_s=NOW_S + 1000))


def test_unknown_key_id_and_malformed_headers_are_invalid():
    headers = signed()
    for name, value in [
        (KEY_ID_HEADER, "7"),
        (KEY_ID_HEADER, "+1"),
        (KEY_ID_HEADER, "01"),
        (EXPIRES_HEADER, "soon"),
        (SIGNATURE_HEADER, "ab"),
        (SIGNATURE_HEADER, "é" * 64),
    ]:
        bad = dict(headers)
        bad[name] = value
        with pytest.raises(SignatureInvalid):
            verify(bad)
    partial = dict(headers)
    del partial[SIGNATURE_HEADER]
    with pytest.raises(SignatureInvalid):
        verify(partial)


def test_a_repeated_backend_header_is_refused():
    headers = list(signed().items()) + [("X-Backend-Container-Host", "10.0.0.1:6000")]
    with pytest.raises(SignatureInvalid):
        verify_request(KEYS, method="PUT", path="/sda/12/a/c/o", query="", headers=headers, now_s=NOW_S)


def test_another_key_cannot_sign():
    headers = {"X-Timestamp": "1"}
    headers.update(
        sign_request(b"k" * 32, key_id=1, method="GET", path="/sda/1/a/c/o", headers=headers, now_s=NOW_S)
    )
    with pytest.raises(SignatureInvalid):
        verify(headers, method="GET", path="/sda/1/a/c/o")


def test_footer_signature_binds_to_request_and_bytes():
    request_signature = signed()[SIGNATURE_HEADER]
    mac = footer_signature(KEYS[1], request_signature_hex=request_signature, footer_bytes=b'{"a":1}')
    verify_footer(KEYS[1], request_signature_hex=request_signature, footer_bytes=b'{"a":1}', mac=mac)
    with pytest.raises(SignatureInvalid):
        verify_footer(KEYS[1], request_signature_hex=request_signature, footer_bytes=b'{"a":2}', mac=mac)
    with pytest.raises(SignatureInvalid):
        verify_footer(KEYS[1], request_signature_hex="0" * 64, footer_bytes=b'{"a":1}', mac=mac)


@given(
    path=st.text(min_size=1, max_size=50).map(lambda text: "/" + text.replace("?", "")),
    query=st.text(max_size=30),
    values=st.dictionaries(
        st.from_regex(r"X-Backend-[A-Za-z0-9-]{1,10}", fullmatch=True).filter(
            lambda name: not name.lower().startswith("x-backend-signature")
        ),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=20),
        max_size=5,
    ),
)
def test_any_signed_request_verifies(path, query, values):
    deduplicated = {}
    for name, value in values.items():
        deduplicated.setdefault(name.lower(), (name, value))
    headers = dict(deduplicated.values())
    headers.update(
        sign_request(KEYS[1], key_id=1, method="GET", path=path, query=query, headers=headers, now_s=NOW_S)
    )
    verify(headers, method="GET", path=path, query=query)
