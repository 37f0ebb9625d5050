"""The object verbs of a real storage node: round trips, ranges, conditionals, metadata, timestamps."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import time

import pytest
from dolmen.storage_node.http_conditions import http_date
from helpers.storage_node import object_path, timestamp

counter = itertools.count()


def new_path(name: str = "object") -> str:
    return object_path("d1", 7, "AUTH_test", "photos", f"{name}-{next(counter)}")


async def test_put_get_head_delete_round_trip_of_an_inline_and_a_file_body(client):
    for size in (0, 11, 16 * 2**10, 16 * 2**10 + 1, 3 * 2**20 + 17):
        path = new_path(f"size-{size}")
        body = os.urandom(size)
        put = await client.put(
            path, body, content_type="image/jpeg", metadata={"Color": "blue"}, etag="e" * 32
        )
        assert put.status == 201, put
        assert put.headers["ETag"] == f'"{"e" * 32}"'
        got = await client.get(path)
        assert got.status == 200 and got.body == body
        assert got.headers["Content-Type"] == "image/jpeg"
        assert got.headers["X-Object-Meta-Color"] == "blue"
        assert got.headers["Content-Length"] == str(size)
        head = await client.head(path)
        assert head.status == 200 and head.body == b"" and head.headers["Content-Length"] == str(size)
        deleted = await client.delete(path)
        assert deleted.status == 204
        gone = await client.get(path)
        assert gone.status == 404
        assert gone.headers["X-Backend-Timestamp"] == deleted.headers["X-Backend-Timestamp"]


async def test_a_body_without_an_announced_length_is_stored(client):
    path = new_path()
    body = os.urandom(100_000)
    assert (await client.put(path, body, announce_length=False)).status == 201
    assert (await client.get(path)).body == body


async def test_object_names_with_dots_slashes_and_unicode_round_trip(client):
    for name in ("../../etc/passwd", "a//b/./c/", "ünïcødé ☃", "x" * 1024, "é" * 512):
        path = object_path("d1", 3, "AUTH_test", "c", name)
        assert (await client.put(path, name.encode())).status == 201, name
        assert (await client.get(path)).body == name.encode()


async def test_older_writes_conflict_and_newer_win(client):
    path = new_path()
    now = time.time()
    assert (await client.put(path, b"new", timestamp_text=timestamp(now))).status == 201
    older = await client.put(path, b"old", timestamp_text=timestamp(now - 10))
    assert older.status == 409
    assert older.headers["X-Backend-Timestamp"] == timestamp(now)
    older_delete = await client.delete(path, timestamp_text=timestamp(now - 5))
    assert older_delete.status == 409
    assert (await client.get(path)).body == b"new"
    assert (await client.put(path, b"newer", timestamp_text=timestamp(now + 1))).status == 201
    assert (await client.get(path)).body == b"newer"


async def test_the_same_write_again_is_an_idempotent_success_and_other_content_conflicts(client):
    path = new_path()
    when = timestamp()
    for _ in range(2):
        assert (await client.put(path, b"same", timestamp_text=when, etag="1" * 32)).status == 201
    assert (await client.put(path, b"diff", timestamp_text=when, etag="2" * 32)).status == 409
    assert (await client.get(path)).body == b"same"


async def test_ranges_single_multiple_suffix_and_unsatisfiable(client):
    path = new_path()
    body = bytes(range(256)) * 1024  # 256 KiB: several checksum blocks, a file body
    await client.put(path, body, content_type="application/x-test")
    single = await client.get(path, {"Range": "bytes=70000-140000"})
    assert single.status == 206
    assert single.body == body[70000:140001]
    assert single.headers["Content-Range"] == f"bytes 70000-140000/{len(body)}"
    suffix = await client.get(path, {"Range": "bytes=-10"})
    assert suffix.status == 206 and suffix.body == body[-10:]
    multi = await client.get(path, {"Range": "bytes=0-9,200000-200009,-5"})
    assert multi.status == 206
    boundary = re.fullmatch(r"multipart/byteranges;\s*boundary=(\S+)", multi.headers["Content-Type"]).group(1)
    parts = multi.body.split(f"--{boundary}".encode())
    assert parts[-1] == b"--\r\n"
    payloads = [part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for part in parts[1:-1]]
    assert payloads == [body[0:10], body[200000:200010], body[-5:]]
    assert b"Content-Range: bytes 200000-200009/262144" in parts[2]
    assert b"Content-Type: application/x-test" in parts[1]
    unsatisfiable = await client.get(path, {"Range": f"bytes={len(body)}-"})
    assert unsatisfiable.status == 416
    assert unsatisfiable.headers["Content-Range"] == f"bytes */{len(body)}"
    ignored = await client.get(path, {"Range": "bytes=9-3"})
    assert ignored.status == 200 and ignored.body == body
    inline_path = new_path()
    await client.put(inline_path, b"0123456789")
    assert (await client.get(inline_path, {"Range": "bytes=3-5"})).body == b"345"


async def test_conditional_get_head_and_put(client):
    path = new_path()
    etag = "abcdef" * 5 + "01"
    put = await client.put(path, b"body", etag=etag)
    assert put.status == 201
    got = await client.get(path)
    modified = got.headers["Last-Modified"]
    cases = [
        ({"If-Match": f'"{etag}"'}, 200),
        ({"If-Match": '"nope"'}, 412),
        ({"If-None-Match": f'"{etag}"'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-Modified-Since": modified}, 304),
        ({"If-Modified-Since": http_date(int(time.time()) - 3600)}, 200),
        ({"If-Unmodified-Since": http_date(int(time.time()) - 3600)}, 412),
    ]
    for headers, status in cases:
        for method in ("GET", "HEAD"):
            answer = await client.request(method, path, headers=headers)
            assert answer.status == status, (method, headers)
            if status == 304:
                assert answer.headers["ETag"] == f'"{etag}"' and answer.body == b""
    assert (await client.put(path, b"again", extra_headers={"If-None-Match": "*"})).status == 412
    fresh = new_path()
    assert (await client.put(fresh, b"first", extra_headers={"If-None-Match": "*"})).status == 201
    assert (await client.get(new_path(), {"If-Match": "*"})).status == 412


async def test_put_conditions_hold_at_the_commit_not_only_at_the_start(client):
    path = new_path()
    etag = "0123456789abcdef" * 2
    assert (await client.put(path, b"first", etag=etag)).status == 201
    refused = await client.put(path, b"second", extra_headers={"If-Match": '"other"'})
    assert refused.status == 412 and refused.headers["X-Backend-Timestamp"]
    assert (await client.put(new_path(), b"x", extra_headers={"If-Match": f'"{etag}"'})).status == 412
    assert (await client.put(path, b"second", extra_headers={"If-Match": f'"{etag}"'})).status == 201
    assert (await client.get(path)).body == b"second"

    # A conditional PUT whose condition held when it started, while another write lands
    # before its footer: judged again at its commit, it stores nothing.
    fresh = new_path()
    started = timestamp()
    older = timestamp(float(started) - 1)  # the other write's: older, so only the condition refuses ours
    headers = client.sign(
        "PUT",
        fresh,
        client.put_headers(timestamp_text=started, extra_headers={"If-None-Match": "*"}, length=6),
    )
    framed = client.framed(headers, b"racing")
    footer_sent = asyncio.Event()

    async def body():
        yield framed[:-20]
        await footer_sent.wait()
        yield framed[-20:]

    racing = asyncio.create_task(client.put_streamed(fresh, body(), headers))
    await asyncio.sleep(0.3)  # the node has checked the condition and is receiving the body
    assert (await client.put(fresh, b"winner", timestamp_text=older)).status == 201
    footer_sent.set()
    assert (await racing).status == 412
    assert (await client.get(fresh)).body == b"winner"


async def test_post_replaces_metadata_with_a_new_record(client):
    path = new_path()
    await client.put(path, b"body", content_type="text/plain", metadata={"A": "1", "B": "2"})
    posted = await client.post(path, {"X-Object-Meta-C": "3", "Content-Type": "text/csv"})
    assert posted.status == 202
    got = await client.get(path)
    assert got.body == b"body"
    assert got.headers["Content-Type"] == "text/csv"
    assert got.headers["X-Object-Meta-C"] == "3"
    assert "X-Object-Meta-A" not in got.headers
    assert got.headers["X-Backend-Data-Timestamp"] != got.headers["X-Backend-Timestamp"]
    assert (await client.post(new_path(), {"X-Object-Meta-C": "3"})).status == 404
    stale = await client.request("POST", path, headers={"X-Timestamp": timestamp(time.time() - 100)})
    assert stale.status == 409


async def test_expired_objects_read_as_not_found(client):
    path = new_path()
    delete_at = int(time.time()) + 3  # margin for a loaded machine between the PUT and the first GET
    await client.put(path, b"soon gone", extra_headers={"X-Delete-At": str(delete_at)})
    assert (await client.get(path)).status == 200
    await asyncio.sleep(max(0.0, delete_at + 0.2 - time.time()))
    expired = await client.get(path)
    assert expired.status == 404 and "X-Backend-Timestamp" in expired.headers
    past = await client.put(new_path(), b"x", extra_headers={"X-Delete-At": str(int(time.time()) - 5)})
    assert past.status == 400


async def test_metadata_at_the_limits_is_stored_and_over_them_refused(client):
    path = new_path()
    at_limit = {f"k{index:02d}": "v" * 40 for index in range(90)}  # 90 items, 3,960 bytes
    assert (await client.put(path, b"x", metadata=at_limit)).status == 201
    assert (await client.head(path)).headers["X-Object-Meta-K89"] == "v" * 40
    for metadata in (
        {f"k{index}": "v" for index in range(91)},
        {"n" * 129: "v"},
        {"name": "v" * 257},
        {f"k{index:02d}": "v" * 60 for index in range(70)},
    ):
        refused = await client.put(new_path(), b"x", metadata=metadata)
        assert refused.status == 400, list(metadata)[:1]


async def test_footer_metadata_is_answered_as_headers(client):
    path = new_path()
    footer_metadata = {"X-Object-Sysmeta-Checksum-Crc32c": "AAAAAA=="}
    assert (await client.put(path, b"x", footer_metadata=footer_metadata)).status == 201
    assert (await client.head(path)).headers["X-Object-Sysmeta-Checksum-Crc32c"] == "AAAAAA=="


async def test_replicate_answers_suffix_hashes_that_change_with_writes(client):
    before = await client.request("REPLICATE", "/d1/99")
    assert before.status == 200 and json.loads(before.body) == {}
    await client.put(object_path("d1", 99, "AUTH_test", "c", "o"), b"x")
    after = json.loads((await client.request("REPLICATE", "/d1/99")).body)
    assert len(after) == 1 and all(re.fullmatch(r"[0-9a-f]{32}", value) for value in after.values())
    assert (await client.request("REPLICATE", f"/d1/99/{next(iter(after))}")).status == 200


async def test_health_metrics_request_ids_and_one_log_line_per_request(client, storage_node):
    health = await client.request("GET", "/healthcheck", sign=False)
    assert health.status == 200
    path = new_path()
    answer = await client.put(path, b"x", extra_headers={"X-Trans-Id": "tx-test-1234"})
    assert answer.headers["X-Trans-Id"] == "tx-test-1234"
    metrics = (await client.request("GET", "/metrics", sign=False)).body.decode()
    for name in (
        'dolmen_storage_node_requests_total{method="PUT",status="201"}',
        "dolmen_storage_node_request_seconds_bucket",
        "dolmen_storage_node_received_bytes_total",
        "dolmen_storage_node_sent_bytes_total",
        "dolmen_storage_node_lmdb_commit_seconds_bucket",
        "dolmen_storage_node_group_commit_records_bucket",
        "dolmen_storage_node_fsync_seconds_bucket",
        "dolmen_storage_node_quarantines_total",
    ):
        assert name in metrics, name
    lines = [json.loads(line) for line in storage_node.log_lines() if "tx-test-1234" in line]
    assert len(lines) == 1
    assert lines[0]["status"] == 201 and lines[0]["method"] == "PUT" and lines[0]["bytes_in"] > 0
    assert all(
        "signature" not in line.lower() or "SignatureMissing" in line for line in storage_node.log_lines()
    )


@pytest.mark.parametrize("device", ["d2", "nope"])
async def test_a_device_the_node_does_not_serve_answers_507(client, device):
    assert (await client.get(object_path(device, 1, "a", "c", "o"))).status == 507
