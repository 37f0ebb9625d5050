"""Reading a Swift request: the raw target split into path and decoded query, request ids, pure."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from dolmen.proxy.errors import BadRequest

from dolmen.limits import REQUEST_ID_BYTES_MAX

QUERY_PARAMETERS_MAX = 64  # far more than any Swift call sends; bounds the work on a hostile query
_REQUEST_ID = re.compile("[\\x21-\\x7e]{1," + str(REQUEST_ID_BYTES_MAX) + "}")


def split_target(raw_target: str) -> tuple[str, str]:
    """(raw path, raw query) of a request target."""
    path, _, query = raw_target.partition("?")
    return path, query


def parse_query(raw_query: str) -> dict[str, str]:
    """The decoded parameters of a query string (`+` is a space; the first of a repeated name wins).

    Raises BadRequest for bytes that are not UTF-8, a NUL, or more than
    QUERY_PARAMETERS_MAX parameters.
    """
    params: dict[str, str] = {}
    if not raw_query:
        return params
    pairs = raw_query.split("&")
    if len(pairs) > QUERY_PARAMETERS_MAX:
        raise BadRequest(f"More than {QUERY_PARAMETERS_MAX} query parameters")
    for pair in pairs:
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        name, value = _decode(raw_name), _decode(raw_value)
        params.setdefault(name, value)
    return params


def _decode(raw: str) -> str:
    try:
        text = unquote_to_bytes(raw.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("Invalid UTF8 or contains NULL") from None
    if "\x00" in text:
        raise BadRequest("Invalid UTF8 or contains NULL")
    return text


def valid_request_id(value: str | None) -> bool:
    """Whether a caller's `X-Trans-Id` may be reused (printable ASCII, bounded)."""
    return value is not None and _REQUEST_ID.fullmatch(value) is not None
