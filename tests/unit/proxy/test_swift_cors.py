"""CORS preflight and actual-request headers, as Swift's proxy answers them."""

from __future__ import annotations

from dolmen.proxy.swift.cors import CorsSettings, actual_headers, preflight

METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE", "COPY")
SITE = {"access-control-allow-origin": "https://a.example https://b.example", "access-control-max-age": "600"}


STRICT = CorsSettings()


def ask(metadata, headers, settings=STRICT):
    return preflight(metadata=metadata, settings=settings, headers=headers, allowed_methods=METHODS)


def test_a_preflight_from_an_allowed_origin_gets_the_allow_headers():
    status, headers = ask(
        SITE,
        {
            "Origin": "https://b.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-auth-token, content-type",
        },
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert headers["Access-Control-Max-Age"] == "600"
    assert headers["Access-Control-Allow-Headers"] == "content-type, x-auth-token"
    assert "PUT" in headers["Access-Control-Allow-Methods"] and "OPTIONS" in headers["Allow"]
    assert headers["Vary"] == "Origin, Access-Control-Request-Headers"


def test_a_preflight_from_another_origin_or_for_another_method_is_401():
    assert ask(SITE, {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})[0] == 401
    assert ask(SITE, {"Origin": "https://a.example", "Access-Control-Request-Method": "PATCH"})[0] == 401
    assert ask({}, {"Origin": "https://a.example", "Access-Control-Request-Method": "GET"})[0] == 401


def test_options_without_origin_or_on_an_account_is_200_with_allow():
    assert ask(SITE, {}) == (200, {"Allow": ", ".join(sorted({*METHODS, "OPTIONS"}))})
    assert ask(None, {"Origin": "https://a.example", "Access-Control-Request-Method": "GET"})[0] == 200


def test_the_operator_and_a_star_allow_every_container():
    operator = CorsSettings(allow_origins=("https://ops.example",))
    assert (
        ask({}, {"Origin": "https://ops.example", "Access-Control-Request-Method": "GET"}, operator)[0] == 200
    )
    status, headers = ask(
        {"access-control-allow-origin": "*"},
        {"Origin": "https://x.example", "Access-Control-Request-Method": "GET"},
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*" and "Vary" not in headers


def test_actual_answers_expose_metadata_and_name_the_origin():
    metadata = SITE | {"access-control-expose-headers": "X-Custom"}
    added = actual_headers(
        metadata=metadata,
        settings=CorsSettings(),
        origin="https://a.example",
        response_headers={"X-Object-Meta-Color": "blue", "Etag": "e"},
    )
    assert added["Access-Control-Allow-Origin"] == "https://a.example"
    exposed = added["Access-Control-Expose-Headers"].split(", ")
    assert {"etag", "x-object-meta-color", "x-custom", "x-trans-id"} <= set(exposed)
    assert added["Vary"] == "Origin"


def test_strict_mode_sends_nothing_to_other_origins_and_lax_mode_does():
    kwargs = {"metadata": SITE, "origin": "https://evil.example", "response_headers": {}}
    assert actual_headers(settings=CorsSettings(), **kwargs) == {}
    lax = actual_headers(settings=CorsSettings(strict_mode=False), **kwargs)
    assert lax["Access-Control-Allow-Origin"] == "https://evil.example"
