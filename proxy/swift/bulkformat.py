"""The answer body of Swift's bulk operations (bulk delete, archive extraction, SLO PUT/delete), pure.

Swift answers these with a summary (`Response Status`, counts) and a list of
(name, status) errors, rendered as text/plain, JSON or XML by the request's
`Accept` header (text/plain when it names none of them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

FORMATS = ("text/plain", "application/json", "application/xml", "text/xml")
STATUS_LINES = {
    200: "200 OK",
    201: "201 Created",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    406: "406 Not Acceptable",
    409: "409 Conflict",
    412: "412 Precondition Failed",
    413: "413 Request Entity Too Large",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
}


def status_line(status: int) -> str:
    return STATUS_LINES.get(status, f"{status} Error")


def best_format(accept: str | None) -> str:
    """The first of FORMATS the Accept header allows, by its q-values (text/plain by default)."""
    if not accept:
        return FORMATS[0]
    best, best_q = FORMATS[0], -1.0
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        media = media.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        for candidate in FORMATS:
            if quality > best_q and quality > 0 and _matches(media, candidate):
                best, best_q = candidate, quality
    return best


def _matches(media: str, candidate: str) -> bool:
    kind, _, sub = media.partition("/")
    ckind, _, csub = candidate.partition("/")
    return (kind in ("*", ckind)) and (sub in ("*", csub))


def response_body(
    content_type: str, summary: Mapping[str, object], errors: Sequence[tuple[str, str]], root: str
) -> bytes:
    """Swift's bulk answer: the summary items (sorted) and the errors, in `content_type`."""
    if content_type == "application/json":
        return json.dumps({**summary, "Errors": [list(error) for error in errors]}).encode()
    if content_type.endswith("/xml"):
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n', f"<{root}>\n"]
        for key in sorted(summary):
            tag = key.replace(" ", "_").lower()
            out.append(f"<{tag}>{escape(str(summary[key]))}</{tag}>\n")
        out.append("<errors>\n")
        for name, status in errors:
            out.append(f"<object><name>{escape(name)}</name><status>{escape(status)}</status></object>\n")
        out.append(f"</errors>\n</{root}>\n")
        return "".join(out).encode()
    lines = [f"{key}: {summary[key]}\n" for key in sorted(summary)]
    lines.append("Errors:\n")
    lines.extend(f"{name}, {status}\n" for name, status in errors)
    return "".join(lines).encode()
