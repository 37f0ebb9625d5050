"""Bad input never gets a 500 and never leaves anything partial visible."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time

import pytest
from dolmen.storage_node import framing
from helpers.storage_node import SignedClient, object_path, raw_exchange, timestamp

counter = itertools.count()


def new_path() -> str:
    return object_path("d1", 11, "AUTH_test", "bad", f"object-{next(counter)}")


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def raw_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: node"] + [
        f"{name}: {value}" for name, value in headers.items()
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


async def assert_nothing_at(client, path):
    assert (await client.get(path)).status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/d1/x/a/c/o",
        "/d1/01/a/c/o",
        "/d1/-1/a/c/o",
        "/d1/99999999999/a/c/o",
        "/d1/1/a/c",
        "/d1/1/a/c/",
        "/d1/1//c/o",
        "/d1/1/a/c/o%00x",
        "/d1/1/a/c/%FF%FE",
        "/d1/1/a/c/%ED%A0%80",
        "/d1/1/a/c/o%G0",
        "/..%2F/1/a/c/o",
        "/.hidden/1/a/c/o",
        "/d1/1/a/c/" + "x" * 1025,
        "/d1/1/" + "a" * 257 + "/c/o",
    ],
)
async def test_malformed_paths_are_400(client, path):
    for method in ("GET", "HEAD", "DELETE"):
        answer = await client.request(method, path, headers={"X-Timestamp": timestamp()})
        assert answer.status == 400, (method, path, answer)


@pytest.mark.parametrize("value", ["", "abc", "-1", "1e9", "1700000000.123456", "17000000000", "1.5_xyz"])
async def test_bad_timestamps_are_400_and_store_nothing(client, value):
    path = new_path()
    assert (await client.put(path, b"x", timestamp_text=value)).status == 400
    assert (await client.delete(path, timestamp_text=value)).status == 400
    await assert_nothing_at(client, path)


async def test_writes_without_a_timestamp_are_400(client):
    path = new_path()
    headers = client.put_headers(timestamp_text="1")
    del headers["X-Timestamp"]
    signed = client.sign("PUT", path, headers)
    assert (await client.request("PUT", path, headers=signed, body=b"", sign=False)).status == 400
    assert (await client.request("DELETE", path)).status == 400
    assert (await client.request("POST", path)).status == 400


async def test_unsigned_expired_forged_and_replayed_requests_are_403(client, storage_node):
    path = new_path()
    await client.put(path, b"secret")
    assert (await client.request("GET", path, sign=False)).status == 403
    assert (await client.request("GET", path, now_s=time.time() - 3600)).status == 403
    async with SignedClient(storage_node.url, key=b"w" * 32) as forger:
        assert (await forger.get(path)).status == 403
        assert (await forger.put(new_path(), b"x")).status == 403
    async with SignedClient(storage_node.url, key_id=5) as other_key:
        assert (await other_key.get(path)).status == 403
    signed_for_other_path = client.sign("GET", new_path(), {})
    assert (await client.request("GET", path, headers=signed_for_other_path, sign=False)).status == 403
    signed_get = client.sign("GET", path, {})
    assert (await client.request("DELETE", path, headers=signed_get, sign=False)).status == 403
    tampered = client.sign("DELETE", path, {"X-Timestamp": timestamp()})
    tampered["X-Timestamp"] = timestamp(time.time() + 100)
    assert (await client.request("DELETE", path, headers=tampered, sign=False)).status == 403
    assert (await client.get(path)).body == b"secret"


async def test_a_forged_footer_is_403_and_stores_nothing(client):
    path = new_path()
    headers = client.put_headers(timestamp_text=timestamp(), length=3)
    signed = client.sign("PUT", path, headers)
    other = client.sign("PUT", path, headers | {"X-Backend-Extra": "1"})
    body = client.framed(other, b"abc")  # footer bound to another request's signature
    assert (await client.request("PUT", path, headers=signed, body=body, sign=False)).status == 403
    await assert_nothing_at(client, path)


@pytest.mark.parametrize(
    "footer,status",
    [
        ({"body_xxh3_64": "0123456789abcdef"}, 422),
        ({"body_bytes": 2}, 422),
        ({"action": framing.ACTION_ABORT}, 499),
        ({"etag": 'with"quote'}, 400),
        ({"footer_metadata": {"Bad Header": "x"}}, 400),
    ],
)
async def test_footer_mismatches_and_aborts_store_nothing(client, storage_node, footer, status):
    for size in (3, 200_000):  # inline and file
        path = new_path()
        announce = "body_bytes" not in footer
        answer = await client.put(path, os.urandom(size), announce_length=announce, **footer)
        assert answer.status == status, (size, answer)
        await assert_nothing_at(client, path)
    assert list((storage_node.device_root() / "tmp").iterdir()) == []


async def test_a_body_longer_than_announced_is_422(client):
    path = new_path()
    headers = client.put_headers(timestamp_text=timestamp(), length=2)
    signed = client.sign("PUT", path, headers)
    answer = await client.request("PUT", path, headers=signed, body=client.framed(signed, b"abc"), sign=False)
    assert answer.status == 422
    await assert_nothing_at(client, path)


@pytest.mark.parametrize(
    "body",
    [
        b"",  # no frames, no footer
        b"D\x00\x00\x00\x05abc",  # a frame cut short
        b"D\x00\x00\x00\x03abc",  # frames but no footer
        b"Z\x00\x00\x00\x01a",  # unknown frame type
        b"D\xff\xff\xff\xff",  # a frame over the limit
    ],
)
async def test_malformed_or_truncated_framing_is_400(client, body):
    path = new_path()
    signed = client.sign("PUT", path, client.put_headers(timestamp_text=timestamp()))
    answer = await client.request("PUT", path, headers=signed, body=body, sign=False)
    assert answer.status == 400
    await assert_nothing_at(client, path)


async def test_bytes_after_the_footer_are_400(client):
    path = new_path()
    signed = client.sign("PUT", path, client.put_headers(timestamp_text=timestamp()))
    answer = await client.request(
        "PUT", path, headers=signed, body=client.framed(signed, b"abc") + b"D", sign=False
    )
    assert answer.status == 400
    await assert_nothing_at(client, path)


@pytest.mark.parametrize("size", [1000, 3 * 2**20])
async def test_a_client_that_disconnects_mid_upload_stores_nothing(client, storage_node, size):
    path = new_path()
    body = os.urandom(size)
    headers = client.put_headers(timestamp_text=timestamp(), length=size)
    signed = client.sign("PUT", path, headers)
    framed = client.framed(signed, body)
    cut = framed[: len(framed) // 2]
    request = raw_request("PUT", path, signed | {"Content-Length": str(len(framed))}, cut)
    reader, writer = await asyncio.open_connection("127.0.0.1", storage_node.port)
    writer.write(request)
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.transport.abort()
    await asyncio.sleep(0.3)
    await assert_nothing_at(client, path)
    assert list((storage_node.device_root() / "tmp").iterdir()) == []


async def test_a_body_shorter_than_its_content_length_stores_nothing(client, storage_node):
    path = new_path()
    headers = client.put_headers(timestamp_text=timestamp(), length=3)
    signed = client.sign("PUT", path, headers)
    framed = client.framed(signed, b"abc")
    # Announce more than is sent, then half-close: the node sees the body end early.
    request = raw_request("PUT", path, signed | {"Content-Length": str(len(framed) + 10)}, framed)
    reader, writer = await asyncio.open_connection("127.0.0.1", storage_node.port)
    writer.write(request)
    await writer.drain()
    writer.write_eof()
    await reader.read()
    writer.close()
    await asyncio.sleep(0.2)
    await assert_nothing_at(client, path)


async def test_oversized_request_lines_headers_and_header_counts_are_refused(storage_node):
    port = storage_node.port
    long_line = raw_request("GET", "/d1/1/a/c/" + "x" * 9000, {})
    assert status_of(await raw_exchange(port, long_line)) in (400, 414)
    big_header = raw_request("GET", "/d1/1/a/c/o", {"X-Big": "v" * 9000})
    assert status_of(await raw_exchange(port, big_header)) in (400, 431)
    many_headers = raw_request("GET", "/d1/1/a/c/o", {f"X-H{index}": "v" for index in range(200)})
    assert status_of(await raw_exchange(port, many_headers)) in (400, 431)


async def test_unknown_verbs_are_405_and_register_bodies_are_bounded(client, storage_node):
    assert (await client.request("PATCH", "/d1/1/a/c/o")).status == 405
    # Extension verbs travel only in X-Backend-Verb over their own method; the old
    # extension methods and unknown verbs or roles are refused.
    assert (await client.request("GET", "/d1/1/key", headers={"X-Backend-Verb": "PREPARE"})).status == 405
    assert (await client.request("POST", "/d1/1/key", headers={"X-Backend-Verb": "BREW"})).status == 405
    assert (await client.request("POST", "/d1/1/a/c/o", headers={"X-Backend-Role": "tea"})).status == 400
    for extension_method in ("PREPARE", "REPLICATE"):
        raw = raw_request(extension_method, "/d1/1/key", {})
        assert status_of(await raw_exchange(storage_node.port, raw)) in (400, 405)
    ballot = {"X-Backend-Register-Ballot": "1 p"}
    too_big = await client.request("ACCEPT", "/d1/1/key", headers=ballot, body=b"x" * (64 * 2**10 + 1))
    assert too_big.status == 413
    assert (
        await client.request("PREPARE", "/d1/1/key", headers={"X-Backend-Register-Ballot": "x"})
    ).status == 400
    assert (await client.request("PREPARE", "/d1/1/key")).status == 400


async def test_non_utf8_metadata_and_content_type_over_limits_are_400(client, storage_node):
    path = new_path()
    signed = client.sign("PUT", path, client.put_headers(timestamp_text=timestamp()))
    body = client.framed(signed, b"x")
    request = raw_request(
        "PUT", path, signed | {"X-Object-Meta-Bad": "\udcff\udcfe", "Content-Length": str(len(body))}, body
    )
    assert status_of(await raw_exchange(storage_node.port, request)) == 400
    assert (await client.put(new_path(), b"x", content_type="t/" + "x" * 300)).status == 400
    await assert_nothing_at(client, path)


async def test_metadata_headers_count_in_any_case_and_an_empty_name_is_400(client):
    path = new_path()
    mixed = {"x-OBJECT-meta-Colour": "red", "X-Object-Meta-Size": "L", "X-Objects-Meta-Not": "x"}
    assert (await client.put(path, b"x", extra_headers=mixed)).status == 201
    got = await client.head(path)
    assert got.headers["X-Object-Meta-Colour"] == "red" and got.headers["X-Object-Meta-Size"] == "L"
    metadata = {name.lower() for name in got.headers if name.lower().startswith("x-object")}
    assert metadata == {"x-object-meta-colour", "x-object-meta-size"}
    empty = new_path()
    assert (await client.put(empty, b"x", extra_headers={"X-Object-Meta-": "v"})).status == 400
    await assert_nothing_at(client, empty)


def test_no_request_in_this_module_got_a_500(storage_node):
    statuses = [
        json.loads(line).get("status") for line in storage_node.log_lines() if '"event": "request"' in line
    ]
    assert statuses and 500 not in statuses
    assert not any("traceback" in line for line in storage_node.log_lines())
