"""A real `dolmen identity` process on a real development cluster, driven by keystoneauth and openstacksdk.

Also: another service's TokenValidator (the proxy's path) sees keys, roles and
revocations through the store; identity is stateless (a restart keeps every token valid);
key rotation keeps older tokens valid.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from dolmen.identity import InvalidToken, Policy, TokenValidator
from helpers.identity import (
    ADMIN_PASSWORD,
    IdentityProcess,
    admin_cloud,
    password_session,
    running_identity_process,
    unique,
)
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3


@pytest.fixture(scope="module")
def identity(dev_cluster, tmp_path_factory) -> Iterator[IdentityProcess]:
    root = tmp_path_factory.mktemp("identity")
    with running_identity_process(
        root, dev_cluster.client_config(), failed_logins_per_address_max=1000
    ) as process:
        yield process


def test_bootstrap_prints_the_admin_credentials_and_is_idempotent(identity: IdentityProcess) -> None:
    first = dict(identity.admin)
    assert (
        first["user_name"] == "admin"
        and first["project_name"] == "admin"
        and first["password"] == ADMIN_PASSWORD
    )
    again = identity.bootstrap()
    assert again["user_id"] == first["user_id"] and again["project_id"] == first["project_id"]


def test_a_token_is_issued_validated_and_revoked(identity: IdentityProcess) -> None:
    admin = password_session(identity, "admin", ADMIN_PASSWORD)
    access = admin.auth.get_access(admin)
    assert access.project_id == identity.admin["project_id"]
    assert set(access.role_names) == {"admin", "member", "reader"}
    assert admin.get_endpoint(service_type="object-store", interface="public").endswith(
        "/AUTH_" + identity.admin["project_id"]
    )
    subject = password_session(identity, "admin", ADMIN_PASSWORD).get_token()
    headers = {"X-Subject-Token": subject}
    assert (
        admin.get(identity.auth_url + "/auth/tokens", headers=headers).json()["token"]["user"]["name"]
        == "admin"
    )
    assert admin.delete(identity.auth_url + "/auth/tokens", headers=headers).status_code == 204
    assert admin.get(identity.auth_url + "/auth/tokens", headers=headers, raise_exc=False).status_code == 404
    with pytest.raises(ks_exceptions.Unauthorized):
        password = v3.Password(
            auth_url=identity.auth_url, username="admin", password="wrong", user_domain_name="Default"
        )
        ks_session.Session(auth=password).get_token()


async def test_another_services_validator_sees_roles_and_refuses_revoked_tokens(
    identity: IdentityProcess, cluster_client
) -> None:
    validator = await TokenValidator.open(cluster_client, refresh_interval_s=0.2)
    try:
        admin = password_session(identity, "admin", ADMIN_PASSWORD)
        token = password_session(identity, "admin", ADMIN_PASSWORD).get_token()
        context = validator.validate(token)
        assert context.user_name == "admin" and context.project_id == identity.admin["project_id"]
        assert {"admin", "member", "reader"} <= context.roles
        assert Policy.default().enforce("object:write", context, {"project_id": context.project_id})
        started_s = time.monotonic()
        await asyncio.to_thread(
            admin.delete, identity.auth_url + "/auth/tokens", headers={"X-Subject-Token": token}
        )
        while True:  # the background refresh picks the revocation up; the bound is generous, not a margin
            try:
                validator.validate(token)
            except InvalidToken:
                break
            assert time.monotonic() - started_s < 30, "a revoked token was still accepted after 30 s"
            await asyncio.sleep(0.05)
    finally:
        await validator.close()


def test_admin_manages_projects_users_and_roles_and_members_cannot(identity: IdentityProcess) -> None:
    cloud = admin_cloud(identity)
    project = cloud.identity.create_project(name=unique("proj"), domain_id="default")
    name, password = unique("user"), "pw-" + uuid.uuid4().hex
    user = cloud.identity.create_user(name=name, password=password, domain_id="default")
    member_role = next(cloud.identity.roles(name="member"))
    cloud.identity.assign_project_role_to_user(project, user, member_role)
    assert [p.id for p in cloud.identity.projects(name=project.name)] == [project.id]
    assert [a.user["id"] for a in cloud.identity.role_assignments(scope_project_id=project.id)] == [user.id]
    member = password_session(identity, name, password, project.name)
    assert set(member.auth.get_access(member).role_names) == {"member", "reader"}
    forbidden = member.post(
        identity.auth_url + "/users", json={"user": {"name": unique("x")}}, raise_exc=False
    )
    assert forbidden.status_code == 403
    token = member.get_token()
    cloud.identity.update_user(user, password="changed")
    with pytest.raises(ks_exceptions.Unauthorized):
        password_session(identity, name, password, project.name).get_token()
    assert (
        requests.get(
            identity.auth_url + "/auth/catalog", headers={"X-Auth-Token": token}, timeout=10
        ).status_code
        == 401
    )
    cloud.identity.update_user(user, enabled=False)
    with pytest.raises(ks_exceptions.Unauthorized):
        password_session(identity, name, "changed", project.name).get_token()


def test_ec2_credentials_live_in_the_store_encrypted(identity: IdentityProcess) -> None:
    admin = password_session(identity, "admin", ADMIN_PASSWORD)
    base = identity.auth_url + f"/users/{identity.admin['user_id']}/credentials/OS-EC2"
    created = admin.post(base, json={"tenant_id": identity.admin["project_id"]}).json()["credential"]
    listed = admin.get(base).json()["credentials"]
    assert created["access"] in [c["access"] for c in listed]
    assert admin.get(f"{base}/{created['access']}").json()["credential"]["secret"] == created["secret"]
    assert admin.delete(f"{base}/{created['access']}").status_code == 204
    assert admin.get(f"{base}/{created['access']}", raise_exc=False).status_code == 404


def test_concurrent_creations_of_one_name_have_exactly_one_winner(identity: IdentityProcess) -> None:
    token = password_session(identity, "admin", ADMIN_PASSWORD).get_token()
    name = unique("race")

    def create(_: int) -> int:
        response = requests.post(
            identity.auth_url + "/projects",
            json={"project": {"name": name}},
            headers={"X-Auth-Token": token},
            timeout=60,
        )
        return response.status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(create, range(6)))
    assert statuses == [201] + [409] * 5


def test_tokens_survive_an_identity_restart_and_a_key_rotation(identity: IdentityProcess) -> None:
    token = password_session(identity, "admin", ADMIN_PASSWORD).get_token()
    identity.stop()
    subprocess.run(identity.command("rotate-keys"), check=True, capture_output=True, timeout=60)
    identity.start()
    catalog = requests.get(identity.auth_url + "/auth/catalog", headers={"X-Auth-Token": token}, timeout=10)
    assert catalog.status_code == 200
    fresh = password_session(identity, "admin", ADMIN_PASSWORD).get_token()
    assert fresh != token
    assert (
        requests.get(
            identity.auth_url + "/auth/catalog", headers={"X-Auth-Token": fresh}, timeout=10
        ).status_code
        == 200
    )
