"""The `swift` command (python-swiftclient) unchanged, with Keystone v3 auth and with v1 auth."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import urllib.parse
import uuid
from pathlib import Path

import pytest
from swiftclient import ClientException

SWIFT = shutil.which("swift", path=str(Path(sys.executable).parent)) or shutil.which("swift") or ""
pytestmark = pytest.mark.skipif(not SWIFT, reason="the swift command (python-swiftclient) is not installed")


def swift(environment: dict[str, str], *args: str, cwd=None) -> str:
    result = subprocess.run(
        [SWIFT, *args], env=os.environ | environment, capture_output=True, text=True, timeout=60, cwd=cwd
    )
    assert result.returncode == 0, f"swift {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result.stdout


def test_swift_with_keystone_v3_auth_round_trips_files(up_cluster, member, member_connection, tmp_path):
    environment = up_cluster.environment(member)
    container = f"cli-{uuid.uuid4().hex[:8]}"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_bytes(b"alpha\n" * 1000)
    (tmp_path / "docs" / "b.bin").write_bytes(os.urandom(300_000))
    (tmp_path / "top.txt").write_bytes(b"top")

    swift(environment, "post", container, "-m", "color:blue")
    swift(environment, "upload", container, "docs", "top.txt", cwd=tmp_path)
    assert swift(environment, "list", container, "--prefix", "docs/").split() == ["docs/a.txt", "docs/b.bin"]
    swift(environment, "copy", container, "top.txt", "--destination", f"/{container}/copied.txt")
    out = tmp_path / "out"
    swift(environment, "download", container, "docs/b.bin", "copied.txt", "-D", str(out))
    assert (out / "docs" / "b.bin").read_bytes() == (tmp_path / "docs" / "b.bin").read_bytes()
    assert (out / "copied.txt").read_bytes() == b"top"
    assert member_connection.head_container(container)["x-container-meta-color"] == "blue"
    swift(environment, "delete", container)
    with pytest.raises(ClientException) as caught:
        member_connection.head_container(container)
    assert caught.value.http_status == 404


def test_swift_with_v1_auth(up_cluster, member, member_connection, tmp_path):
    environment = {
        "ST_AUTH": up_cluster.v1_auth_url,
        "ST_USER": f"{member.project}:{member.user}",
        "ST_KEY": member.password,
    }
    container = f"v1-{uuid.uuid4().hex[:8]}"
    body = os.urandom(50_000)
    (tmp_path / "f.bin").write_bytes(body)
    swift(environment, "upload", container, "f.bin", cwd=tmp_path)
    assert "Account: AUTH_" in swift(environment, "stat")
    swift(environment, "download", container, "f.bin", "-o", str(tmp_path / "back.bin"))
    assert hashlib.md5((tmp_path / "back.bin").read_bytes()).digest() == hashlib.md5(body).digest()
    member_connection.delete_object(container, "f.bin")
    member_connection.delete_container(container)


def test_metadata_outside_ascii_round_trips(up_cluster, member, member_connection, tmp_path):
    """UTF-8 metadata (what python-swiftclient sends) comes back as sent; a value that is not
    UTF-8 (Latin-1, what http.client sends for str headers) is read as Latin-1 and stored."""
    environment = up_cluster.environment(member)
    container = f"uni-{uuid.uuid4().hex[:8]}"
    (tmp_path / "f.txt").write_bytes(b"text")
    swift(environment, "post", container, "-m", "owner:Müller 日本")
    swift(environment, "upload", container, "f.txt", "-H", "X-Object-Meta-Name:Zoë", cwd=tmp_path)
    assert member_connection.head_container(container)["x-container-meta-owner"] == "Müller 日本"
    assert member_connection.head_object(container, "f.txt")["x-object-meta-name"] == "Zoë"

    url, token = member_connection.get_auth()
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request(
        "PUT",
        f"{parts.path}/{container}/latin",
        body=b"x",
        headers={
            "X-Auth-Token": token,
            "X-Object-Meta-Greet": "Hello\xe9",  # http.client sends this as the one byte 0xE9
            "Content-Disposition": 'attachment; filename="r\xe9sum\xe9.pdf"',
        },
    )
    assert connection.getresponse().status == 201
    connection.close()
    headers = member_connection.head_object(container, "latin")
    assert headers["x-object-meta-greet"] == "Helloé"
    assert headers["content-disposition"] == 'attachment; filename="résumé.pdf"'
    for name in ("f.txt", "latin"):
        member_connection.delete_object(container, name)
    member_connection.delete_container(container)
