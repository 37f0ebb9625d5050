"""A whole Dolmen (storage nodes, identity, proxy) for client and proxy tests.

`up_cluster` is one cluster started with `dolmen up --detach` on free ports and
shared by the session (3 nodes x 2 devices, one proxy worker to spare the CPU);
`dolmen down` stops it at the end. `Identity` creates the projects and users
tests need through identity's Keystone API, with keystoneclient, so that tests
speak to Dolmen only as stock clients do.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import swiftclient
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client as keystone_client

from helpers.cluster import free_port_run

PORTS_PER_UP = 3  # proxy, identity, S3; then one per node
UP_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Credentials:
    project: str
    user: str
    password: str


@dataclass
class UpCluster:
    data_dir: Path
    port: int
    nodes: int
    admin: Credentials

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.port + 1}/v3"

    @property
    def v1_auth_url(self) -> str:
        return f"{self.proxy_url}/auth/v1.0"

    def up(self, *extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "dolmen", "up", "--data", str(self.data_dir), "--port", str(self.port),
                   "--nodes", str(self.nodes), "--proxy-workers", "1", "--detach", *extra]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=UP_TIMEOUT_S)

    def down(self) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "dolmen", "down", "--data", str(self.data_dir)]
        return subprocess.run(command, capture_output=True, text=True, timeout=UP_TIMEOUT_S)

    def connection(self, credentials: Credentials) -> swiftclient.Connection:
        """A swiftclient connection with Keystone v3 auth, as `swift` builds it."""
        return swiftclient.Connection(
            authurl=self.auth_url,
            user=credentials.user,
            key=credentials.password,
            auth_version="3",
            os_options={
                "project_name": credentials.project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            retries=0,
        )

    def environment(self, credentials: Credentials) -> dict[str, str]:
        """OS_* variables for the `swift` and `openstack` commands."""
        return {
            "OS_AUTH_URL": self.auth_url,
            "OS_IDENTITY_API_VERSION": "3",
            "OS_AUTH_TYPE": "password",
            "OS_USERNAME": credentials.user,
            "OS_PASSWORD": credentials.password,
            "OS_PROJECT_NAME": credentials.project,
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_INTERFACE": "public",
        }


def start_up_cluster(root: Path, *, nodes: int = 3, attempts: int = 3) -> UpCluster:
    """`dolmen up --detach` on free ports (retried if another process takes one first)."""
    result = None
    for _ in range(attempts):
        cluster = UpCluster(
            root / f"data-{uuid.uuid4().hex[:6]}", free_port_run(PORTS_PER_UP + nodes), nodes, None
        )  # type: ignore[arg-type]
        result = cluster.up()
        if result.returncode == 0:
            admin = json.loads((cluster.data_dir / "admin.json").read_text())
            cluster.admin = Credentials(admin["project"], admin["user"], admin["password"])
            return cluster
    raise AssertionError(
        f"dolmen up failed:\n{result.stdout if result else ''}\n{result.stderr if result else ''}"
    )


class Identity:
    """Projects and users, made through identity's Keystone API as an admin would."""

    def __init__(self, cluster: UpCluster) -> None:
        auth = v3.Password(
            auth_url=cluster.auth_url,
            username=cluster.admin.user,
            password=cluster.admin.password,
            project_name=cluster.admin.project,
            user_domain_name="Default",
            project_domain_name="Default",
        )
        self.keystone = keystone_client.Client(session=ks_session.Session(auth=auth), interface="public")

    def user_in_new_project(self, role: str, *, project: str | None = None) -> Credentials:
        """A new user holding `role` in `project` (a new project unless named)."""
        name = uuid.uuid4().hex[:10]
        if project is None:
            project = f"p-{name}"
            self.keystone.projects.create(name=project, domain="default")
        project_id = self.keystone.projects.list(name=project)[0].id
        password = uuid.uuid4().hex
        user = self.keystone.users.create(name=f"u-{name}", password=password, domain="default")
        role_id = self.keystone.roles.list(name=role)[0].id
        self.keystone.roles.grant(role_id, user=user.id, project=project_id)
        return Credentials(project, f"u-{name}", password)


@pytest.fixture(scope="session")
def up_cluster(tmp_path_factory):
    """The session's `dolmen up --detach` cluster, shared by client and proxy tests."""
    cluster = start_up_cluster(tmp_path_factory.mktemp("up"))
    yield cluster
    cluster.down()


@pytest.fixture(scope="session")
def identity(up_cluster):
    return Identity(up_cluster)


@pytest.fixture(scope="session")
def member(identity):
    """A member of a project of its own."""
    return identity.user_in_new_project("member")


@pytest.fixture(scope="session")
def member_connection(up_cluster, member):
    return up_cluster.connection(member)
