"""Swift's middleware features through the real proxy: TempURL, CORS and quotas.

`swift tempurl` signs, a plain HTTP client fetches; quotas refuse the write that
would pass them, whether its length is announced or not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from swiftclient import ClientException
from swiftclient.utils import generate_temp_url

SWIFT = shutil.which("swift", path=str(Path(sys.executable).parent)) or shutil.which("swift") or ""
KEY = "tempurl-secret-" + uuid.uuid4().hex


def swift(environment: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [SWIFT, *args], env=os.environ | environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"swift {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result.stdout.strip()


@pytest.fixture(scope="module")
def stored(member_connection):
    """A private container with one object, and the account's TempURL key."""
    container = f"mw-{uuid.uuid4().hex[:8]}"
    member_connection.post_account({"X-Account-Meta-Temp-URL-Key": KEY})
    member_connection.put_container(container)
    member_connection.put_object(
        container,
        "report é.txt",
        b"the report",
        headers={"X-Object-Meta-Secret": "s", "X-Object-Meta-Public-Tag": "t"},
    )
    url, _ = member_connection.get_auth()
    return url, container


@pytest.mark.skipif(not SWIFT, reason="the swift command (python-swiftclient) is not installed")
def test_swift_tempurl_urls_work_with_a_plain_http_client(up_cluster, stored):
    url, container = stored
    path = f"{url.removeprefix(up_cluster.proxy_url)}/{container}/report é.txt"
    signed = swift({}, "tempurl", "--digest", "sha512", "GET", "60", path, KEY)
    answer = requests.get(up_cluster.proxy_url + signed, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.content == b"the report"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="report')
    assert "X-Object-Meta-Secret" not in answer.headers and answer.headers["X-Object-Meta-Public-Tag"] == "t"
    signed = swift({}, "tempurl", "--digest", "sha1", "--iso8601", "HEAD", "60", path, KEY)
    assert requests.head(up_cluster.proxy_url + signed, timeout=10).status_code == 200

    upload = swift({}, "tempurl", "PUT", "60", f"{path.rsplit('/', 1)[0]}/uploaded", KEY)  # SHA-256
    assert requests.put(up_cluster.proxy_url + upload, data=b"via tempurl", timeout=10).status_code == 201
    assert requests.get(up_cluster.proxy_url + upload, timeout=10).status_code == 401  # signed for PUT only


def test_expired_tampered_and_foreign_tempurls_are_refused(up_cluster, identity, stored):
    url, container = stored
    path = f"{url.removeprefix(up_cluster.proxy_url)}/{container}/report é.txt"
    expired = generate_temp_url(path, int(time.time()) - 10, KEY, "GET", absolute=True)
    tampered = generate_temp_url(path, 60, KEY, "GET").replace("report", "rep0rt")
    wrong_key = generate_temp_url(path, 60, "not-the-key", "GET")
    # Another project signs with its own account's key a URL of our object.
    stranger = up_cluster.connection(identity.user_in_new_project("member"))
    stranger.post_account({"X-Account-Meta-Temp-URL-Key": "stranger-key"})
    foreign = generate_temp_url(path, 60, "stranger-key", "GET")
    for signed in (expired, tampered, wrong_key, foreign):
        answer = requests.get(up_cluster.proxy_url + signed, timeout=10)
        assert answer.status_code == 401, signed
        assert answer.text == "401 Unauthorized: Temp URL invalid\n"
    assert (
        requests.get(up_cluster.proxy_url + generate_temp_url(path, 60, KEY, "GET"), timeout=10).status_code
        == 200
    )


def test_cors_preflight_and_actual_requests(up_cluster, member_connection, stored):
    url, container = stored
    member_connection.post_container(
        container,
        {
            "X-Container-Meta-Access-Control-Allow-Origin": "https://app.example",
            "X-Container-Meta-Access-Control-Max-Age": "300",
            "X-Container-Meta-Access-Control-Expose-Headers": "X-Object-Meta-Public-Tag",
        },
    )
    object_url = f"{url}/{container}/report%20%C3%A9.txt"
    allowed = requests.options(
        object_url,
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "X-Auth-Token"},
        timeout=10,
    )  # fmt: skip
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert allowed.headers["Access-Control-Max-Age"] == "300"
    assert "GET" in allowed.headers["Access-Control-Allow-Methods"]
    assert allowed.headers["Access-Control-Allow-Headers"].lower() == "x-auth-token"
    refused = requests.options(
        object_url,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert refused.status_code == 401 and "Access-Control-Allow-Origin" not in refused.headers

    _, token = member_connection.get_auth()
    actual = requests.get(
        object_url, headers={"X-Auth-Token": token, "Origin": "https://app.example"}, timeout=10
    )
    assert actual.status_code == 200
    assert actual.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "x-object-meta-public-tag" in actual.headers["Access-Control-Expose-Headers"]
    other = requests.get(
        object_url, headers={"X-Auth-Token": token, "Origin": "https://evil.example"}, timeout=10
    )
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers


def refused_status(call, *args, **kwargs) -> tuple[int, bytes]:
    with pytest.raises(ClientException) as caught:
        call(*args, **kwargs)
    return caught.value.http_status, caught.value.http_response_content


def test_container_quotas_refuse_the_write_that_would_exceed_them(member_connection):
    container = f"quota-{uuid.uuid4().hex[:8]}"
    member_connection.put_container(
        container, {"X-Container-Meta-Quota-Bytes": "100", "X-Container-Meta-Quota-Count": "3"}
    )
    assert (
        refused_status(member_connection.post_container, container, {"X-Container-Meta-Quota-Bytes": "lots"})[
            0
        ]
        == 400
    )
    member_connection.put_object(container, "a", b"x" * 60)
    assert refused_status(member_connection.put_object, container, "b", b"x" * 41) == (
        413,
        b"Upload exceeds quota.",
    )
    # A chunked upload has no announced length: the running count stops it.
    chunked = iter([b"x" * 20, b"x" * 30])
    assert refused_status(member_connection.put_object, container, "c", chunked, chunk_size=20)[0] == 413
    assert refused_status(member_connection.copy_object, container, "a", f"/{container}/a2")[0] == 413
    member_connection.put_object(container, "b", b"x" * 40)
    member_connection.put_object(container, "c", b"")
    assert refused_status(member_connection.put_object, container, "d", b"")[0] == 413  # the count quota
    names = [row["name"] for row in member_connection.get_container(container)[1]]
    assert names == ["a", "b", "c"]


def test_only_an_admin_sets_the_account_quota_and_it_refuses_writes(up_cluster, identity):
    owner = up_cluster.connection(identity.user_in_new_project("member"))
    owner_url, _ = owner.get_auth()
    assert refused_status(owner.post_account, {"X-Account-Meta-Quota-Bytes": "1000"})[0] == 403
    owner.put_container("c")
    admin = up_cluster.connection(up_cluster.admin)
    admin.get_auth()
    admin.url = owner_url
    admin.post_account({"X-Account-Meta-Quota-Bytes": "100"})
    assert owner.head_account()["x-account-meta-quota-bytes"] == "100"
    assert refused_status(owner.put_object, "c", "more", b"x" * 101) == (413, b"Upload exceeds quota.")
    owner.put_object("c", "fits", b"x" * 100)
    assert refused_status(owner.post_account, {"X-Remove-Account-Meta-Quota-Bytes": "x"})[0] == 403


def test_static_web_serves_a_public_container_over_plain_http(member_connection):
    container = f"site-{uuid.uuid4().hex[:8]}"
    member_connection.put_container(
        container,
        {
            "X-Container-Read": ".r:*,.rlistings",
            "X-Container-Meta-Web-Index": "index.html",
            "X-Container-Meta-Web-Listings": "true",
            "X-Container-Meta-Web-Error": "error.html",
        },
    )
    for name, body in [
        ("index.html", b"<h1>home</h1>"),
        ("404error.html", b"<h1>lost</h1>"),
        ("docs/guide.txt", b"guide"),
        ("blog/index.html", b"<h1>blog</h1>"),
    ]:
        member_connection.put_object(container, name, body, content_type="text/html")
    member_connection.put_object(container, "empty", b"", content_type="application/directory")
    url, token = member_connection.get_auth()
    site = f"{url}/{container}"

    def get(path: str, **headers: str) -> requests.Response:
        return requests.get(site + path, headers=headers, allow_redirects=False, timeout=10)

    assert get("").status_code == 301 and get("").headers["Location"].endswith(f"/{container}/")
    assert get("/").content == b"<h1>home</h1>"
    assert get("/blog").status_code == 301
    assert get("/blog/").content == b"<h1>blog</h1>"
    listing = get("/docs/")
    assert listing.status_code == 200 and listing.headers["Content-Type"].startswith("text/html")
    assert 'href="guide.txt"' in listing.text and "Listing of" in listing.text
    assert get("/docs").status_code == 301
    missing = get("/nothing/here")
    assert missing.status_code == 404 and missing.content == b"<h1>lost</h1>"
    assert get("/empty").status_code == 404  # a directory marker is no page
    # With a token, the ordinary API answers, unless the request asks for web mode.
    assert get("/", **{"X-Auth-Token": token}).headers["Content-Type"].startswith("text/plain")
    assert get("/", **{"X-Auth-Token": token, "X-Web-Mode": "true"}).content == b"<h1>home</h1>"
    # A private container is no web site.
    member_connection.post_container(container, {"X-Container-Read": ""})
    assert get("/").status_code == 401


@pytest.mark.skipif(not SWIFT, reason="the swift command (python-swiftclient) is not installed")
def test_object_versioning_through_the_swift_cli_and_http(up_cluster, member, member_connection, tmp_path):
    environment = up_cluster.environment(member)
    container = f"vers-{uuid.uuid4().hex[:8]}"
    swift(environment, "post", container, "-H", "X-Versions-Enabled: true")
    (tmp_path / "doc.txt").write_bytes(b"first")
    swift(environment, "upload", container, str(tmp_path / "doc.txt"), "--object-name", "doc.txt")
    for body in (b"second", b"third"):
        member_connection.put_object(container, "doc.txt", body)
    listing = swift(environment, "list", container, "--versions", "--long")
    version_ids = [line.split()[3] for line in listing.splitlines() if line.endswith("doc.txt")]
    assert len(version_ids) == 3, listing
    oldest = sorted(version_ids)[0]
    swift(
        environment, "download", container, "doc.txt", "--version-id", oldest, "-o", str(tmp_path / "old.txt")
    )
    assert (tmp_path / "old.txt").read_bytes() == b"first"

    url, token = member_connection.get_auth()
    auth = {"X-Auth-Token": token}
    head = requests.head(f"{url}/{container}/doc.txt", headers=auth, timeout=10)
    assert head.headers["X-Object-Version-Id"] == max(version_ids)
    deleted = requests.delete(f"{url}/{container}/doc.txt", headers=auth, timeout=10)
    assert deleted.status_code == 204 and deleted.headers["X-Object-Version-Id"] > max(version_ids)
    assert requests.get(f"{url}/{container}/doc.txt", headers=auth, timeout=10).status_code == 404
    rows = requests.get(f"{url}/{container}?versions&format=json", headers=auth, timeout=10).json()
    assert [row["is_latest"] for row in rows] == [True, False, False, False]
    assert rows[0]["content_type"] == "application/x-deleted;swift_versions_deleted=1"
    middle = sorted(version_ids)[1]
    assert (
        requests.get(f"{url}/{container}/doc.txt?version-id={middle}", headers=auth, timeout=10).content
        == b"second"
    )
    assert (
        requests.delete(
            f"{url}/{container}/doc.txt?version-id={middle}", headers=auth, timeout=10
        ).status_code
        == 204
    )
    assert (
        requests.get(f"{url}/{container}/doc.txt?version-id={middle}", headers=auth, timeout=10).status_code
        == 404
    )
    # The hidden container counts in the account but never shows, and the container keeps its versions.
    assert not any(row["name"].startswith(".dolmen+") for row in member_connection.get_account()[1])
    assert requests.delete(f"{url}/{container}", headers=auth, timeout=10).status_code == 409


def test_legacy_versions_and_history_locations(member_connection):
    container, archive = f"legacy-{uuid.uuid4().hex[:8]}", f"archive-{uuid.uuid4().hex[:8]}"
    member_connection.put_container(archive)
    member_connection.put_container(container, {"X-Versions-Location": archive})
    assert member_connection.head_container(container)["x-versions-location"] == archive
    for body in (b"v1", b"v2", b"v3"):
        member_connection.put_object(container, "page", body)
    archived = [row["name"] for row in member_connection.get_container(archive)[1]]
    assert len(archived) == 2 and all(name.startswith("004page/") for name in archived)
    assert member_connection.get_object(archive, archived[0])[1] == b"v1"
    member_connection.delete_object(container, "page")  # stack mode: v2 comes back
    assert member_connection.get_object(container, "page")[1] == b"v2"
    assert len(member_connection.get_container(archive)[1]) == 1

    member_connection.post_container(container, {"X-History-Location": archive})
    member_connection.delete_object(container, "page")  # history mode: archived, then a delete marker
    assert refused_status(member_connection.get_object, container, "page")[0] == 404
    rows = member_connection.get_container(archive)[1]
    assert [row["content_type"] for row in rows][-1] == "application/x-deleted;swift_versions_deleted=1"
    assert member_connection.get_object(archive, rows[-2]["name"])[1] == b"v2"
    assert (
        refused_status(member_connection.post_container, container, {"X-Versions-Enabled": "true"})[0] == 400
    )
    member_connection.post_container(container, {"X-Versions-Location": f"gone-{uuid.uuid4().hex[:8]}"})
    member_connection.put_object(container, "page", b"v4")  # nothing to archive yet
    assert refused_status(member_connection.put_object, container, "page", b"v5")[0] == 412
    assert member_connection.get_object(container, "page")[1] == b"v4"


def test_info_lists_each_feature(up_cluster):
    info = requests.get(up_cluster.proxy_url + "/info", timeout=10).json()
    for feature in (
        "cors",
        "container_quotas",
        "account_quotas",
        "staticweb",
        "versioned_writes",
        "object_versioning",
    ):
        assert feature in info
    assert info["tempurl"]["methods"] == ["GET", "HEAD", "PUT", "POST", "DELETE"]
    assert info["tempurl"]["allowed_digests"] == ["sha1", "sha256", "sha512"]
