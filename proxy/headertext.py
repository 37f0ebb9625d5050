"""Request header values as text, pure.

aiohttp decodes a request's header bytes as UTF-8 and keeps the bytes that are not UTF-8 as
lone surrogates (surrogateescape): text no store holds and no answer can carry. HTTP's
historical charset is ISO-8859-1, and clients such as Python's http.client (botocore among
them) send text that way, so a value that is not UTF-8 is read as Latin-1: `Hello\\xe9` is
stored as "Helloé" (and answered in UTF-8), never refused with a 500.
"""

from __future__ import annotations


def header_text(value: str) -> str:
    """`value` as aiohttp decoded it, with bytes that were not UTF-8 read as Latin-1."""
    if value.isascii():
        return value
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def is_utf8(value: str) -> bool:
    """Whether `value`, as aiohttp decoded it, arrived as UTF-8 (no byte kept as a surrogate)."""
    return value.isascii() or not any("\udc80" <= char <= "\udcff" for char in value)
