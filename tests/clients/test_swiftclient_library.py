"""The Swift v1 API through python-swiftclient's library, in process: the bulk of the client tests."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import xml.etree.ElementTree as ElementTree

import pytest
import requests
from swiftclient import ClientException


@pytest.fixture
def container(member_connection):
    name = f"lib-{uuid.uuid4().hex[:8]}"
    member_connection.put_container(name)
    yield name
    _, objects = member_connection.get_container(name, full_listing=True)
    for entry in objects:
        try:
            member_connection.delete_object(name, entry["name"])
        except ClientException as error:
            assert error.http_status == 404  # expired: listed until the container learns of it
    member_connection.delete_container(name)


def status_of(call, *args, **kwargs) -> int:
    with pytest.raises(ClientException) as caught:
        call(*args, **kwargs)
    return caught.value.http_status


def wait_for(condition, *, timeout_s: float = 10.0) -> None:
    """Containers report to their account asynchronously (within a second in `dolmen up`)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the account never caught up"
        time.sleep(0.2)


def test_account_stat_counts_and_metadata(member_connection, container):
    member_connection.put_object(container, "o", b"12345")
    member_connection.post_account({"X-Account-Meta-Team": "storage"})
    headers = member_connection.head_account()
    assert headers["x-account-meta-team"] == "storage"
    assert headers["x-trans-id"] == headers["x-openstack-request-id"]
    wait_for(lambda: container in [row["name"] for row in member_connection.get_account()[1]])
    wait_for(lambda: int(member_connection.head_account()["x-account-object-count"]) >= 1)


def test_put_get_head_with_metadata_and_content_headers(member_connection, container):
    body = os.urandom(200_000)
    etag = member_connection.put_object(
        container,
        "dir/file.bin",
        body,
        headers={
            "X-Object-Meta-Mtime": "1700000000.5",
            "Content-Disposition": 'attachment; filename="f.bin"',
            "Content-Encoding": "identity",
        },
    )
    assert etag == hashlib.md5(body).hexdigest()
    headers, got = member_connection.get_object(container, "dir/file.bin")
    assert got == body
    assert headers["etag"] == etag and headers["content-length"] == str(len(body))
    assert headers["x-object-meta-mtime"] == "1700000000.5"
    assert headers["content-disposition"] == 'attachment; filename="f.bin"'
    assert headers["content-type"] == "application/octet-stream"
    member_connection.post_object(container, "dir/file.bin", {"X-Object-Meta-Color": "red"})
    headers = member_connection.head_object(container, "dir/file.bin")
    assert headers["x-object-meta-color"] == "red" and "x-object-meta-mtime" not in headers


def test_a_wrong_etag_stores_nothing(member_connection, container):
    assert status_of(member_connection.put_object, container, "bad", b"data", etag="0" * 32) == 422
    assert status_of(member_connection.head_object, container, "bad") == 404


def test_ranges_and_conditionals(member_connection, container):
    body = bytes(range(256)) * 40
    etag = member_connection.put_object(container, "r", body)
    headers, part = member_connection.get_object(container, "r", headers={"Range": "bytes=10-19"})
    assert part == body[10:20] and headers["content-range"] == f"bytes 10-19/{len(body)}"
    _, tail = member_connection.get_object(container, "r", headers={"Range": "bytes=-5"})
    assert tail == body[-5:]
    assert (
        status_of(member_connection.get_object, container, "r", headers={"Range": f"bytes={len(body)}-"})
        == 416
    )
    assert status_of(member_connection.get_object, container, "r", headers={"If-None-Match": etag}) == 304
    assert status_of(member_connection.get_object, container, "r", headers={"If-Match": "nope"}) == 412
    headers, _ = member_connection.get_object(container, "r", headers={"If-Match": etag})
    assert headers["etag"] == etag
    assert (
        status_of(member_connection.put_object, container, "r", b"x", headers={"If-None-Match": "*"}) == 412
    )


