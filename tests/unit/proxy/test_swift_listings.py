import datetime
import json
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

import pytest
from dolmen.proxy.errors import ListingLimitExceeded
from dolmen.proxy.swift.listings import (
    JSON,
    TEXT,
    XML,
    container_rows,
    object_rows,
    parse_listing_request,
    render_listing,
)
from dolmen.storage_node.timestamps import iso_8601
from hypothesis import given
from hypothesis import strategies as st


@dataclass(frozen=True)
class Moment:
    ticks: int  # of 10 µs, as a Timestamp's


@dataclass(frozen=True)
class ObjectEntry:
    name: str
    bytes: int
    etag: str
    content_type: str
    last_modified: Moment


@dataclass(frozen=True)
class ContainerEntry:
    name: str
    count: int
    bytes: int
    last_modified: Moment


@dataclass(frozen=True)
class Subdir:
    name: str


T = Moment(1_700_000_000_12345)


def test_the_query_as_swift_reads_it():
    request = parse_listing_request(
        {"prefix": "a", "delimiter": "/", "marker": "m", "end_marker": "z", "limit": "5", "reverse": "on"},
        None,
    )
    assert (request.prefix, request.delimiter, request.marker, request.end_marker) == ("a", "/", "m", "z")
    assert request.limit == 5 and request.reverse and request.content_type == TEXT
    assert parse_listing_request({"limit": "many"}, None).limit == 10_000
    assert parse_listing_request({"limit": "0"}, None).limit == 0
    with pytest.raises(ListingLimitExceeded, match="Maximum limit is 10000"):
        parse_listing_request({"limit": "10001"}, None)


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        ({"format": "json"}, None, JSON),
        ({"format": "XML"}, None, XML),
        ({"format": "bogus"}, "application/json", TEXT),
        ({}, "application/json", JSON),
        ({}, "text/xml", XML),
        ({}, "image/png", TEXT),
        ({}, None, TEXT),
    ],
)
def test_format_comes_from_the_query_then_accept(query, accept, expected):
    assert parse_listing_request(query, accept).content_type == expected


@given(st.integers(0, 10**15 - 1))
def test_last_modified_is_iso_with_microseconds_and_no_zone(ticks):
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=10 * ticks)
    assert iso_8601(ticks) == moment.isoformat(timespec="microseconds")
    assert iso_8601(1_700_000_000_12345) == "2023-11-14T22:13:20.123450"


def test_object_listing_in_each_format():
    rows = object_rows([ObjectEntry("a&b", 3, "e" * 32, "text/plain", T), Subdir("d/")])
    assert json.loads(render_listing(rows, JSON, root="container", name="c")) == [
        {
            "name": "a&b",
            "bytes": 3,
            "hash": "e" * 32,
            "content_type": "text/plain",
            "last_modified": "2023-11-14T22:13:20.123450",
        },
        {"subdir": "d/"},
    ]
    assert render_listing(rows, TEXT, root="container", name="c") == b"a&b\nd/\n"
    body = render_listing(rows, XML, root="container", name="c<")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<container name="c&lt;">')
    document = ElementTree.fromstring(body)
    assert document.find("object/name").text == "a&b"
    assert document.find("object/bytes").text == "3"
    assert document.find("subdir").get("name") == "d/" and document.find("subdir/name").text == "d/"


def test_account_listing_in_each_format():
    rows = container_rows([ContainerEntry("c1", 2, 10, T), Subdir("x-")])
    assert json.loads(render_listing(rows, JSON, root="account", name="AUTH_p")) == [
        {"name": "c1", "count": 2, "bytes": 10, "last_modified": "2023-11-14T22:13:20.123450"},
        {"subdir": "x-"},
    ]
    body = render_listing(rows, XML, root="account", name="AUTH_p")
    document = ElementTree.fromstring(body)
    assert document.tag == "account" and document.get("name") == "AUTH_p"
    assert [child.tag for child in document] == ["container", "subdir"]
    assert document.find("container/count").text == "2"


def test_empty_listings():
    assert render_listing([], JSON, root="container", name="c") == b"[]"
    assert render_listing([], TEXT, root="container", name="c") == b""
    assert ElementTree.fromstring(render_listing([], XML, root="container", name="c")).tag == "container"


@given(
    st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20), max_size=5)
)
def test_any_names_survive_json_and_xml(names):
    rows = object_rows([ObjectEntry(name, 0, "d41d8cd98f00b204e9800998ecf8427e", "a/b", T) for name in names])
    assert [
        row["name"] for row in json.loads(render_listing(rows, JSON, root="container", name="c"))
    ] == names
    document = ElementTree.fromstring(render_listing(rows, XML, root="container", name="c"))
    assert [element.text for element in document.iter("name")] == names
