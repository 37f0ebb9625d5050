"""The `openstack` command unchanged: a few runs of its container and object commands.

Each run costs seconds of start-up, so the bulk of what `openstack` asks goes
through openstacksdk in process (test_openstacksdk_library.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

OPENSTACK = (
    shutil.which("openstack", path=str(Path(sys.executable).parent)) or shutil.which("openstack") or ""
)
pytestmark = pytest.mark.skipif(not OPENSTACK, reason="the openstack command is not installed")


def openstack(environment: dict[str, str], *args: str, cwd=None) -> str:
    result = subprocess.run(
        [OPENSTACK, *args], env=os.environ | environment, capture_output=True, text=True, timeout=90, cwd=cwd
    )
    assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result.stdout


def test_openstack_container_and_object_commands(up_cluster, member, member_connection, tmp_path):
    environment = up_cluster.environment(member)
    container = f"osc-{uuid.uuid4().hex[:8]}"
    (tmp_path / "note.txt").write_bytes(b"hello from openstack\n")
    openstack(environment, "container", "create", container)
    openstack(environment, "object", "create", container, "note.txt", cwd=tmp_path)
    listed = json.loads(openstack(environment, "object", "list", container, "-f", "json"))
    assert [row["Name"] for row in listed] == ["note.txt"]
    assert member_connection.get_object(container, "note.txt")[1] == b"hello from openstack\n"
    member_connection.delete_object(container, "note.txt")
    member_connection.delete_container(container)
