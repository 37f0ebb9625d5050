"""The HTTP/1.1 the cluster client speaks to storage nodes on its own connections (pure, and
the reading of an answer from a stream).

Requests go out as one head (request line, Host, the signed headers, the body's framing) and
a body of known length or in chunks; answers are read as a status line and headers, then a
body by the rules of RFC 9112 section 6.3: none for HEAD, 1xx, 204 and 304; chunked;
Content-Length; else up to the end of the connection (which then cannot be reused).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from multidict import CIMultiDict

CRLF = b"\r\n"
HEAD_END = b"\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"
CHUNK_LINE_BYTES_MAX = 1024  # a chunk's size line, with any extension


# Header values travel as UTF-8, as the nodes' aiohttp reads and writes them; bytes that are not
# UTF-8 ride as lone surrogates (surrogateescape), so whatever text a header holds arrives whole.
HEADER_ENCODING = "utf-8"


class AnswerMalformed(ValueError):
    """The node's answer is not an HTTP/1.1 response this client reads."""


class AnswerTooLarge(ValueError):
    """The answer's body is longer than the caller accepts."""


def request_head(
    method: str, target: str, host: str, headers: Mapping[str, str], *, content_length: int | None
) -> bytes:
    """The request line and headers (`target` already percent-encoded); `content_length` None
    announces a chunked body."""
    framing = "Transfer-Encoding: chunked" if content_length is None else f"Content-Length: {content_length}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", framing]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(HEADER_ENCODING, "surrogateescape")


def chunk_line(size: int) -> bytes:
    return b"%x\r\n" % size


def parse_answer_head(head: bytes) -> tuple[int, CIMultiDict[str], bool]:
    """(status, headers, keeps the connection alive) of a response head ending in CRLF CRLF."""
    lines = head.decode(HEADER_ENCODING, "surrogateescape").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status_text = rest[:3]
    if version not in ("HTTP/1.1", "HTTP/1.0") or len(status_text) != 3 or not status_text.isdigit():
        raise AnswerMalformed(f"bad status line {lines[0][:80]!r}")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise AnswerMalformed(f"bad header line {line[:80]!r}")
        headers.add(name, value.strip())
    connection = headers.get("Connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return int(status_text), headers, keep_alive


def content_length(headers: Mapping[str, str]) -> int | None:
    """The announced body length; None without one (AnswerMalformed if it is not a number)."""
    text = headers.get("Content-Length")
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise AnswerMalformed(f"bad Content-Length {text[:40]!r}")
    return int(text)


def has_body(method: str, status: int) -> bool:
    return method != "HEAD" and status >= 200 and status not in (204, 304)


async def read_answer_head(reader: asyncio.StreamReader) -> tuple[int, CIMultiDict[str], bool]:
    """The final answer's head (interim 1xx answers are skipped)."""
    while True:
        status, headers, keep_alive = parse_answer_head(await reader.readuntil(HEAD_END))
        if status >= 200:
            return status, headers, keep_alive


async def read_answer_body(
    reader: asyncio.StreamReader, method: str, status: int, headers: Mapping[str, str], bytes_max: int
) -> tuple[bytes, bool]:
    """(the body, whether the connection may carry another request afterwards as far as the body
    is concerned). AnswerTooLarge past `bytes_max`; AnswerMalformed, IncompleteReadError."""
    if not has_body(method, status):
        return b"", True
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return await _read_chunked(reader, bytes_max), True
    length = content_length(headers)
    if length is not None:
        if length > bytes_max:
            raise AnswerTooLarge(f"answer of {length} bytes, at most {bytes_max} taken")
        return await reader.readexactly(length), True
    body = await reader.read(bytes_max + 1)  # no length: the body ends with the connection
    while len(body) <= bytes_max and (more := await reader.read(bytes_max + 1 - len(body))):
        body += more
    if len(body) > bytes_max:
        raise AnswerTooLarge(f"answer over {bytes_max} bytes")
    return body, False


async def _read_chunked(reader: asyncio.StreamReader, bytes_max: int) -> bytes:
    parts: list[bytes] = []
    size_total = 0
    while True:
        line = await reader.readuntil(CRLF)
        if len(line) > CHUNK_LINE_BYTES_MAX:
            raise AnswerMalformed("chunk size line too long")
        size_text = line[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise AnswerMalformed(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            while (await reader.readuntil(CRLF)) != CRLF:  # trailers, ignored
                pass
            return b"".join(parts)
        size_total += size
        if size_total > bytes_max:
            raise AnswerTooLarge(f"answer over {bytes_max} bytes")
        chunk = await reader.readexactly(size + 2)
        if chunk[-2:] != CRLF:
            raise AnswerMalformed("chunk not followed by CRLF")
        parts.append(chunk[:-2])
