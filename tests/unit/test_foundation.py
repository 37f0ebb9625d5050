"""The conventions every service uses: typed configuration, keys, JSON logs, packaging."""

from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import dolmen.ring as dolmen_ring
import dolmen.storage_node as dolmen_storage_node
import pytest

import dolmen
from dolmen.config import load_config
from dolmen.errors import ConfigError
from dolmen.keys import (
    derive_key,
    key_fingerprint,
    placement_key,
    read_or_create_secret,
    read_secret,
    request_signing_key,
)
from dolmen.logs import configure_logging, request_id_var


@dataclass(frozen=True, kw_only=True)
class Limits:
    queue_entries_max: int = 16


@dataclass(frozen=True, kw_only=True)
class ExampleConfig:
    """[example] in example.toml."""

    name: str
    devices_dir: Path = Path("/srv/dolmen")
    node_timeout_s: float = 3.0
    verbose: bool = False
    devices: list[str] = field(default_factory=list)
    reserve_bytes: int | None = None
    limits: Limits = field(default_factory=Limits)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "example.toml"
    path.write_text(text)
    return path


def test_config_reads_types_defaults_nested_tables_and_relative_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[example]\nname = "n1"\ndevices-dir = "srv"\nnode_timeout_s = 2\ndevices = ["d1", "d2"]\n'
        "[example.limits]\nqueue_entries_max = 4\n",
    )
    config = load_config(path, ExampleConfig, section="example")
    assert config == ExampleConfig(
        name="n1",
        devices_dir=(tmp_path / "srv").resolve(),
        node_timeout_s=2.0,
        devices=["d1", "d2"],
        limits=Limits(queue_entries_max=4),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[example]\nname = "n"\nnode_timout_s = 1\n', "unknown key 'example.node_timout_s'"),
        ('[example]\nname = "n"\nnode_timeout_s = "fast"\n', "'example.node_timeout_s' must be a number"),
        ('[example]\nname = "n"\nverbose = 1\n', "'example.verbose' must be true or false"),
        ('[example]\nname = "n"\ndevices = ["a", 2]\n', "'example.devices[1]' must be a string"),
        ("[example]\n", "missing required key 'example.name'"),
        ('[example]\nname = "n"\n[example.limits]\nqueue = 1\n', "unknown key 'example.limits.queue'"),
        ('[other]\nname = "n"\n', "unknown table or key 'other'"),
        ("[example\n", "not valid TOML"),
    ],
)
def test_config_refuses_to_start_with_the_file_the_key_and_what_was_expected(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path, ExampleConfig, section="example")
    assert message in str(error.value) and str(path) in str(error.value)


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml", ExampleConfig)


def test_keys_are_derived_per_purpose_and_fingerprints_reveal_nothing_reusable() -> None:
    secret = b"s" * 32
    assert placement_key(secret) == placement_key(secret)
    assert placement_key(secret) != derive_key(secret, "something-else")
    assert request_signing_key(secret, 1) != request_signing_key(secret, 2)
    assert key_fingerprint(placement_key(secret)) != key_fingerprint(placement_key(b"t" * 32))
    assert placement_key(secret).hex() not in key_fingerprint(placement_key(secret))


def test_secret_files_are_private_created_once_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "cluster.secret"
    first = read_or_create_secret(path)
    assert read_or_create_secret(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("abcd\n")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        read_secret(path)


def test_log_lines_are_json_with_the_request_id_and_no_secrets() -> None:
    stream = io.StringIO()
    configure_logging("test-service", stream=stream)
    token = request_id_var.set("tx123")
    try:
        logging.getLogger("dolmen.test").info("request", extra={"status": 201, "token": "gAAAA-secret"})
    finally:
        request_id_var.reset(token)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["event"] == "request" and line["status"] == 201
    assert line["request_id"] == "tx123" and line["service"] == "test-service"
    assert line["token"] == "<redacted>"


def test_the_tests_run_against_the_installed_package_when_ci_says_so() -> None:
    if os.environ.get("DOLMEN_EXPECT_INSTALLED") != "1":
        pytest.skip("only `./dev test` (and CI) run against the installed wheel")
    for module in (dolmen, dolmen_ring, dolmen_storage_node):
        assert "site-packages" in str(module.__file__), module.__file__
