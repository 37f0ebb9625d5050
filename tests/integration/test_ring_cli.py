"""The `dolmen ring` command, run as operators run it: a real subprocess per call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DEVICE_FIELDS = {"id", "region", "zone", "ip", "port", "device", "weight", "parts"}


def ring(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "dolmen", "ring", *map(str, args)], capture_output=True, text=True, timeout=60
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def add_args(*, ip: str, weight: float, zone: int = 1, port: int = 6201) -> tuple[object, ...]:
    """`dolmen ring add` arguments for one device, the builder left as "{b}" for the error cases."""
    return (
        "add",
        "{b}",
        "--region",
        1,
        "--zone",
        zone,
        "--ip",
        ip,
        "--port",
        port,
        "--device",
        "sdb",
        "--weight",
        weight,
    )


def add_device(builder: Path, *, zone: int, ip: str) -> None:
    command, _, *fields = add_args(ip=ip, weight=100, zone=zone, port=6200)
    ring(command, builder, *fields)


@pytest.fixture
def builder(tmp_path: Path) -> Path:
    path = tmp_path / "object.builder"
    ring("create", path, "--part-power", 8, "--replicas", 3, "--min-part-hours", 1)
    devices = [
        {
            "region": 1,
            "zone": zone,
            "ip": f"127.0.0.{zone}",
            "port": 6200 + host,
            "device": "sdb",
            "weight": 100,
        }
        for zone in (1, 2, 3)
        for host in (1, 2)
    ]
    (tmp_path / "devices.json").write_text(json.dumps(devices))
    ring("add", path, "--from-file", tmp_path / "devices.json")
    return path


def test_create_makes_a_cluster_secret_beside_the_builder(builder: Path) -> None:
    secret = builder.parent / "cluster.secret"
    assert secret.exists() and secret.stat().st_mode & 0o077 == 0


def test_rebalance_writes_the_ring_and_reports_json(builder: Path) -> None:
    report = json.loads(ring("rebalance", builder, "--json").stdout)
    assert report["moved"] == 3 * 256
    assert report["balance"] == 0.0 and report["dispersion"] == 0.0
    assert (builder.parent / "object.ring").exists()
    ring("validate", builder)


def test_show_json_has_the_contract_fields(builder: Path) -> None:
    ring("rebalance", builder)
    shown = json.loads(ring("show", builder, "--json").stdout)
    assert {"part_power", "replicas", "min_part_hours", "balance", "dispersion", "devices"} <= set(shown)
    assert shown["part_power"] == 8 and shown["replicas"] == 3 and shown["min_part_hours"] == 1
    assert all(set(device) >= DEVICE_FIELDS for device in shown["devices"])
    assert sum(device["parts"] for device in shown["devices"]) == 3 * 256
    table = ring("show", builder).stdout
    assert "127.0.0.2:6201" in table and "balance" in table


def test_dispersion_and_nodes_json(builder: Path) -> None:
    ring("rebalance", builder)
    dispersion = json.loads(ring("dispersion", builder, "--json").stdout)
    assert dispersion["dispersion"] == 0.0
    assert set(dispersion["tiers"]) == {"region", "zone", "host"}
    assert dispersion["tiers"]["zone"]["r1z1"]["partitions_by_replica_count"] == [0, 256, 0, 0]
    nodes = json.loads(ring("nodes", builder.parent / "object.ring", "AUTH_test", "c", "o", "--json").stdout)
    assert 0 <= nodes["partition"] < 256
    assert len(nodes["primaries"]) == 3 and len({d["zone"] for d in nodes["primaries"]}) == 3
    assert len(nodes["handoffs"]) == 3
    assert all(
        {"id", "region", "zone", "ip", "port", "device", "weight"} <= set(d) for d in nodes["handoffs"]
    )


def test_adding_a_device_later_moves_only_its_share_and_warns(builder: Path) -> None:
    ring("rebalance", builder, "--now-s", 0)
    add_device(builder, zone=1, ip="127.0.0.9")
    result = ring("rebalance", builder, "--json", "--now-s", 7200)
    report = json.loads(result.stdout)
    assert 0 < report["moved"] <= 1.1 * (3 * 256 / 7) + 1
    assert "no replicator" in result.stderr


def test_write_copies_the_ring(builder: Path, tmp_path: Path) -> None:
    ring("rebalance", builder)
    ring("write", builder, tmp_path / "copy.ring")
    assert (tmp_path / "copy.ring").read_bytes() == (builder.parent / "object.ring").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("remove", "{b}", 99), "no device with id 99"),
        (("set-weight", "{b}", 99, 10), "no device with id 99"),
        (
            add_args(ip="127.0.0.1", weight=1),
            "already device",
        ),
        (
            add_args(ip="127.0.0.7", weight=0),
            "weight must be",
        ),
        (
            add_args(ip="127.0.0.7", weight=-5),
            "weight must be",
        ),
        (("create", "{d}/new.builder", "--part-power", 40, "--replicas", 3), "part power must be between"),
        (("create", "{d}/new.builder", "--part-power", 8, "--replicas", 0), "replicas must be between"),
        (("create", "{b}", "--part-power", 8, "--replicas", 3), "already exists"),
        (("show", "{d}/missing.builder"), "no such builder file"),
    ],
)
def test_errors_are_one_sentence_and_a_nonzero_exit(
    builder: Path, args: tuple[object, ...], message: str
) -> None:
    filled = [str(arg).format(b=builder, d=builder.parent) for arg in args]
    result = ring(*filled, check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_rebalance_is_refused_within_min_part_hours(builder: Path) -> None:
    ring("rebalance", builder, "--now-s", 0)
    add_device(builder, zone=2, ip="127.0.0.9")
    refused = ring("rebalance", builder, "--now-s", 60, check=False)
    assert refused.returncode == 1 and "min_part_hours" in refused.stderr
    forced = json.loads(ring("rebalance", builder, "--now-s", 60, "--force", "--json").stdout)
    assert forced["moved"] > 0


def test_nodes_refuses_a_ring_from_another_cluster(builder: Path, tmp_path: Path) -> None:
    ring("rebalance", builder)
    other = tmp_path / "other.secret"
    other.write_text("ab" * 32 + "\n")
    result = ring("nodes", builder.parent / "object.ring", "AUTH_test", "--secret-file", other, check=False)
    assert result.returncode == 1 and "another cluster" in result.stderr
