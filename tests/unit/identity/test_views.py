"""Response shaping: the fields the stock clients need, Keystone's formats, no secrets."""

from __future__ import annotations

from dolmen.identity.errors import EntityConflict, InvalidToken
from dolmen.identity.views import catalog_view, error_body, iso_time, token_view, user_view

SERVICES = [
    {"id": "s1", "type": "object-store", "name": "swift"},
    {"id": "s2", "type": "identity", "name": "keystone"},
    {"id": "s3", "type": "image", "name": "glance", "enabled": False},
]
ENDPOINTS = [
    {
        "id": "e1",
        "service_id": "s1",
        "interface": "public",
        "url": "http://h/v1/AUTH_$(project_id)s",
        "region_id": "R",
    },
    {
        "id": "e2",
        "service_id": "s1",
        "interface": "internal",
        "url": "http://i/v1/AUTH_%(project_id)s",
        "region_id": "R",
    },
    {"id": "e3", "service_id": "s2", "interface": "public", "url": "http://h:5000/v3", "region_id": "R"},
    {"id": "e4", "service_id": "s3", "interface": "public", "url": "http://h/image", "region_id": "R"},
]


def test_times_are_utc_with_microseconds_and_a_z() -> None:
    assert iso_time(1_900_000_000.5) == "2030-03-17T17:46:40.500000Z"


def test_errors_have_keystones_shape() -> None:
    assert error_body(InvalidToken("bad")) == {
        "error": {"code": 401, "message": "bad", "title": "Unauthorized"}
    }
    assert error_body(EntityConflict("dup"))["error"]["code"] == 409


def test_a_scoped_catalog_fills_in_the_project_and_skips_disabled_services() -> None:
    catalog = catalog_view(SERVICES, ENDPOINTS, "p1")
    assert [entry["type"] for entry in catalog] == ["identity", "object-store"]
    swift = catalog[1]
    assert {e["interface"]: e["url"] for e in swift["endpoints"]} == {
        "public": "http://h/v1/AUTH_p1",
        "internal": "http://i/v1/AUTH_p1",
    }
    assert swift["endpoints"][0]["region_id"] == "R"


def test_an_unscoped_catalog_leaves_out_urls_that_need_a_project() -> None:
    catalog = catalog_view(SERVICES, ENDPOINTS, None)
    assert catalog[1]["endpoints"] == []
    assert catalog[0]["endpoints"][0]["url"] == "http://h:5000/v3"


def test_a_user_view_never_shows_the_password_hash() -> None:
    view = user_view(
        {"id": "u", "name": "n", "domain_id": "default", "password_hash": "$argon2id$x"}, "http://h"
    )
    assert "password_hash" not in view and "$argon2id$x" not in str(view)


def test_the_token_body_has_every_field_the_clients_need() -> None:
    domain = {"id": "default", "name": "Default"}
    body = token_view(
        methods=["password"],
        user={"id": "u", "name": "alice"},
        user_domain=domain,
        project={"id": "p", "name": "demo"},
        project_domain=domain,
        roles=[{"id": "r", "name": "member"}],
        issued_at_s=0.0,
        expires_at_s=3600.0,
        audit_id="a",
        catalog=[],
    )["token"]
    assert body["methods"] == ["password"] and body["expires_at"] == "1970-01-01T01:00:00.000000Z"
    assert body["user"]["name"] == "alice" and body["user"]["domain"] == domain
    assert body["project"] == {"id": "p", "name": "demo", "domain": domain}
    assert body["roles"] == [{"id": "r", "name": "member"}] and body["catalog"] == []
