"""Bad input through the real proxy: whatever the path, headers and query, never a 500 or a traceback."""

from __future__ import annotations

import socket
import urllib.parse
import uuid
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SEGMENTS = st.sampled_from(
    ["v1", "v1.0", "AUTH_x", "c", "o", "..", ".", "", "%ff", "%00", "%2F", "a" * 300, "é", "AUTH_"]
)
METHODS = st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS", "PATCH"])
HEADER_NAMES = st.sampled_from(
    ["X-Auth-Token", "Range", "If-Match", "If-None-Match", "X-Delete-At", "X-Delete-After", "X-Copy-From",
     "Destination", "X-Container-Read", "X-Account-Access-Control", "X-Object-Meta-A",
     "Content-Type", "ETag", "Accept", "X-Trans-Id", "X-Auth-User", "X-Auth-Key", "Expect",
     "X-Container-Write", "X-Versions-Location", "X-History-Location", "Content-Disposition",
     "X-Container-Meta-A", "X-Account-Meta-A", "X-Symlink-Target", "X-Object-Manifest"]
)  # fmt: skip
# Sent as Latin-1: ASCII, bytes that are not UTF-8 (0xA0-0xFF alone), and UTF-8 text.
HEADER_VALUES = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=20),
    st.text(st.characters(min_codepoint=0xA0, max_codepoint=0x2FFF), max_size=10).map(
        lambda text: text.encode("utf-8").decode("latin-1")
    ),
)
QUERY = st.lists(
    st.tuples(
        st.sampled_from(["format", "limit", "marker", "prefix", "delimiter", "reverse", "x"]),
        st.text(max_size=12),
    ),
    max_size=4,
)


def raw_request(
    port: int, method: str, target: str, headers: list[tuple[str, str]], token: str | None
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers if name != "X-Auth-Token"]
    if token is not None:
        lines.append(f"X-Auth-Token: {token}")
    if method in ("PUT", "POST"):
        lines.append("Content-Length: 0")  # every request is whole: the proxy never waits for more
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def token(member_connection):
    return member_connection.get_auth()[1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=METHODS,
    segments=st.lists(SEGMENTS, min_size=0, max_size=5),
    query=QUERY,
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=4),
    with_token=st.booleans(),
)
def test_no_input_gets_a_500_or_a_traceback(up_cluster, token, method, segments, query, headers, with_token):
    target = "/" + "/".join(segments)
    if query:
        target += "?" + "&".join(f"{quote(name)}={quote(value)}" for name, value in query)
    answer = raw_request(up_cluster.port, method, target, headers, token if with_token else None)
    assert answer.startswith(b"HTTP/1."), (method, target, headers, answer[:200])
    status_line = answer.split(b"\r\n", 1)[0]
    status = int(status_line.split()[1])
    assert status < 500, (target, headers, answer[:500])
    assert b"Traceback" not in answer and b'File "' not in answer


def test_header_bytes_that_are_not_utf8_get_the_apis_answers(up_cluster, member_connection):
    """Each was a 500 or a 503: names and ACLs that are not UTF-8 are refused as Swift refuses
    them, text (a content type, an expectation) is read as Latin-1 or refused plainly."""
    url, token = member_connection.get_auth()
    account_path = urllib.parse.urlsplit(url).path
    container = f"bytes-{uuid.uuid4().hex[:8]}"
    member_connection.put_container(container)
    member_connection.put_object(container, "src", b"src")

    def status(method: str, path: str, headers: list[tuple[str, str]]) -> int:
        answer = raw_request(up_cluster.port, method, f"{account_path}{path}", headers, token)
        return int(answer.split(b" ", 2)[1])

    latin1 = "a\xe9b"  # sent as the byte 0xE9: not UTF-8
    assert status("PUT", f"/{container}/copy", [("X-Copy-From", f"{container}/{latin1}")]) == 412
    assert status("COPY", f"/{container}/src", [("Destination", f"{container}/{latin1}")]) == 412
    assert status("POST", f"/{container}", [("X-Versions-Location", latin1)]) == 412
    assert status("POST", f"/{container}", [("X-Container-Read", latin1)]) == 400
    assert status("POST", f"/{container}/src", [("Content-Type", f"text/{latin1}")]) == 202
    assert member_connection.head_object(container, "src")["content-type"] == "text/aéb"
    assert raw_request(up_cluster.port, "GET", "/nowhere", [("Expect", latin1)], None).startswith(
        b"HTTP/1.1 417 "
    )
    assert status("GET", f"/{container}/src", [("Expect", latin1)]) == 417
    member_connection.delete_object(container, "src")
    member_connection.delete_container(container)
