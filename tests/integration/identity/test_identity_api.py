"""The identity API driven by the stock client libraries (keystoneauth1, openstacksdk) over real HTTP.

The server runs identity's real code in-process, served over real HTTP and storing through a
real ClusterClient on the session's development cluster (helpers.identity.IdentityServer);
test_identity_on_cluster.py drives a real `dolmen identity` process.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from dolmen.identity.tokens import TokenCodec, TokenPayload, new_audit_id
from helpers.identity import ADMIN_PASSWORD, IdentityServer, admin_cloud, password_session, unique
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3


@pytest.fixture(scope="module")
def server(dev_cluster) -> Iterator[IdentityServer]:
    # Failed logins from this one test address: raise the per-address limit, keep the per-user one.
    identity = IdentityServer(
        dev_cluster.client_config(), settings={"failed_logins_per_address_max": 1000}
    ).start()
    yield identity
    identity.stop()


def make_member(server: IdentityServer, cloud, role: str = "member") -> tuple[str, str, object]:  # type: ignore[no-untyped-def]
    """A new project and a user holding `role` on it; (user name, password, project)."""
    project = cloud.identity.create_project(name=unique("proj"), domain_id="default")
    name, password = unique("user"), "pw-" + uuid.uuid4().hex
    user = cloud.identity.create_user(name=name, password=password, domain_id="default")
    role_id = next(cloud.identity.roles(name=role)).id
    cloud.identity.assign_project_role_to_user(project, user, role_id)
    return name, password, project


def test_discovery_answers_at_the_root_and_at_v3(server: IdentityServer) -> None:
    root = requests.get(server.url + "/", timeout=10)
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"] == "v3.14"
    v3_doc = requests.get(server.auth_url, timeout=10).json()["version"]
    assert v3_doc["links"][0]["href"] == server.auth_url + "/"


def test_a_password_login_scoped_by_name_gets_a_token_with_roles_and_catalog(server: IdentityServer) -> None:
    session = password_session(server, "admin", ADMIN_PASSWORD)
    access = session.auth.get_access(session)
    assert server.admin is not None
    assert access.project_id == server.admin.project_id and access.user_id == server.admin.user_id
    assert set(access.role_names) == {"admin", "member", "reader"}  # admin implies member implies reader
    swift = session.get_endpoint(service_type="object-store", interface="public")
    assert swift.endswith(f"/v1/AUTH_{server.admin.project_id}")
    assert access.expires > access.issued


def test_wrong_password_and_unknown_user_are_401_with_keystones_body(server: IdentityServer) -> None:
    for user, password in (("admin", "wrong"), ("nobody-" + uuid.uuid4().hex, "x")):
        response = requests.post(
            server.auth_url + "/auth/tokens",
            json={
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {"name": user, "password": password, "domain": {"id": "default"}}
                        },
                    }
                }
            },
            timeout=10,
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 401
        assert "X-Subject-Token" not in response.headers


def test_validation_then_revocation_of_a_token(server: IdentityServer) -> None:
    admin = password_session(server, "admin", ADMIN_PASSWORD)
    subject = password_session(server, "admin", ADMIN_PASSWORD).get_token()
    headers = {"X-Subject-Token": subject}
    checked = admin.get(server.auth_url + "/auth/tokens", headers=headers)
    assert checked.status_code == 200 and checked.headers["X-Subject-Token"] == subject
    assert checked.json()["token"]["user"]["name"] == "admin"
    assert admin.head(server.auth_url + "/auth/tokens", headers=headers).status_code == 200
    assert admin.delete(server.auth_url + "/auth/tokens", headers=headers).status_code == 204
    gone = admin.get(server.auth_url + "/auth/tokens", headers=headers, raise_exc=False)
    assert gone.status_code == 404
    refused = requests.get(server.auth_url + "/auth/catalog", headers={"X-Auth-Token": subject}, timeout=10)
    assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers


def test_project_user_and_role_management_through_openstacksdk(server: IdentityServer) -> None:
    cloud = admin_cloud(server, region_name="RegionOne")
    name, password, project = make_member(server, cloud)
    found = list(cloud.identity.projects(name=project.name))
    assert [p.id for p in found] == [project.id]
    session = password_session(server, name, password, project.name)
    access = session.auth.get_access(session)
    assert set(access.role_names) == {"member", "reader"}
    assignments = list(cloud.identity.role_assignments(scope_project_id=project.id))
    assert len(assignments) == 1 and assignments[0].user["id"] == access.user_id
    projects = session.get(server.auth_url + "/auth/projects").json()["projects"]
    assert [p["id"] for p in projects] == [project.id]


def test_a_member_cannot_do_admin_operations(server: IdentityServer) -> None:
    cloud = admin_cloud(server, region_name="RegionOne")
    name, password, project = make_member(server, cloud)
    session = password_session(server, name, password, project.name)
    response = session.post(
        server.auth_url + "/projects", json={"project": {"name": unique("p")}}, raise_exc=False
    )
    assert response.status_code == 403 and response.json()["error"]["title"] == "Forbidden"
    assert session.get(server.auth_url + "/users", raise_exc=False).status_code == 403
    assert (
        session.get(server.auth_url + f"/projects/{project.id}").status_code == 200
    )  # reads its own project


def test_a_user_without_a_role_on_the_project_cannot_scope_to_it(server: IdentityServer) -> None:
    cloud = admin_cloud(server, region_name="RegionOne")
    name, password, _ = make_member(server, cloud)
    with pytest.raises(ks_exceptions.Unauthorized):
        password_session(server, name, password, "admin").get_token()


def test_disabling_a_user_refuses_its_logins_and_revokes_its_tokens(server: IdentityServer) -> None:
    cloud = admin_cloud(server, region_name="RegionOne")
    name, password, project = make_member(server, cloud)
    token = password_session(server, name, password, project.name).get_token()
    user = cloud.identity.find_user(name)
    cloud.identity.update_user(user, enabled=False)
    with pytest.raises(ks_exceptions.Unauthorized):
        password_session(server, name, password, project.name).get_token()
    response = requests.get(server.auth_url + "/auth/catalog", headers={"X-Auth-Token": token}, timeout=10)
    assert response.status_code == 401


def test_a_password_change_revokes_old_tokens_and_only_the_new_password_works(server: IdentityServer) -> None:
    cloud = admin_cloud(server, region_name="RegionOne")
    name, password, project = make_member(server, cloud)
    old_token = password_session(server, name, password, project.name).get_token()
    user = cloud.identity.find_user(name)
    cloud.identity.update_user(user, password="new-password")
    with pytest.raises(ks_exceptions.Unauthorized):
        password_session(server, name, password, project.name).get_token()
    assert password_session(server, name, "new-password", project.name).get_token()
    response = requests.get(
        server.auth_url + "/auth/catalog", headers={"X-Auth-Token": old_token}, timeout=10
    )
    assert response.status_code == 401
    # A user changes its own password with the original one.
    session = password_session(server, name, "new-password", project.name)
    body = {"user": {"original_password": "new-password", "password": "third-password"}}
    assert session.post(server.auth_url + f"/users/{user.id}/password", json=body).status_code == 204
    assert password_session(server, name, "third-password", project.name).get_token()


def test_ec2_credentials_create_list_show_delete(server: IdentityServer) -> None:
    cloud = admin_cloud(server, region_name="RegionOne")
    name, password, project = make_member(server, cloud)
    session = password_session(server, name, password, project.name)
    user_id = session.get_user_id()
    base = server.auth_url + f"/users/{user_id}/credentials/OS-EC2"
    created = session.post(base, json={"tenant_id": project.id})
    assert created.status_code == 201
    credential = created.json()["credential"]
    assert credential["tenant_id"] == project.id and credential["user_id"] == user_id
    assert len(credential["secret"]) == 32 and credential["trust_id"] is None
    listed = session.get(base).json()["credentials"]
    assert [(c["access"], c["secret"]) for c in listed] == [(credential["access"], credential["secret"])]
    assert (
        session.get(f"{base}/{credential['access']}").json()["credential"]["secret"] == credential["secret"]
    )
    stored = server.call(lambda: server.service.store.get("ec2", credential["access"]))  # type: ignore[union-attr]
    assert credential["secret"] not in str(stored)  # encrypted at rest
    other = password_session(server, "admin", ADMIN_PASSWORD)
    other_user = unique("u")
    other_id = cloud.identity.create_user(name=other_user, password="pw", domain_id="default").id
    assert other.get(server.auth_url + f"/users/{other_id}/credentials/OS-EC2").json()["credentials"] == []
    assert session.delete(f"{base}/{credential['access']}").status_code == 204
    assert session.get(f"{base}/{credential['access']}", raise_exc=False).status_code == 404
    assert (
        session.get(server.auth_url + f"/users/{other_id}/credentials/OS-EC2", raise_exc=False).status_code
        == 403
    )


def test_unique_names_conflict_and_concurrent_creations_have_one_winner(server: IdentityServer) -> None:
    cloud = admin_cloud(server, region_name="RegionOne")
    name = unique("dup")
    cloud.identity.create_user(name=name, password="pw", domain_id="default")
    session = password_session(server, "admin", ADMIN_PASSWORD)
    again = session.post(server.auth_url + "/users", json={"user": {"name": name}}, raise_exc=False)
    assert again.status_code == 409
    racer = unique("race")

    async def race() -> list[object]:
        import asyncio

        service = server.service
        assert service is not None
        return await asyncio.gather(
            *(service.create_project({"name": racer}) for _ in range(8)), return_exceptions=True
        )

    outcomes = server.call(race)
    winners = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    assert len(winners) == 1
    assert all(type(outcome).__name__ == "EntityConflict" for outcome in outcomes if outcome not in winners)


def test_tampered_expired_and_garbage_tokens_are_401(server: IdentityServer) -> None:
    good = password_session(server, "admin", ADMIN_PASSWORD).get_token()
    tampered = good[:-5] + ("A" if good[-5] != "A" else "B") + good[-4:]
    assert server.service is not None and server.admin is not None
    now_s = time.time()
    expired = TokenCodec(server.service.validator.state.keys.validation_keys()[:1]).seal(
        TokenPayload(
            user_id=server.admin.user_id,
            user_name="admin",
            user_domain_id="default",
            project_id=None,
            project_name=None,
            project_domain_id=None,
            role_ids=(),
            methods=("password",),
            issued_at_s=now_s - 7200,
            expires_at_s=now_s - 3600,
            audit_id=new_audit_id(bytes(16)),
        )
    )
    for token in (tampered, expired, "garbage", "x" * 3000):
        response = requests.get(
            server.auth_url + "/auth/catalog", headers={"X-Auth-Token": token}, timeout=10
        )
        assert response.status_code == 401, token[:20]
        assert response.json()["error"]["title"] == "Unauthorized"


def test_an_unscoped_token_rescopes_to_a_project_without_outliving_itself(server: IdentityServer) -> None:
    unscoped = password_session(server, "admin", ADMIN_PASSWORD, project=None)
    first = unscoped.auth.get_access(unscoped)
    assert first.project_id is None
    rescoped = v3.Token(
        auth_url=server.auth_url, token=first.auth_token, project_name="admin", project_domain_name="Default"
    )
    session = ks_session.Session(auth=rescoped)
    access = rescoped.get_access(session)
    assert access.project_id is not None and access.expires <= first.expires


def test_repeated_failed_logins_for_one_user_are_refused_with_429(server: IdentityServer) -> None:
    cloud = admin_cloud(server, region_name="RegionOne")
    name = unique("locked")
    cloud.identity.create_user(name=name, password="right", domain_id="default")

    def body(password):
        return {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": name, "password": password, "domain": {"name": "Default"}}},
                }
            }
        }  # noqa: E731

    statuses = [
        requests.post(server.auth_url + "/auth/tokens", json=body("wrong"), timeout=10).status_code
        for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    refused = requests.post(server.auth_url + "/auth/tokens", json=body("right"), timeout=10)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        (b'{"auth": {}}', 400),
        (b'{"auth": {"identity": {"methods": ["password"]}}}', 400),
        (b'{"auth": {"identity": {"methods": ["totp"]}}}', 400),
        (
            b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x"}}}}}',
            400,
        ),
    ],
)
def test_malformed_requests_get_keystone_errors_not_500(
    server: IdentityServer, body: bytes, status: int
) -> None:
    response = requests.post(
        server.auth_url + "/auth/tokens", data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == status


def test_unknown_entities_and_routes_are_404_and_health_and_metrics_answer(server: IdentityServer) -> None:
    session = password_session(server, "admin", ADMIN_PASSWORD)
    assert session.get(server.auth_url + "/projects/" + uuid.uuid4().hex, raise_exc=False).status_code == 404
    assert session.get(server.auth_url + "/nowhere", raise_exc=False).status_code == 404
    assert requests.get(server.url + "/healthcheck", timeout=10).text == "OK"
    metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert "dolmen_identity_tokens_issued_total" in metrics
