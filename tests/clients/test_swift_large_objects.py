"""Swift large objects (SLO, DLO) and bulk delete through the real proxy, with `swift` and plain HTTP."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
import requests
from swiftclient import ClientException

SWIFT = shutil.which("swift", path=str(Path(sys.executable).parent)) or shutil.which("swift") or ""
MIB = 2**20


def swift(environment: dict[str, str], *args: str, cwd=None) -> str:
    result = subprocess.run(
        [SWIFT, *args], env=os.environ | environment, capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert result.returncode == 0, f"swift {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result.stdout


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def container(member_connection):
    name = f"lo-{uuid.uuid4().hex[:8]}"
    member_connection.put_container(name)
    return name


def put_segments(connection, container: str, parts: list[bytes]) -> list[dict]:
    entries = []
    for index, part in enumerate(parts):
        connection.put_object(container, f"seg/{index:03d}", part)
        entries.append({"path": f"/{container}/seg/{index:03d}", "etag": md5(part), "size_bytes": len(part)})
    return entries


def put_manifest(connection, container: str, name: str, entries: list[dict], **kwargs) -> dict:
    response: dict = {}
    connection.put_object(
        container,
        name,
        json.dumps(entries),
        query_string="multipart-manifest=put",
        response_dict=response,
        **kwargs,
    )
    return response


@pytest.mark.skipif(not SWIFT, reason="the swift command (python-swiftclient) is not installed")
@pytest.mark.parametrize("use_slo", [True, False], ids=["slo", "dlo"])
def test_swift_upload_in_segments_downloads_bit_identical_and_deletes_its_segments(
    up_cluster, member, member_connection, tmp_path, use_slo
):
    environment = up_cluster.environment(member)
    container = f"seg-{uuid.uuid4().hex[:8]}"
    data = os.urandom(2 * MIB + 12_345)
    (tmp_path / "big.bin").write_bytes(data)
    slo = ["--use-slo"] if use_slo else ["--use-dlo"]
    swift(environment, "upload", container, "big.bin", "--segment-size", str(MIB), *slo, cwd=tmp_path)

    headers = member_connection.head_object(container, "big.bin")
    assert int(headers["content-length"]) == len(data)
    if use_slo:
        assert headers["x-static-large-object"] == "True"
    else:
        assert headers["x-object-manifest"].startswith(f"{container}_segments/big.bin/")
    stat = swift(environment, "stat", container, "big.bin")
    assert f"Content Length: {len(data)}" in stat and "Manifest" in stat
    swift(environment, "download", container, "big.bin", "-o", str(tmp_path / "back.bin"))
    assert md5((tmp_path / "back.bin").read_bytes()) == md5(data)
    _, ranged = member_connection.get_object(
        container, "big.bin", headers={"Range": f"bytes={MIB - 5}-{MIB + 4}"}
    )
    assert ranged == data[MIB - 5 : MIB + 5]
    assert len(member_connection.get_container(f"{container}_segments")[1]) == 3

    swift(environment, "delete", container, "big.bin")
    assert member_connection.get_container(f"{container}_segments")[1] == []
    with pytest.raises(ClientException) as caught:
        member_connection.head_object(container, "big.bin")
    assert caught.value.http_status == 404


def test_slo_get_head_ranges_conditionals_and_the_manifest_views(member_connection, container):
    parts = [os.urandom(1000), os.urandom(2000), os.urandom(500)]
    entries = put_segments(member_connection, container, parts)
    entries[2] = {"path": entries[2]["path"], "range": "100-199"}  # etag and size_bytes are optional
    response = put_manifest(member_connection, container, "slo", entries)
    whole = parts[0] + parts[1] + parts[2][100:200]
    slo_etag = md5((md5(parts[0]) + md5(parts[1]) + md5(parts[2]) + ":100-199;").encode())
    assert response["status"] == 201 and response["headers"]["etag"] == f'"{slo_etag}"'

    headers, body = member_connection.get_object(container, "slo")
    assert body == whole and headers["etag"] == f'"{slo_etag}"'
    assert int(headers["content-length"]) == len(whole) and headers["x-static-large-object"] == "True"
    listed = {entry["name"]: entry for entry in member_connection.get_container(container)[1]}
    assert (listed["slo"]["bytes"], listed["slo"]["hash"]) == (len(whole), slo_etag)  # the whole object
    headers, body = member_connection.get_object(container, "slo", headers={"Range": "bytes=990-1009"})
    assert body == whole[990:1010] and headers["content-range"] == f"bytes 990-1009/{len(whole)}"
    with pytest.raises(ClientException) as caught:
        member_connection.get_object(container, "slo", headers={"If-None-Match": f'"{slo_etag}"'})
    assert caught.value.http_status == 304
    _, body = member_connection.get_object(container, "slo", headers={"If-Match": f'"{slo_etag}"'})
    assert body == whole

    headers, manifest = member_connection.get_object(container, "slo", query_string="multipart-manifest=get")
    stored = json.loads(manifest)
    assert headers["content-type"].startswith("application/json")
    assert [entry["name"] for entry in stored] == [f"/{container}/seg/{index:03d}" for index in range(3)]
    assert stored[2]["range"] == "100-199" and stored[2]["bytes"] == 100
    _, raw = member_connection.get_object(container, "slo", query_string="multipart-manifest=get&format=raw")
    assert put_manifest(member_connection, container, "again", json.loads(raw))["status"] == 201
    assert member_connection.get_object(container, "again")[1] == whole

    # Nested: a manifest of the manifest, then COPY of it (the copy is a manifest too).
    outer = [{"path": f"/{container}/slo"}, {"path": entries[0]["path"]}]
    assert put_manifest(member_connection, container, "outer", outer)["status"] == 201
    assert member_connection.get_object(container, "outer")[1] == whole + parts[0]
    member_connection.post_object(container, "outer", {"X-Object-Meta-Color": "blue"})  # stays an SLO
    headers, body = member_connection.get_object(container, "outer")
    assert body == whole + parts[0] and headers["x-object-meta-color"] == "blue"
    member_connection.copy_object(container, "outer", f"/{container}/outer-copy")
    headers, body = member_connection.get_object(container, "outer-copy")
    assert body == whole + parts[0] and headers["x-static-large-object"] == "True"


def test_slo_refusals_name_each_bad_segment(member_connection, container):
    parts = [os.urandom(100), os.urandom(100)]
    entries = put_segments(member_connection, container, parts)
    bad = [
        entries[0] | {"etag": "0" * 32},
        entries[1] | {"size_bytes": 99},
        {"path": f"/{container}/missing"},
    ]
    response: dict = {}
    with pytest.raises(ClientException) as caught:
        member_connection.put_object(
            container, "m", json.dumps(bad), query_string="multipart-manifest=put", response_dict=response
        )
    assert caught.value.http_status == 400
    body = caught.value.http_response_content.decode()
    assert f"/{container}/seg/000, Etag Mismatch" in body
    assert f"/{container}/seg/001, Size Mismatch" in body
    assert f"/{container}/missing, 404 Not Found" in body

    for manifest, status, words in [
        ([{"path": f"/{container}/m"}], 400, "manifest must not include itself"),
        ([{"path": "no-object"}], 400, "Index 0: path does not refer to an object"),
        ([entries[0] | {"range": "5-1"}], 400, "Index 0: invalid range"),
        ([{"path": entries[0]["path"], "bogus": 1}], 400, 'extraneous keys "bogus"'),
        ([{"path": entries[0]["path"]}] * 1001, 413, "must be <= 1000"),
    ]:
        with pytest.raises(ClientException) as caught:
            member_connection.put_object(
                container, "m", json.dumps(manifest), query_string="multipart-manifest=put"
            )
        assert caught.value.http_status == status
        assert words in caught.value.http_response_content.decode()
    with pytest.raises(ClientException) as caught:
        member_connection.put_object(
            container, "m", "[]" + " " * (8 * MIB), query_string="multipart-manifest=put"
        )
    assert caught.value.http_status == 413


def test_a_segment_changed_or_a_loop_fails_the_read_with_409(member_connection, container):
    parts = [os.urandom(100), os.urandom(100)]
    entries = put_segments(member_connection, container, parts)
    put_manifest(member_connection, container, "inner", entries)
    put_manifest(member_connection, container, "outer", [{"path": f"/{container}/inner"}])
    # Make "inner" name "outer": a loop, which the nested ETag check breaks at the first repeat.
    put_manifest(member_connection, container, "inner", [{"path": f"/{container}/outer"}])
    with pytest.raises(ClientException) as caught:
        member_connection.get_object(container, "outer")
    assert caught.value.http_status == 409
    member_connection.put_object(container, "seg/000", b"changed")
    put_manifest(member_connection, container, "plain", [entries[1]])
    member_connection.put_object(container, "seg/001", b"changed too")
    with pytest.raises(ClientException) as caught:
        member_connection.get_object(container, "plain")
    assert caught.value.http_status == 409


def test_slo_delete_removes_segments_then_the_manifest(member_connection, container):
    entries = put_segments(member_connection, container, [b"a" * 10, b"b" * 10])
    put_manifest(member_connection, container, "slo", entries)
    url, token = member_connection.get_auth()
    answer = requests.delete(
        f"{url}/{container}/slo?multipart-manifest=delete",
        headers={"X-Auth-Token": token, "Accept": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200
    summary = answer.json()
    assert (summary["Number Deleted"], summary["Response Status"], summary["Errors"]) == (3, "200 OK", [])
    assert member_connection.get_container(container)[1] == []


def test_dlo_assembles_its_listing_and_multipart_manifest_get_returns_the_manifest(
    member_connection, container
):
    parts = [os.urandom(300), os.urandom(5), os.urandom(700)]
    for index, part in enumerate(parts):
        member_connection.put_object(container, f"parts/{index}", part)
    member_connection.put_object(container, "dlo", b"", headers={"X-Object-Manifest": f"{container}/parts/"})
    headers, body = member_connection.get_object(container, "dlo")
    assert body == b"".join(parts)
    assert headers["etag"] == '"' + md5("".join(md5(part) for part in parts).encode()) + '"'
    _, ranged = member_connection.get_object(container, "dlo", headers={"Range": "bytes=298-306"})
    assert ranged == b"".join(parts)[298:307]
    headers = member_connection.head_object(container, "dlo")
    assert int(headers["content-length"]) == 1005 and headers["x-object-manifest"] == f"{container}/parts/", (
        headers
    )
    headers, body = member_connection.get_object(container, "dlo", query_string="multipart-manifest=get")
    assert body == b"" and headers["x-object-manifest"] == f"{container}/parts/"
    with pytest.raises(ClientException) as caught:
        member_connection.put_object(container, "bad", b"", headers={"X-Object-Manifest": "no-slash"})
    assert caught.value.http_status == 400


def tar_of(files: dict[str, bytes], compression: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as archive:
        directory = tarfile.TarInfo("a-directory")
        directory.type = tarfile.DIRTYPE
        archive.addfile(directory)
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def test_extract_archive_then_bulk_delete_a_thousand_objects_over_plain_http(member_connection, container):
    url, token = member_connection.get_auth()
    auth = {"X-Auth-Token": token}
    # At the account: the first path component names the container, created on the way.
    fresh = f"ex-{uuid.uuid4().hex[:8]}"
    names = [f"obj {index:04d}" for index in range(1000)]
    archive = tar_of(
        {f"{fresh}/{name}": name.encode() for name in names} | {"top-level.txt": b"skipped"}, "gz"
    )
    answer = requests.put(
        f"{url}?extract-archive=tar.gz",
        data=archive,
        headers=auth | {"Accept": "application/json"},
        timeout=300,
    )
    assert answer.status_code == 200
    summary = answer.json()
    assert (summary["Number Files Created"], summary["Response Status"], summary["Errors"]) == (
        1000,
        "201 Created",
        [],
    )
    listed = member_connection.get_container(fresh, full_listing=True)[1]
    assert [row["name"] for row in listed] == names
    assert member_connection.get_object(fresh, "obj 0007")[1] == b"obj 0007"

    lines = [requests.utils.quote(f"/{fresh}/{name}") for name in names] + [f"/{fresh}/not-there"]
    answer = requests.post(
        f"{url}?bulk-delete",
        data="\n".join(lines),
        headers=auth | {"Content-Type": "text/plain", "Accept": "application/json"},
        timeout=120,
    )
    assert answer.status_code == 200
    summary = answer.json()
    assert summary["Number Deleted"] == 1000 and summary["Number Not Found"] == 1
    assert summary["Response Status"] == "200 OK" and summary["Errors"] == []
    assert member_connection.get_container(fresh)[1] == []
    # The container itself, and a name Swift refuses, in the plain-text format.
    answer = requests.post(
        f"{url}?bulk-delete", data=f"/{fresh}\n/.dolmen+uploads+x/y", headers=auth, timeout=30
    )
    assert answer.status_code == 200 and "Response Status: 400 Bad Request" in answer.text
    assert "Number Deleted: 1" in answer.text
    # Names that are not UTF-8, raw or escaped, are refused as Swift refuses them, shown escaped.
    answer = requests.post(f"{url}?bulk-delete", data=b"/c/caf\xe9\n/c/%ff", headers=auth, timeout=30)
    assert answer.status_code == 200
    assert (
        "/c/caf%E9, 412 Precondition Failed" in answer.text
        and "/c/%FF, 412 Precondition Failed" in answer.text
    )

    # Into a container with a prefix, bzip2; a bad archive and an unknown format are refused.
    archive = tar_of({"x/one.txt": b"1", "two.txt": b"22"}, "bz2")
    answer = requests.put(
        f"{url}/{container}/pre?extract-archive=tar.bz2", data=archive, headers=auth, timeout=30
    )
    assert "Number Files Created: 2" in answer.text and "Response Status: 201 Created" in answer.text
    assert member_connection.get_object(container, "pre/x/one.txt")[1] == b"1"
    answer = requests.put(
        f"{url}/{container}?extract-archive=tar", data=b"not a tar" * 100, headers=auth, timeout=30
    )
    assert answer.status_code == 200 and "Response Status: 400 Bad Request" in answer.text
    assert "Invalid Tar File" in answer.text
    answer = requests.put(f"{url}/{container}?extract-archive=zip", data=b"", headers=auth, timeout=30)
    assert answer.status_code == 400

    # A member whose name is not UTF-8 (an old tar's Latin-1) is refused alone (412), as Swift does.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as archive:
        for name in ("caf\xe9.txt", "fine.txt"):
            member = tarfile.TarInfo(name)
            member.size = 4
            archive.addfile(member, io.BytesIO(b"data"))
    answer = requests.put(
        f"{url}/{container}?extract-archive=tar",
        data=buffer.getvalue(),
        headers=auth | {"Accept": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200
    summary = answer.json()
    assert summary["Number Files Created"] == 1 and [error[1] for error in summary["Errors"]] == [
        "412 Precondition Failed"
    ]


def test_info_lists_the_large_object_and_bulk_features(up_cluster):
    info = requests.get(f"{up_cluster.proxy_url}/info", timeout=10).json()
    assert info["slo"]["max_manifest_segments"] == 1000
    assert info["slo"]["max_manifest_size"] == 8 * MIB
    assert info["bulk_delete"]["max_deletes_per_request"] == 10_000
    assert info["dlo"]["max_segments"] == 10_000 and "bulk_upload" in info
    assert info["symlink"] == {"symloop_max": 2, "static_links": True}


def test_symlinks_over_plain_http(member_connection, container):
    url, token = member_connection.get_auth()
    auth = {"X-Auth-Token": token}
    base = f"{url}/{container}"
    assert requests.put(f"{base}/target", data=b"hello", headers=auth, timeout=10).status_code == 201

    def link(name: str, target: str, **headers: str) -> requests.Response:
        return requests.put(
            f"{base}/{name}", data=b"", headers=auth | {"X-Symlink-Target": target} | headers, timeout=10
        )

    assert link("link", f"{container}/target").status_code == 201
    followed = requests.get(f"{base}/link", headers=auth, timeout=10)
    assert followed.content == b"hello" and followed.headers["Content-Location"].endswith(
        f"/{container}/target"
    )
    itself = requests.get(f"{base}/link?symlink=get", headers=auth, timeout=10)
    assert itself.content == b"" and itself.headers["X-Symlink-Target"] == f"{container}/target"
    assert itself.headers["Content-Type"] == "application/symlink"
    assert requests.head(f"{base}/link", headers=auth, timeout=10).headers["Content-Length"] == "5"

    assert link("hop2", f"{container}/link").status_code == 201
    assert requests.get(f"{base}/hop2", headers=auth, timeout=10).content == b"hello"  # two links: allowed
    assert link("hop3", f"{container}/hop2").status_code == 201
    assert requests.get(f"{base}/hop3", headers=auth, timeout=10).status_code == 409  # symloop_max is 2
    assert link("dangling", f"{container}/nothing").status_code == 201
    assert requests.get(f"{base}/dangling", headers=auth, timeout=10).status_code == 404

    etag = md5(b"hello")
    assert link("static", f"{container}/target", **{"X-Symlink-Target-Etag": etag}).status_code == 201
    assert requests.get(f"{base}/static", headers=auth, timeout=10).content == b"hello"
    requests.post(f"{base}/static?symlink=get", headers=auth | {"X-Object-Meta-A": "b"}, timeout=10)
    assert requests.get(f"{base}/static", headers=auth, timeout=10).content == b"hello"  # still a link
    assert link("wrong", f"{container}/target", **{"X-Symlink-Target-Etag": "0" * 32}).status_code == 409
    assert link("gone", f"{container}/nothing", **{"X-Symlink-Target-Etag": etag}).status_code == 409
    requests.put(f"{base}/target", data=b"changed", headers=auth, timeout=10)
    assert requests.get(f"{base}/static", headers=auth, timeout=10).status_code == 409
    assert requests.get(f"{base}/link", headers=auth, timeout=10).content == b"changed"

    bad_body = requests.put(
        f"{base}/bad", data=b"x", headers=auth | {"X-Symlink-Target": f"{container}/target"}, timeout=10
    )
    assert bad_body.status_code == 400
    assert link("bad", "no-object").status_code == 412
