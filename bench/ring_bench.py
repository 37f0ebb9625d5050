"""Ring builder benchmark: Dolmen against OpenStack Swift's builder, side by side in one run.

Prints one JSON object. For each topology both builders start from the same devices (added
in the same order, so the ids match); time is the rebalance alone, in-process for both
(Swift's runs in its own virtual environment). Balance, dispersion and movement are measured
on both assignments with one yardstick (Dolmen's analysis: Swift's balance definition,
dispersion as the percentage of partition-replicas less dispersed than the topology allows,
moved as partition-replicas whose device changed); Swift's own figures are reported beside.
Dolmen runs twice: with its default (dispersion always wins) and with Swift's default
overload of 0 (balance wins), which is the like-for-like comparison.

    python bench/ring_bench.py [--swift-venv DIR] [--cases a,b,c,d]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from dolmen.ring.analysis import balance, dispersion
from dolmen.ring.builder import Builder, rebalance, replicas_moved
from dolmen.ring.devices import Device

SWIFT_SPEC = "swift==2.38.3"


@dataclass(frozen=True)
class Case:
    name: str
    part_power: int
    devices: list[dict[str, object]]
    added: dict[str, object] | None = None  # a device added after the first rebalance


def devices_grid(regions: list[tuple[int, int, int, float]]) -> list[dict[str, object]]:
    """[(region, zones, hosts per zone, weight)] with one device per host."""
    devices: list[dict[str, object]] = []
    for region, zones, hosts, weight in regions:
        for zone in range(1, zones + 1):
            for host in range(1, hosts + 1):
                for disk in range(1, 2):
                    devices.append(
                        {
                            "region": region,
                            "zone": zone,
                            "ip": f"10.{region}.{zone}.{host}",
                            "port": 6200,
                            "device": f"d{disk}",
                            "weight": weight,
                        }
                    )
    return devices


def cases() -> dict[str, Case]:
    twelve = devices_grid([(1, 3, 4, 100.0)])
    hundred = [
        {
            "region": 1,
            "zone": 1 + n % 5,
            "ip": f"10.1.{1 + n % 5}.{n // 10}",
            "port": 6200,
            "device": f"d{n % 2}",
            "weight": 100.0,
        }
        for n in range(100)
    ]
    return {
        "a_pp14_12dev_3zones": Case("a", 14, twelve),
        "b_pp14_12dev_plus_one": Case(
            "b",
            14,
            twelve,
            added={"region": 1, "zone": 1, "ip": "10.1.1.9", "port": 6200, "device": "d1", "weight": 100.0},
        ),
        "c_pp14_2regions_unequal_weights": Case("c", 14, devices_grid([(1, 3, 4, 100.0), (2, 2, 2, 200.0)])),
        "d_pp18_100dev": Case("d", 18, hundred),
    }


def dolmen_run(case: Case, overload: float | None) -> dict[str, object]:
    builder = Builder(part_power=case.part_power, replicas=3, min_part_hours=1, overload=overload)
    for fields in case.devices:
        builder = builder.add_device(Device(id=-1, **fields))  # type: ignore[arg-type]
    started = time.perf_counter()
    built, _ = rebalance(builder, now_s=0.0, seed=1)
    elapsed_s = time.perf_counter() - started
    result: dict[str, object] = {"rebalance_s": round(elapsed_s, 3)}
    if case.added is not None:
        grown = built.add_device(Device(id=-1, **case.added))  # type: ignore[arg-type]
        started = time.perf_counter()
        after, _ = rebalance(grown, now_s=7200.0, seed=2)
        result["rebalance_s"] = round(time.perf_counter() - started, 3)
        assert built.assignment is not None and after.assignment is not None
        result["moved"] = replicas_moved(built.assignment, after.assignment)
        result["ideal_moved"] = round(3 * (1 << case.part_power) / (len(case.devices) + 1), 1)
        built = after
    result["balance"] = balance(built)
    result["dispersion"] = dispersion(built)
    return result


SWIFT_SCRIPT = r"""
import json, sys, time
from array import array
from swift.common.ring import RingBuilder
spec = json.load(sys.stdin)
builder = RingBuilder(spec["part_power"], 3, 1)
for fields in spec["devices"]:
    builder.add_dev(dict(fields))
