"""Request header values as text: UTF-8 as sent, anything else as Latin-1, never a lone surrogate."""

from __future__ import annotations

import pytest
from dolmen.proxy.headertext import header_text
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("sent", "text"),
    [
        (b"plain", "plain"),
        ("Müller 日本".encode(), "Müller 日本"),
        (b"Hello\xe9", "Helloé"),  # Latin-1, as http.client sends "Helloé"
        (b'attachment; filename="r\xe9sum\xe9.pdf"', 'attachment; filename="résumé.pdf"'),
    ],
)
def test_header_values_are_read_as_utf8_else_latin1(sent: bytes, text: str) -> None:
    as_aiohttp_decodes = sent.decode("utf-8", "surrogateescape")
    assert header_text(as_aiohttp_decodes) == text


@given(st.binary(max_size=64))
def test_any_header_bytes_become_text_that_can_be_stored_and_sent(sent: bytes) -> None:
    text = header_text(sent.decode("utf-8", "surrogateescape"))
    text.encode("utf-8")  # no lone surrogate left
    assert text.encode("utf-8") == sent or text.encode("latin-1") == sent
