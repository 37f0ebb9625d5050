"""Request bodies of the identity API: JSON objects of Unicode text, or a clear 400."""

from __future__ import annotations

import pytest
from dolmen.identity.errors import ValidationError
from dolmen.identity.parsing import json_body


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[]",
        b"\xff\xfe",
        b'{"user": {"name": "\\ud800"}}',  # a lone surrogate, as JSON may escape one
        b'{"a": ["x", {"b": "\\udce9"}]}',
        b'{"\\udfff": 1}',
    ],
)
def test_bodies_that_are_not_json_objects_of_text_are_validation_errors(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        json_body(raw)


def test_text_outside_ascii_and_escaped_pairs_are_kept() -> None:
    assert json_body('{"name": "Müller 日本", "emoji": "\\ud83d\\ude00"}'.encode()) == {
        "name": "Müller 日本",
        "emoji": "😀",
    }