started = time.perf_counter()
builder.rebalance(seed=1)
elapsed = time.perf_counter() - started
before = [array("H", row) for row in builder._replica2part2dev]
out = {"rebalance_s": round(elapsed, 3)}
if spec["added"] is not None:
    builder.pretend_min_part_hours_passed()
    builder.add_dev(dict(spec["added"]))
    started = time.perf_counter()
    builder.rebalance(seed=2)
    out["rebalance_s"] = round(time.perf_counter() - started, 3)
out["swift_balance"] = round(builder.get_balance(), 2)
out["swift_dispersion"] = round(builder.dispersion, 2)
with open(spec["before"], "wb") as f:
    for row in before:
        f.write(row.tobytes())
with open(spec["after"], "wb") as f:
    for row in builder._replica2part2dev:
        f.write(array("H", row).tobytes())
print(json.dumps(out))
"""


def swift_run(case: Case, python: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as work:
        spec = {
            "part_power": case.part_power,
            "devices": case.devices,
            "added": case.added,
            "before": f"{work}/before",
            "after": f"{work}/after",
        }
        completed = subprocess.run(
            [str(python), "-c", SWIFT_SCRIPT],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            check=True,
        )
        result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
        partitions = 1 << case.part_power
        before = np.fromfile(f"{work}/before", dtype="<u2").reshape(3, partitions).astype(np.int64)
        after = np.fromfile(f"{work}/after", dtype="<u2").reshape(3, partitions).astype(np.int64)
    # Measure Swift's assignment with the same yardstick as Dolmen's.
    builder = Builder(part_power=case.part_power, replicas=3)
    for fields in case.devices + ([case.added] if case.added else []):
        builder = builder.add_device(Device(id=-1, **fields))  # type: ignore[arg-type]
    measured = Builder(
        part_power=case.part_power,
        replicas=3,
        devices=builder.devices,
        next_device_id=builder.next_device_id,
        assignment=after,
        last_moved_s=np.zeros(partitions),
    )
    result["balance"] = balance(measured)
    result["dispersion"] = dispersion(measured)
    if case.added is not None:
        result["moved"] = replicas_moved(before, after)
    return result


def ensure_swift(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if (
        not python.exists()
        or subprocess.run([str(python), "-c", "import swift"], capture_output=True).returncode
    ):
        print(f"installing {SWIFT_SPEC} into {venv} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", SWIFT_SPEC], check=True)
    return python


def ratio(numerator: object, denominator: object) -> float | None:
    if not isinstance(numerator, int | float) or not isinstance(denominator, int | float) or denominator == 0:
        return None
    return round(numerator / denominator, 2)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--swift-venv", default=os.environ.get("SAIO_VENV", "/tmp/swift-saio-venv"))
    parser.add_argument("--cases", default="a,b,c,d")
    args = parser.parse_args()
    python = ensure_swift(Path(args.swift_venv))
    wanted = set(args.cases.split(","))
    report: dict[str, object] = {
        "peer": SWIFT_SPEC + " swift-ring-builder (RingBuilder), overload 0",
        "cases": {},
    }
    for name, case in cases().items():
        if case.name not in wanted:
            continue
        swift = swift_run(case, python)
        dolmen_like = dolmen_run(case, overload=0.0)
        dolmen_default = dolmen_run(case, overload=None)
        report["cases"][name] = {  # type: ignore[index]
            "swift": swift,
            "dolmen_overload_0": dolmen_like,
            "dolmen_default": dolmen_default,
            "speedup_x": ratio(swift["rebalance_s"], dolmen_like["rebalance_s"]),
        }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
