"""Conditional requests (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since), pure.

RFC 9110 section 13.2.2 order: If-Match, else If-Unmodified-Since (412); then
If-None-Match (304 for GET/HEAD, else 412), else If-Modified-Since (GET/HEAD
only: 304). An unparsable date is ignored. ETags are compared without quotes;
`If-Match` uses the strong comparison (a weak tag never matches),
`If-None-Match` the weak one. A PUT with `If-None-Match: *` fails (412) when a
live object exists, which is how "create only if absent" is asked.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping

NOT_MODIFIED = 304
PRECONDITION_FAILED = 412


def _entity_tags(header: str) -> list[tuple[bool, str]] | None:
    """(weak, opaque-tag) pairs of an If-Match / If-None-Match list; None for `*`."""
    if header.strip() == "*":
        return None
    tags = []
    for item in header.split(","):
        text = item.strip()
        weak = text.startswith(("W/", "w/"))
        if weak:
            text = text[2:]
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        if text:
            tags.append((weak, text))
    return tags


def _matches(header: str, etag: str | None, *, strong: bool) -> bool:
    if etag is None:
        return False
    tags = _entity_tags(header)
    if tags is None:
        return True
    return any(tag == etag and not (strong and weak) for weak, tag in tags)


def _http_date_s(header: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def evaluate_preconditions(
    method: str, headers: Mapping[str, str], *, etag: str | None, last_modified_s: int | None
) -> int | None:
    """The status a conditional request gets instead of its normal answer, or None to proceed.

    `etag` and `last_modified_s` describe the current object; both None when
    there is none (then If-Match fails and If-None-Match passes). Returns 304
    or 412.
    """
    exists = etag is not None
    reading = method in ("GET", "HEAD")
    if_match = headers.get("If-Match")
    if if_match is not None:
        if not _matches(if_match, etag, strong=True):
            return PRECONDITION_FAILED
    else:
        since = headers.get("If-Unmodified-Since")
        since_s = _http_date_s(since) if since is not None else None
        if exists and since_s is not None and last_modified_s is not None and last_modified_s > since_s:
            return PRECONDITION_FAILED
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        if _matches(if_none_match, etag, strong=False):
            return NOT_MODIFIED if reading else PRECONDITION_FAILED
    elif reading:
        since = headers.get("If-Modified-Since")
        since_s = _http_date_s(since) if since is not None else None
        if exists and since_s is not None and last_modified_s is not None and last_modified_s <= since_s:
            return NOT_MODIFIED
    return None


def http_date(seconds: int) -> str:
    """`seconds` since the epoch as an IMF-fixdate (Last-Modified)."""
    return email.utils.formatdate(seconds, usegmt=True)
