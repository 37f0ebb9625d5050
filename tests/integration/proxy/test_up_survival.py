"""Quorum with storage nodes stopped, then `dolmen down` and `dolmen up`: everything acknowledged survives.

Runs on the session's cluster, which is whole again (restarted by `dolmen up`,
on the same ports) when the test ends.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from swiftclient import ClientException


def stop_node(up_cluster, index: int) -> None:
    """SIGTERM one storage node of the running cluster and wait until it is gone."""
    pid = json.loads((up_cluster.data_dir / "endpoints.json").read_text())["node_pids"][index]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while not gone(pid):
        assert time.monotonic() < deadline, f"node {index} did not stop"
        time.sleep(0.05)


def gone(pid: int) -> bool:
    """Exited (a zombie until `dolmen up` reaps it counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_quorum_with_nodes_down_then_down_and_up_keeps_everything(up_cluster, member, member_connection):
    container = f"keep-{uuid.uuid4().hex[:8]}"
    member_connection.put_container(container)
    before = os.urandom(100_000)
    member_connection.put_object(container, "before", before)

    stop_node(up_cluster, 0)  # one of three: writes and reads go on
    during = os.urandom(300_000)
    member_connection.put_object(container, "during", during)
    assert member_connection.get_object(container, "before")[1] == before
    assert member_connection.get_object(container, "during")[1] == during
    assert [row["name"] for row in member_connection.get_container(container)[1]] == ["before", "during"]

    stop_node(up_cluster, 1)  # two of three: a write is refused, and never shows partial
    refused_body = os.urandom(2_000_000)
    with pytest.raises(ClientException) as caught:
        member_connection.put_object(container, "refused", refused_body)
    assert caught.value.http_status == 503

    openrc = (up_cluster.data_dir / "openrc").read_text()
    s3_env = (up_cluster.data_dir / "s3.env").read_text()
    assert f"export OS_PASSWORD={up_cluster.admin.password}\n" in openrc
    already = up_cluster.up()
    assert already.returncode == 1 and "already running" in already.stderr
    stopped = up_cluster.down()
    assert stopped.returncode == 0, stopped.stderr
    again = up_cluster.up()
    assert again.returncode == 0, again.stdout + again.stderr
    assert up_cluster.admin.password in again.stdout
    assert (up_cluster.data_dir / "openrc").read_text() == openrc
    assert (up_cluster.data_dir / "s3.env").read_text() == s3_env  # the admin's S3 key is made once
    assert f"S3 API      http://127.0.0.1:{up_cluster.port + 2}" in again.stdout

    reconnected = up_cluster.connection(member)  # the member's password survived too
    assert reconnected.get_object(container, "before")[1] == before
    assert reconnected.get_object(container, "during")[1] == during
    try:
        _, got = reconnected.get_object(container, "refused")
    except ClientException as error:
        assert error.http_status == 404
    else:
        assert got == refused_body  # never acknowledged; if it landed at all, it landed whole
        reconnected.delete_object(container, "refused")
    for name in ("before", "during"):
        reconnected.delete_object(container, name)
    reconnected.delete_container(container)
