"""Tenant isolation and ACLs through the real proxy: who can see and change whose data."""

from __future__ import annotations

import uuid

import pytest
import requests
from swiftclient import ClientException


@pytest.fixture(scope="module")
def owner_data(member_connection):
    container = f"iso-{uuid.uuid4().hex[:8]}"
    member_connection.put_container(container)
    member_connection.put_object(container, "secret", b"owner's bytes")
    url, _ = member_connection.get_auth()
    return url, container


@pytest.fixture(scope="module")
def stranger(up_cluster, identity):
    connection = up_cluster.connection(identity.user_in_new_project("member"))
    connection.get_auth()  # else its first call authenticates and aims it at its own account
    return connection


def refused(call, *args, **kwargs) -> int:
    with pytest.raises(ClientException) as caught:
        call(*args, **kwargs)
    return caught.value.http_status


def test_another_project_cannot_list_read_write_or_delete(stranger, owner_data):
    url, container = owner_data
    for call, args in [
        (stranger.get_container, (container,)),
        (stranger.head_container, (container,)),
        (stranger.get_object, (container, "secret")),
        (stranger.put_object, (container, "planted", b"x")),
        (stranger.delete_object, (container, "secret")),
        (stranger.delete_container, (container,)),
        (stranger.post_container, (container, {"X-Container-Read": ".r:*"})),
    ]:
        # swiftclient addresses the stranger's own account: aim it at the owner's
        stranger.url = url
        assert refused(call, *args) == 403, call.__name__


def test_a_reader_reads_but_cannot_write(up_cluster, identity, member, member_connection, owner_data):
    _, container = owner_data
    reader = up_cluster.connection(identity.user_in_new_project("reader", project=member.project))
    # A reader of the same project: its own account is the owner's.
    assert reader.get_object(container, "secret")[1] == b"owner's bytes"
    assert refused(reader.put_object, container, "nope", b"x") == 403
    assert refused(reader.delete_object, container, "secret") == 403
    assert refused(reader.put_container, f"{container}-r") == 403


def test_a_public_container_serves_objects_anonymously_and_nothing_else(member_connection):
    container = f"pub-{uuid.uuid4().hex[:8]}"
    member_connection.put_container(container, headers={"X-Container-Read": ".r:*"})
    member_connection.put_object(container, "open", b"for everyone")
    url, _ = member_connection.get_auth()
    assert requests.get(f"{url}/{container}/open", timeout=30).content == b"for everyone"
    assert requests.get(f"{url}/{container}", timeout=30).status_code == 401  # no .rlistings
    assert requests.put(f"{url}/{container}/x", data=b"x", timeout=30).status_code == 401
    assert requests.delete(f"{url}/{container}/open", timeout=30).status_code == 401
    assert requests.head(url, timeout=30).status_code == 401
    member_connection.post_container(container, {"X-Container-Read": ".r:*,.rlistings"})
    listing = requests.get(f"{url}/{container}", timeout=30)
    assert listing.status_code == 200 and listing.text == "open\n"


def test_a_write_acl_lets_another_project_write(up_cluster, identity, member_connection):
    guest_credentials = identity.user_in_new_project("member")
    guest = up_cluster.connection(guest_credentials)
    container = f"acl-{uuid.uuid4().hex[:8]}"
    guest.get_auth()
    guest_project_id = guest.url.rsplit("AUTH_", 1)[1]
    member_connection.put_container(container, headers={"X-Container-Write": f"{guest_project_id}:*"})
    url, _ = member_connection.get_auth()
    guest.url = url
    guest.put_object(container, "from-guest", b"hi")
    assert member_connection.get_object(container, "from-guest")[1] == b"hi"
    assert refused(guest.get_object, container, "from-guest") == 403  # write, not read


def test_bad_and_missing_tokens_are_401(up_cluster, member_connection):
    url, _ = member_connection.get_auth()
    assert requests.head(url, headers={"X-Auth-Token": "gAAAAA-not-a-token"}, timeout=30).status_code == 401
    assert requests.get(url, timeout=30).status_code == 401
    answer = requests.get(
        up_cluster.v1_auth_url, headers={"X-Auth-User": "admin:admin", "X-Auth-Key": "wrong"}, timeout=30
    )
    assert answer.status_code == 401
