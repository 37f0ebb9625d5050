"""Smoke checks with the unchanged `openstack` CLI against a real identity process on a real cluster.

The CLI takes seconds to start, so these are a handful of commands, each doing what a user
would; the bulk of the API is tested through keystoneauth and openstacksdk in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.identity import ADMIN_PASSWORD, IdentityProcess, admin_cloud, running_identity_process

OPENSTACK = str(Path(sys.executable).parent / "openstack")
CLI_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def identity(dev_cluster, tmp_path_factory) -> Iterator[IdentityProcess]:
    root = tmp_path_factory.mktemp("identity-cli")
    with running_identity_process(
        root, dev_cluster.client_config(), failed_logins_per_address_max=1000
    ) as process:
        yield process


def environment(
    identity: IdentityProcess, user: str = "admin", password: str = ADMIN_PASSWORD, project: str = "admin"
) -> dict[str, str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    return clean | {
        "OS_AUTH_URL": identity.auth_url,
        "OS_USERNAME": user,
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_REGION_NAME": "RegionOne",
    }


def run_openstack(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [OPENSTACK, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"openstack {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result


def openstack_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(run_openstack(env, *args, "-f", "json").stdout)


def test_token_issue_and_catalog_list(identity: IdentityProcess) -> None:
    env = environment(identity)
    token = openstack_json(env, "token", "issue")
    assert (
        token["project_id"] == identity.admin["project_id"] and token["user_id"] == identity.admin["user_id"]
    )
    catalog = openstack_json(env, "catalog", "list")
    assert {entry["Type"] for entry in catalog} >= {"identity", "object-store"}


def test_a_user_gets_a_role_changes_its_password_and_makes_ec2_credentials(identity: IdentityProcess) -> None:
    """One command per step a user takes; listings, deletions and refusals are checked in-process
    (tests/integration/identity) through the same libraries the CLI uses."""
    env = environment(identity)
    project, user = f"cli-{uuid.uuid4().hex[:8]}", f"cli-user-{uuid.uuid4().hex[:8]}"
    run_openstack(env, "project", "create", project)
    run_openstack(env, "user", "create", "--password", "first-pw", user)
    run_openstack(env, "role", "add", "--project", project, "--user", user, "member")
    run_openstack(env, "user", "set", "--password", "second-pw", user)
    member = environment(identity, user, "second-pw", project)
    created = openstack_json(member, "ec2", "credentials", "create")
    assert created["project_id"] != identity.admin["project_id"] and len(created["secret"]) == 32
    cloud = admin_cloud(identity)
    found = cloud.identity.find_project(project)
    assignments = list(cloud.identity.role_assignments(scope_project_id=found.id))
    assert [a.user["id"] for a in assignments] == [cloud.identity.find_user(user).id]