def test_copies_keep_bytes_and_metadata(member_connection, container):
    member_connection.put_object(container, "src", b"copy me", headers={"X-Object-Meta-Kind": "original"})
    member_connection.copy_object(container, "src", f"/{container}/dst")
    headers, body = member_connection.get_object(container, "dst")
    assert body == b"copy me" and headers["x-object-meta-kind"] == "original"
    member_connection.put_object(
        container, "dst2", b"", headers={"X-Copy-From": f"/{container}/src", "X-Object-Meta-Kind": "copy"}
    )
    headers, body = member_connection.get_object(container, "dst2")
    assert body == b"copy me" and headers["x-object-meta-kind"] == "copy"


def test_listings_with_prefix_delimiter_markers_limit_and_reverse(member_connection, container):
    names = ["a/1", "a/2", "b/1", "c", "d"]
    for name in names:
        member_connection.put_object(container, name, name.encode())

    def listing(**query):
        rows = member_connection.get_container(container, **query)[1]
        return [row.get("name", row.get("subdir")) for row in rows]

    assert listing() == names
    assert listing(prefix="a/") == ["a/1", "a/2"]
    assert listing(delimiter="/") == ["a/", "b/", "c", "d"]
    assert listing(marker="a/2") == ["b/1", "c", "d"]
    assert listing(end_marker="b/1") == ["a/1", "a/2"]
    assert listing(limit=2) == ["a/1", "a/2"]
    assert listing(query_string="reverse=on") == list(reversed(names))
    _, rows = member_connection.get_container(container, prefix="c")
    assert rows[0]["bytes"] == 1 and rows[0]["hash"] == hashlib.md5(b"c").hexdigest()
    assert len(rows[0]["last_modified"]) == 26


def test_listing_formats_as_swift_renders_them(up_cluster, member_connection, container):
    member_connection.put_object(container, "x&y", b"1")
    url, token = member_connection.get_auth()
    plain = requests.get(f"{url}/{container}", headers={"X-Auth-Token": token}, timeout=30)
    assert plain.status_code == 200 and plain.text == "x&y\n"
    assert plain.headers["Content-Type"] == "text/plain; charset=utf-8"
    as_json = requests.get(f"{url}/{container}?format=json", headers={"X-Auth-Token": token}, timeout=30)
    assert as_json.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(as_json.text)[0]["name"] == "x&y"
    as_xml = requests.get(
        f"{url}/{container}", headers={"X-Auth-Token": token, "Accept": "application/xml"}, timeout=30
    )
    assert ElementTree.fromstring(as_xml.content).find("object/name").text == "x&y"
    empty = requests.get(f"{url}/{container}?prefix=zzz", headers={"X-Auth-Token": token}, timeout=30)
    assert empty.status_code == 204 and empty.content == b""
    too_many = requests.get(f"{url}/{container}?limit=10001", headers={"X-Auth-Token": token}, timeout=30)
    assert too_many.status_code == 412


def test_expiring_objects(member_connection, container):
    member_connection.put_object(container, "short", b"x", headers={"X-Delete-After": "2"})
    headers = member_connection.head_object(container, "short")
    assert int(headers["x-delete-at"]) <= time.time() + 3
    assert (
        status_of(member_connection.put_object, container, "past", b"x", headers={"X-Delete-At": "1"}) == 400
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            member_connection.head_object(container, "short")
        except ClientException as error:
            assert error.http_status == 404
            break
        time.sleep(0.5)
    else:
        pytest.fail("an expired object is still served")


def test_containers_metadata_and_deletion_rules(member_connection, container):
    member_connection.post_container(container, {"X-Container-Meta-Color": "green"})
    headers = member_connection.head_container(container)
    assert headers["x-container-meta-color"] == "green" and headers["x-container-object-count"] == "0"
    member_connection.put_object(container, "keep", b"1")
    assert status_of(member_connection.delete_container, container) == 409
    assert status_of(member_connection.head_container, f"{container}-missing") == 404
    assert status_of(member_connection.put_object, f"{container}-missing", "o", b"1") == 404
    assert status_of(member_connection.delete_object, container, "never-was") == 404


def test_swift_limits_are_enforced_as_swift(member_connection, container):
    assert status_of(member_connection.put_object, container, "o" * 1025, b"") == 400
    assert status_of(member_connection.put_container, "c" * 257) == 400
    assert (
        status_of(member_connection.put_object, container, "m", b"", headers={"X-Object-Meta-Big": "v" * 257})
        == 400
    )
