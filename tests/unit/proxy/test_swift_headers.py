import pytest
from dolmen.proxy.errors import BadRequest, InvalidDeleteAt, InvalidMetadata
from dolmen.proxy.swift.cors import CorsSettings
from dolmen.proxy.swift.headers import (
    client_etag,
    delete_at_from_headers,
    http_date,
    metadata_headers,
    object_content_type,
    object_kept_headers,
    object_kept_items,
    swift_timestamp,
    user_metadata,
)
from dolmen.proxy.swift.info import capabilities
from dolmen.proxy.swift.requests import parse_query, split_target
from dolmen.proxy.swift.responses import error_body, error_status


def test_user_metadata_is_lower_cased_and_removals_are_empty():
    headers = {
        "X-Container-Meta-Color": " Blue ",
        "X-Remove-Container-Meta-Size": "x",
        "X-Object-Meta-Ignored": "1",
    }
    assert user_metadata(headers, "container") == {"color": "Blue", "size": ""}
    assert user_metadata({"X-Object-Meta-Mtime": "1.5"}, "object") == {"mtime": "1.5"}


@pytest.mark.parametrize(
    ("headers", "complaint"),
    [
        ({"X-Object-Meta-": "v"}, "cannot be empty"),
        ({"X-Object-Meta-" + "n" * 129: "v"}, "name too long"),
        ({"X-Object-Meta-n": "v" * 257}, "value longer"),
        ({f"X-Object-Meta-n{i}": "v" for i in range(91)}, "Too many"),
        ({f"X-Object-Meta-n{i}": "v" * 250 for i in range(17)}, "Total metadata too large"),
        ({"X-Object-Meta-Dolmen-Sys-Read": "*"}, "reserved"),
    ],
)
def test_metadata_over_swift_limits_is_refused(headers, complaint):
    with pytest.raises(InvalidMetadata, match=complaint):
        user_metadata(headers, "object")


def test_limits_are_inclusive():
    user_metadata({"X-Object-Meta-" + "n" * 128: "v" * 256}, "object")
    user_metadata({f"X-Object-Meta-n{i:02}": "v" for i in range(90)}, "object")


def test_reserved_items_never_show_as_metadata():
    stored = {"color": "blue", "dolmen-sys-read": ".r:*", "gone": ""}
    assert metadata_headers(stored, "container") == {"X-Container-Meta-color": "blue"}


def test_content_headers_are_kept_as_reserved_items():
    items = object_kept_items({"Content-Disposition": "attachment", "Content-Encoding": "gzip"})
    assert object_kept_headers(items) == {"Content-Disposition": "attachment", "Content-Encoding": "gzip"}
    assert object_kept_items({}) == {}


def test_delete_after_wins_and_the_past_is_refused():
    now_s = 1_000.5
    assert delete_at_from_headers({"X-Delete-After": "10"}, now_s=now_s) == 1010
    assert delete_at_from_headers({"X-Delete-After": "10", "X-Delete-At": "5"}, now_s=now_s) == 1010
    assert delete_at_from_headers({"X-Delete-At": "2000"}, now_s=now_s) == 2000
    assert delete_at_from_headers({}, now_s=now_s) is None
    for headers, complaint in [
        ({"X-Delete-After": "0"}, "X-Delete-After in past"),
        ({"X-Delete-After": "-5"}, "X-Delete-After in past"),
        ({"X-Delete-After": "1.5"}, "Non-integer X-Delete-After"),
        ({"X-Delete-At": "1000"}, "X-Delete-At in past"),
        ({"X-Delete-At": "soon"}, "Non-integer X-Delete-At"),
        ({"X-Delete-At": "9" * 400}, "Non-integer X-Delete-At"),
    ]:
        with pytest.raises(InvalidDeleteAt, match=complaint):
            delete_at_from_headers(headers, now_s=now_s)


def test_content_type_is_the_clients_else_guessed_else_octet_stream():
    assert object_content_type({"Content-Type": "text/x-thing"}, "a.json") == "text/x-thing"
    assert object_content_type({}, "a.json") == "application/json"
    assert (
        object_content_type({"Content-Type": "x/y", "X-Detect-Content-Type": "true"}, "a.html") == "text/html"
    )
    assert object_content_type({}, "noextension") == "application/octet-stream"


def test_small_header_forms():
    assert client_etag({"ETag": ' "ABCDEF" '}) == "abcdef"
    assert client_etag({}) is None
    assert http_date(1_700_000_000.2) == "Tue, 14 Nov 2023 22:13:21 GMT"
    assert swift_timestamp(1_700_000_000.12345) == "1700000000.12345"


def test_queries_decode_strictly():
    assert split_target("/v1/a?x=1&y") == ("/v1/a", "x=1&y")
    assert parse_query("prefix=a%2Fb+c&marker=&format=json&format=xml") == {
        "prefix": "a/b c",
        "marker": "",
        "format": "json",
    }
    for bad in ("marker=%ff", "prefix=%00"):
        with pytest.raises(BadRequest):
            parse_query(bad)
    with pytest.raises(BadRequest):
        parse_query("&".join(f"a{i}=1" for i in range(65)))


def test_errors_map_to_swift_statuses_and_bodies():
    assert error_status(InvalidMetadata("Metadata value longer than 256")) == 400
    assert error_body(400, InvalidMetadata("Metadata value longer than 256")) == (
        b"Metadata value longer than 256",
        "text/plain",
    )
    assert error_body(404) == (
        b"<html><h1>Not Found</h1><p>The resource could not be found.</p></html>",
        "text/html",
    )
    assert error_body(304) == (b"", "text/plain")


def test_info_names_the_limits_clients_read():
    swift = capabilities(version="0.1.0", cors=CorsSettings())["swift"]
    assert swift["max_file_size"] == 5 * 2**30
    assert swift["container_listing_limit"] == 10_000
    assert swift["max_object_name_length"] == 1024
