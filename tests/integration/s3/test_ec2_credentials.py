"""EC2 credentials made through identity's Keystone API are what the S3 listener reads from the store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import boto3
import botocore.config
import pytest
from aiohttp import web
from dolmen.identity import Ec2CredentialReader
from dolmen.proxy.s3.app import open_s3_app
from dolmen.proxy.s3.config import S3Config
from helpers.identity import ADMIN_PASSWORD, IdentityProcess
from helpers.s3 import authoriser_for
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3


@pytest.fixture(scope="module")
def identity(dev_cluster, tmp_path_factory) -> Iterator[IdentityProcess]:
    process = IdentityProcess(tmp_path_factory.mktemp("identity"), dev_cluster.client_config())
    process.bootstrap()
    process.start()
    yield process
    process.stop()


def admin_session(identity: IdentityProcess) -> ks_session.Session:
    """A keystoneauth session of identity's bootstrapped admin."""
    auth = v3.Password(
        auth_url=identity.auth_url, username="admin", password=ADMIN_PASSWORD, project_name="admin",
        user_domain_name="Default", project_domain_name="Default",
    )  # fmt: skip
    return ks_session.Session(auth=auth)


async def test_a_credential_created_in_identity_is_found_with_its_secret_user_and_project(
    identity, cluster_client
):
    admin = identity.admin
    session = admin_session(identity)
    answer = session.post(
        f"{identity.url}/v3/users/{admin['user_id']}/credentials/OS-EC2",
        json={"tenant_id": admin["project_id"]},
    )
    created = answer.json()["credential"]
    reader = await Ec2CredentialReader.open(cluster_client)
    found = await reader.find(created["access"])
    assert found is not None
    assert (found.secret, found.user_id, found.project_id) == (
        created["secret"],
        admin["user_id"],
        admin["project_id"],
    )
    assert await reader.find("no-such-access-key") is None


async def test_boto3_signs_with_an_identity_credential_and_reaches_its_project(identity, cluster_client):
    admin = identity.admin
    created = (
        admin_session(identity)
        .post(
            f"{identity.url}/v3/users/{admin['user_id']}/credentials/OS-EC2",
            json={"tenant_id": admin["project_id"]},
        )
        .json()["credential"]
    )
    app = await open_s3_app(S3Config(bind_port=0), cluster_client, authoriser_for(cluster_client))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:

        def scenario() -> None:
            client = boto3.client(
                "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                aws_access_key_id=created["access"], aws_secret_access_key=created["secret"],
                config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            )  # fmt: skip
            bucket = f"ec2-{created['access'][:12].lower()}"
            client.create_bucket(Bucket=bucket)
            client.put_object(Bucket=bucket, Key="k", Body=b"through identity")
            assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"through identity"

        await asyncio.to_thread(scenario)
    finally:
        await runner.cleanup()


async def test_a_credential_acts_with_its_users_roles_and_stops_when_the_user_is_disabled(
    identity, cluster_client
):
    admin = identity.admin
    session = admin_session(identity)
    v3_url = f"{identity.url}/v3"
    user = session.post(
        f"{v3_url}/users", json={"user": {"name": "ec2-reader", "password": "pw-ec2-reader"}}
    ).json()["user"]
    reader_role = session.get(f"{v3_url}/roles?name=reader").json()["roles"][0]
    session.put(f"{v3_url}/projects/{admin['project_id']}/users/{user['id']}/roles/{reader_role['id']}")
    created = session.post(
        f"{v3_url}/users/{user['id']}/credentials/OS-EC2", json={"tenant_id": admin["project_id"]}
    ).json()["credential"]
    reader = await Ec2CredentialReader.open(cluster_client)
    found = await reader.find(created["access"])
    assert found is not None
    assert found.context.roles == frozenset({"reader"})
    assert (found.context.user_name, found.context.project_id) == ("ec2-reader", admin["project_id"])
    session.patch(f"{v3_url}/users/{user['id']}", json={"user": {"enabled": False}})
    assert await reader.find(created["access"]) is None  # as Keystone's ec2tokens refuses it
