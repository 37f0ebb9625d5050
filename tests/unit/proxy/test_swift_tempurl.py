"""TempURL signatures, expiry, prefixes, IP ranges and answers, checked against swiftclient's own signer."""

from __future__ import annotations

import base64

import pytest
from dolmen.proxy.errors import BadRequest, TempUrlInvalid
from dolmen.proxy.swift import tempurl
from dolmen.proxy.swift.requests import parse_query
from hypothesis import given
from hypothesis import strategies as st
from swiftclient.utils import generate_temp_url

NOW_S = 1_700_000_000
PATH = "/v1/AUTH_p1/photos/cat é.jpg"
KEYS = [("account-secret", "account")]


def query_of(url: str) -> dict[str, str]:
    return parse_query(url.partition("?")[2])


def verified(url: str, method: str = "GET", *, keys=KEYS, client_ip: str | None = "127.0.0.1") -> str:
    query = query_of(url)
    parsed = tempurl.parse_tempurl(query, now_s=NOW_S)
    path = tempurl.signed_path("AUTH_p1", "photos", "cat é.jpg", parsed.prefix)
    return tempurl.verify(parsed, method=method, path=path, keys=keys, client_ip=client_ip)


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("iso8601", [False, True])
def test_urls_made_by_swiftclient_verify(digest, iso8601):
    url = generate_temp_url(
        PATH, NOW_S + 60, "account-secret", "GET", absolute=True, iso8601=iso8601, digest=digest
    )
    assert verified(url) == "account"


def test_a_container_key_verifies_with_container_scope():
    url = generate_temp_url(PATH, NOW_S + 60, "container-secret", "PUT", absolute=True)
    assert verified(url, "PUT", keys=[*KEYS, ("container-secret", "container")]) == "container"


@pytest.mark.parametrize("method", ["GET", "PUT", "POST", "HEAD"])
def test_a_head_is_allowed_by_a_signature_for_get_put_post_or_head(method):
    url = generate_temp_url(PATH, NOW_S + 60, "account-secret", method, absolute=True)
    assert verified(url, "HEAD") == "account"


def test_a_signature_for_get_does_not_allow_put_or_delete():
    url = generate_temp_url(PATH, NOW_S + 60, "account-secret", "GET", absolute=True)
    for method in ("PUT", "DELETE", "POST"):
        with pytest.raises(TempUrlInvalid):
            verified(url, method)


def test_expired_tampered_or_foreign_urls_are_refused():
    url = generate_temp_url(PATH, NOW_S - 1, "account-secret", "GET", absolute=True)
    with pytest.raises(TempUrlInvalid):
        verified(url)
    url = generate_temp_url(PATH, NOW_S + 60, "account-secret", "GET", absolute=True)
    with pytest.raises(TempUrlInvalid):
        verified(url.replace(f"expires={NOW_S + 60}", f"expires={NOW_S + 6000}"))
    with pytest.raises(TempUrlInvalid):
        verified(url, keys=[("another-account's-key", "account")])
    with pytest.raises(TempUrlInvalid):
        verified(url, keys=[])
    other_path = generate_temp_url(
        "/v1/AUTH_p1/photos/dog.jpg", NOW_S + 60, "account-secret", "GET", absolute=True
    )
    with pytest.raises(TempUrlInvalid):
        verified(other_path)


@pytest.mark.parametrize(
    "query",
    [
        {"temp_url_sig": "ab" * 20},
        {"temp_url_expires": str(NOW_S + 60)},
        {"temp_url_sig": "zz" * 20, "temp_url_expires": str(NOW_S + 60)},
        {"temp_url_sig": "ab" * 21, "temp_url_expires": str(NOW_S + 60)},
        {"temp_url_sig": "md5:AAAA", "temp_url_expires": str(NOW_S + 60)},
        {"temp_url_sig": "sha256:not*base64", "temp_url_expires": str(NOW_S + 60)},
        {"temp_url_sig": "sha256:AAAA", "temp_url_expires": str(NOW_S + 60)},
        {"temp_url_sig": "ab" * 20, "temp_url_expires": "tomorrow"},
        {"temp_url_sig": "ab" * 20, "temp_url_expires": "9" * 20},  # past any HTTP date
    ],
)
def test_malformed_parameters_are_refused(query):
    with pytest.raises(TempUrlInvalid):
        tempurl.parse_tempurl(query, now_s=NOW_S)


def test_a_prefix_url_covers_the_objects_under_its_prefix_only():
    url = generate_temp_url(
        "/v1/AUTH_p1/photos/cat", NOW_S + 60, "account-secret", "GET", absolute=True, prefix=True
    )
    assert verified(url) == "account"
    parsed = tempurl.parse_tempurl(query_of(url), now_s=NOW_S)
    with pytest.raises(TempUrlInvalid):
        tempurl.signed_path("AUTH_p1", "photos", "dog.jpg", parsed.prefix)


def test_an_ip_range_limits_the_clients():
    url = generate_temp_url(PATH, NOW_S + 60, "account-secret", "GET", absolute=True, ip_range="10.1.0.0/16")
    assert verified(url, client_ip="10.1.2.3") == "account"
    for client_ip in ("10.2.0.1", None, "not-an-ip"):
        with pytest.raises(TempUrlInvalid):
            verified(url, client_ip=client_ip)


@given(st.binary(min_size=32, max_size=32))
def test_hex_and_base64_forms_of_one_signature_agree(raw):
    assert tempurl.signature_digest(raw.hex()) == ("sha256", raw.hex())
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")):
        assert tempurl.signature_digest("sha256:" + encoded) == ("sha256", raw.hex())


def test_writes_cannot_carry_pointers_to_other_data():
    with pytest.raises(BadRequest):
        tempurl.check_write_headers("PUT", {"X-Object-Manifest": "c/prefix"})
    tempurl.check_write_headers("GET", {"X-Object-Manifest": "c/prefix"})


def test_answers_lose_private_metadata_and_gain_a_disposition():
    parsed = tempurl.TempUrl(signature_hex="", digest="sha256", expires_s=NOW_S)
    headers = {"X-Object-Meta-Secret": "s", "X-Object-Meta-Public-Color": "blue", "Etag": "e"}
    tempurl.adjust_response_headers(headers, parsed, method="GET", status=200, obj="dir/cat é.jpg")
    assert "X-Object-Meta-Secret" not in headers and headers["X-Object-Meta-Public-Color"] == "blue"
    assert (
        headers["Content-Disposition"]
        == "attachment; filename=\"cat %C3%A9.jpg\"; filename*=UTF-8''cat%20%C3%A9.jpg"
    )
    assert headers["Expires"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    inline = tempurl.TempUrl(signature_hex="", digest="sha256", expires_s=NOW_S, inline=True)
    assert tempurl.content_disposition(inline, "a", None) == "inline"
    named = tempurl.TempUrl(signature_hex="", digest="sha256", expires_s=NOW_S, filename="r.pdf")
    assert (
        tempurl.content_disposition(named, "a", "inline")
        == "attachment; filename=\"r.pdf\"; filename*=UTF-8''r.pdf"
    )
    failed = {"X-Object-Meta-Secret": "s"}
    tempurl.adjust_response_headers(failed, parsed, method="GET", status=404, obj="a")
    assert failed == {}
