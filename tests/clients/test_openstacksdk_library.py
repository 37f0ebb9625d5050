"""openstacksdk's object store proxy, in process: the calls `openstack` makes, without its start-up cost."""

from __future__ import annotations

import uuid

import openstack
import pytest


def test_openstacksdk_round_trip(up_cluster, member):
    connection = openstack.connect(
        auth_url=up_cluster.auth_url,
        username=member.user,
        password=member.password,
        project_name=member.project,
        user_domain_name="Default",
        project_domain_name="Default",
        interface="public",
    )
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    connection.object_store.create_container(name=name)
    connection.object_store.upload_object(container=name, name="hello.txt", data=b"hello sdk")
    assert [obj.name for obj in connection.object_store.objects(name)] == ["hello.txt"]
    metadata = connection.object_store.get_object_metadata("hello.txt", container=name)
    assert metadata.content_length == 9
    assert connection.object_store.download_object("hello.txt", container=name) == b"hello sdk"
    connection.object_store.delete_object("hello.txt", container=name)
    connection.object_store.delete_container(name)
    with pytest.raises(openstack.exceptions.NotFoundException):
        connection.object_store.get_container_metadata(name)
