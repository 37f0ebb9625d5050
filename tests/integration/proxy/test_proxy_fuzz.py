"""Bad input through the real proxy: whatever the path, headers and query, never a 500 or a traceback."""

from __future__ import annotations

import socket
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
     "Content-Type", "ETag", "Accept", "X-Trans-Id", "X-Auth-User", "X-Auth-Key", "Expect"]
)  # fmt: skip
HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
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
