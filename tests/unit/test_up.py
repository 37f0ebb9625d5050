import json
import subprocess
import sys

import pytest

from dolmen.up import Layout, UpError, new_password, openrc_text, resolve_layout, s3_env_text


def test_a_new_directory_takes_the_options_or_the_defaults():
    assert resolve_layout(None, port=None, nodes=None, devices=None) == Layout(
        port=8080, nodes=3, devices_per_node=2
    )
    layout = resolve_layout(None, port=20000, nodes=4, devices=1)
    assert (layout.proxy_port, layout.identity_port, layout.s3_port) == (20000, 20001, 20002)
    assert (layout.node_base_port, layout.last_port) == (20003, 20006)


def test_a_restart_keeps_the_stored_layout():
    stored = Layout(port=9000, nodes=4, devices_per_node=1)
    assert resolve_layout(stored, port=None, nodes=None, devices=None) == stored
    assert resolve_layout(stored, port=9000, nodes=4, devices=1) == stored


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"port": None, "nodes": 5, "devices": None}, "needs the self-healing work"),
        ({"port": None, "nodes": None, "devices": 2}, "would move data"),
        ({"port": 9100, "nodes": None, "devices": None}, "--port 9000"),
    ],
)
def test_a_changed_layout_is_refused_with_an_explanation(options, complaint):
    with pytest.raises(UpError, match=complaint):
        resolve_layout(Layout(port=9000, nodes=4, devices_per_node=1), **options)


@pytest.mark.parametrize(
    "options",
    [
        {"port": None, "nodes": 0, "devices": None},
        {"port": None, "nodes": 1, "devices": 2},
        {"port": 65_534, "nodes": 3, "devices": 1},
    ],
)
def test_impossible_layouts_are_refused(options):
    with pytest.raises(UpError):
        resolve_layout(None, **options)


def test_openrc_names_identity_and_the_admin():
    text = openrc_text(Layout(port=9000), {"user": "admin", "project": "admin", "password": "pw"})
    assert "export OS_AUTH_URL=http://127.0.0.1:9001/v3\n" in text
    assert "export OS_PASSWORD=pw\n" in text and "export OS_PROJECT_NAME=admin\n" in text
    assert "export ST_AUTH" not in text  # swift would prefer v1 auth over OS_* if it were exported


def test_s3_env_names_the_s3_port_and_the_admins_key():
    text = s3_env_text(Layout(port=9000), {"s3_access_key": "AK", "s3_secret_key": "SK"})
    assert text.splitlines()[1:] == [
        "export AWS_ACCESS_KEY_ID=AK",
        "export AWS_SECRET_ACCESS_KEY=SK",
        "export AWS_ENDPOINT_URL=http://127.0.0.1:9002",
        "export AWS_DEFAULT_REGION=us-east-1",
    ]


def test_the_command_refuses_a_changed_node_count_before_starting_anything(tmp_path):
    (tmp_path / "up.json").write_text(json.dumps({"port": 9000, "nodes": 3, "devices_per_node": 2}))
    result = subprocess.run(
        [sys.executable, "-m", "dolmen", "up", "--data", str(tmp_path), "--nodes", "4"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cluster of 3 storage nodes" in result.stderr and "--nodes 3" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["up.json"]


def test_down_without_a_running_cluster_says_so(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dolmen", "down", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "no cluster is running" in result.stderr


def test_generated_passwords_are_plain_command_line_arguments():
    """A password that began with `-` read as an option and broke the identity bootstrap."""
    passwords = {new_password() for _ in range(2000)}
    assert len(passwords) == 2000
    assert all(len(password) == 24 and password.isascii() and password.isalnum() for password in passwords)
