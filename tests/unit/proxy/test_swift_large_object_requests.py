"""Pure parts of Swift's SLO, bulk and symlink requests: parsing, checks, and Swift's answer bodies."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from dolmen.proxy.errors import BadRequest, InvalidCopySource, InvalidUtf8, ManifestInvalid
from dolmen.proxy.swift import bulkformat
from dolmen.proxy.swift.bulk import DeleteOutcome, parse_name
from dolmen.proxy.swift.paths import SwiftPath
from dolmen.proxy.swift.slo import WantedSegment, checked_segment, parse_put_body, resolve_range
from dolmen.proxy.swift.symlinks import requested_target
from dolmen.storage_node.timestamps import Timestamp


def info(length: int, etag: str = "e" * 32, metadata=None):
    return SimpleNamespace(
        length=length,
        etag=etag,
        metadata=metadata or {},
        content_type="x/y",
        timestamp=Timestamp.from_seconds(1.5),
    )


def test_a_put_body_gives_the_wanted_segments():
    body = json.dumps(
        [{"path": "/c/a/b", "etag": '"ABC"', "size_bytes": "10"}, {"path": "c/z", "range": "-5"}]
    ).encode()
    assert parse_put_body(body, container="c", obj="m") == [
        WantedSegment("c", "a/b", "abc", 10, None),
        WantedSegment("c", "z", None, None, "-5"),
    ]


def test_every_bad_entry_is_named_by_index():
    body = json.dumps(
        [1, {"etag": "x"}, {"path": "/c/o", "x": 1}, {"path": "/c"}, {"path": "/c/o", "size_bytes": 0},
         {"path": "/c/m"}, {"path": "/c/o", "range": "1-2,4-5"}, {"path": "/c/o", "range": "9-", "size_bytes": 3},
         {"path": "/c/o", "size_bytes": "x"}]
    ).encode()  # fmt: skip
    with pytest.raises(ManifestInvalid) as caught:
        parse_put_body(body, container="c", obj="m")
    lines = caught.value.detail.splitlines()
    assert lines == [
        "Index 0: not a JSON object",
        "Index 1: expected keys to include one of 'path'",
        'Index 2: extraneous keys "x"',
        "Index 3: path does not refer to an object. Path must be of the form /container/object.",
        "Index 4: too small; each segment must be at least 1 byte.",
        "Index 5: manifest must not include itself as a segment",
        "Index 6: multiple ranges (only one allowed)",
        "Index 7: unsatisfiable range",
        "Index 8: invalid size_bytes",
    ]
    for bad in (b"nope", b"{}"):
        with pytest.raises(ManifestInvalid):
            parse_put_body(bad, container="c", obj="m")


def test_a_segment_is_checked_against_what_the_client_said():
    wanted = WantedSegment("c", "o", "e" * 32, 10, "2-4")
    segment, problems = checked_segment(wanted, info(10), is_last=False)
    assert problems == [] and segment is not None
    assert (segment.length, segment.range, segment.last_modified) == (3, (2, 4), "1970-01-01T00:00:01.500000")
    _, problems = checked_segment(WantedSegment("c", "o", "f" * 32, 11, None), info(10), is_last=False)
    assert problems == ["Size Mismatch", "Etag Mismatch"]
    _, problems = checked_segment(WantedSegment("c", "o", None, None, "20-"), info(10), is_last=False)
    assert problems == ["Unsatisfiable Range"]
    _, problems = checked_segment(WantedSegment("c", "o", None, None, None), info(0), is_last=False)
    assert problems == ["Too small; each segment must be at least 1 byte."]
    assert checked_segment(WantedSegment("c", "o", None, None, None), info(0), is_last=True)[1] == []
    nested = info(50, metadata={"dolmen-sys-slo": "a" * 32, "dolmen-sys-slo-size": "999"})
    segment, _ = checked_segment(WantedSegment("c", "o", "a" * 32, 999, None), nested, is_last=True)
    assert segment is not None and segment.sub_slo and segment.length == 999


def test_ranges_resolve_as_http_ranges():
    assert resolve_range("0-", 10) == (0, 9)
    assert resolve_range("-3", 10) == (7, 9)
    assert resolve_range("5-100", 10) == (5, 9)
    assert resolve_range("10-", 10) is None


def test_bulk_answers_in_swifts_three_formats():
    outcome = DeleteOutcome(deleted=2, not_found=1, errors=[("/c/x", "403 Forbidden")])
    summary = outcome.summary()
    assert summary["Response Status"] == "400 Bad Request"
    as_json = json.loads(bulkformat.response_body("application/json", summary, outcome.errors, "delete"))
    assert as_json["Number Deleted"] == 2 and as_json["Errors"] == [["/c/x", "403 Forbidden"]]
    text = bulkformat.response_body("text/plain", summary, outcome.errors, "delete").decode()
    assert text.endswith("Errors:\n/c/x, 403 Forbidden\n") and "Number Not Found: 1\n" in text
    xml = bulkformat.response_body("application/xml", summary, outcome.errors, "delete").decode()
    assert "<number_deleted>2</number_deleted>" in xml and "<status>403 Forbidden</status>" in xml
    assert DeleteOutcome().summary()["Response Body"] == "Invalid bulk delete."


@pytest.mark.parametrize(
    "accept, expected",
    [
        (None, "text/plain"),
        ("application/json", "application/json"),
        ("text/xml;q=0.5, application/json;q=0.9", "application/json"),
        ("*/*", "text/plain"),
        ("image/png", "text/plain"),
    ],
)
def test_the_answer_format_follows_accept(accept, expected):
    assert bulkformat.best_format(accept) == expected


def test_bulk_names_are_decoded_and_checked():
    assert parse_name("/c%20x/o%2Fp\r") == ("c x", "o/p")
    assert parse_name("c") == ("c", None)
    for bad in ("/", "/.dolmen+uploads+x/o"):
        with pytest.raises(BadRequest):
            parse_name(bad)
    for not_utf8 in ("/c/caf%E9", "/c/caf\udce9", "/c%ff/o"):  # escaped, or raw bytes as decoded
        with pytest.raises(InvalidUtf8):
            parse_name(not_utf8)


def test_symlink_targets():
    here = SwiftPath("AUTH_a", "c", "link")
    assert requested_target({"X-Symlink-Target": "c/t%20x"}, here) == SwiftPath("AUTH_a", "c", "t x")
    other = {"X-Symlink-Target": "c/t", "X-Symlink-Target-Account": "AUTH_b"}
    assert requested_target(other, here) == SwiftPath("AUTH_b", "c", "t")
    assert requested_target({}, here) is None
    with pytest.raises(InvalidCopySource):
        requested_target({"X-Symlink-Target": "no-object"}, here)
    with pytest.raises(BadRequest):
        requested_target({"X-Symlink-Target": "c/link"}, here)
    with pytest.raises(BadRequest):
        requested_target({"X-Symlink-Target-Account": "AUTH_b"}, here)
