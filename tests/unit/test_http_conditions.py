"""Conditional requests: RFC 9110 evaluation order and comparisons."""

from __future__ import annotations

import pytest
from dolmen.storage_node.http_conditions import evaluate_preconditions, http_date

ETAG = "0123abcd"
MODIFIED_S = 1_700_000_000
BEFORE = http_date(MODIFIED_S - 10)
AT = http_date(MODIFIED_S)
AFTER = http_date(MODIFIED_S + 10)


def evaluate(method, headers, exists=True):
    return evaluate_preconditions(
        method, headers, etag=ETAG if exists else None, last_modified_s=MODIFIED_S if exists else None
    )


@pytest.mark.parametrize(
    "method,headers,exists,expected",
    [
        ("GET", {}, True, None),
        ("GET", {"If-Match": f'"{ETAG}"'}, True, None),
        ("GET", {"If-Match": ETAG}, True, None),
        ("GET", {"If-Match": '"other", "0123abcd"'}, True, None),
        ("GET", {"If-Match": f'W/"{ETAG}"'}, True, 412),
        ("GET", {"If-Match": '"other"'}, True, 412),
        ("GET", {"If-Match": "*"}, True, None),
        ("GET", {"If-Match": "*"}, False, 412),
        ("GET", {"If-None-Match": f'"{ETAG}"'}, True, 304),
        ("HEAD", {"If-None-Match": f'W/"{ETAG}"'}, True, 304),
        ("GET", {"If-None-Match": '"other"'}, True, None),
        ("GET", {"If-None-Match": "*"}, False, None),
        ("PUT", {"If-None-Match": "*"}, True, 412),
        ("PUT", {"If-None-Match": "*"}, False, None),
        ("GET", {"If-Modified-Since": AT}, True, 304),
        ("GET", {"If-Modified-Since": AFTER}, True, 304),
        ("GET", {"If-Modified-Since": BEFORE}, True, None),
        ("GET", {"If-Modified-Since": "not a date"}, True, None),
        ("DELETE", {"If-Modified-Since": AT}, True, None),
        ("GET", {"If-Unmodified-Since": BEFORE}, True, 412),
        ("GET", {"If-Unmodified-Since": AT}, True, None),
        ("GET", {"If-Unmodified-Since": "garbage"}, True, None),
        # If-Match takes precedence over If-Unmodified-Since; If-None-Match over If-Modified-Since.
        ("GET", {"If-Match": ETAG, "If-Unmodified-Since": BEFORE}, True, None),
        ("GET", {"If-None-Match": '"other"', "If-Modified-Since": AFTER}, True, None),
        ("GET", {"If-Match": '"other"', "If-None-Match": ETAG}, True, 412),
    ],
)
def test_preconditions(method, headers, exists, expected):
    assert evaluate(method, headers, exists) == expected
