"""EC2 credentials made through identity's Keystone API are what the S3 listener reads from the store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dolmen.identity import Ec2CredentialReader
from helpers.identity import ADMIN_PASSWORD, IdentityProcess
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3


@pytest.fixture(scope="module")
def identity(dev_cluster, tmp_path_factory) -> Iterator[IdentityProcess]:
    process = IdentityProcess(tmp_path_factory.mktemp("identity"), dev_cluster.client_config())
    process.bootstrap()
    process.start()
    yield process
    process.stop()


async def test_a_credential_created_in_identity_is_found_with_its_secret_user_and_project(
    identity, cluster_client
):
    admin = identity.admin
    auth = v3.Password(
        auth_url=identity.auth_url, username="admin", password=ADMIN_PASSWORD, project_name="admin",
        user_domain_name="Default", project_domain_name="Default",
    )  # fmt: skip
    session = ks_session.Session(auth=auth)
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
