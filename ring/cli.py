"""`dolmen ring`: build and inspect rings, for operators.

Every command reads or writes a builder file (`object.builder`); `rebalance` also
writes the ring file beside it (`object.ring`), which is what services load.
Errors are one plain sentence on stderr and a non-zero exit status (1; 2 for bad usage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from dolmen.ring.analysis import balance, device_balance, dispersion, tier_report
from dolmen.ring.builder import Builder, rebalance
from dolmen.ring.builderfile import load_builder, save_builder
from dolmen.ring.devices import Device
from dolmen.ring.errors import InvalidDevice, RingFileError
from dolmen.ring.ring import Ring
from dolmen.ring.ringfile import RingData, ring_path_for_builder, write_ring

from dolmen.errors import DolmenError
from dolmen.keys import SECRET_FILE_NAME, key_fingerprint, placement_key, read_or_create_secret, read_secret
from dolmen.limits import RING_HANDOFFS_DEFAULT

SECRET_ENV = "DOLMEN_CLUSTER_SECRET_FILE"

DESCRIPTION = """\
Build and inspect rings. A ring maps every partition of the name space to
`replicas` devices, as dispersed across regions, zones, hosts (ip:port) and
devices as the topology allows, each device holding a share proportional to
its weight.

When dispersion and balance disagree (a zone too small for its even share of
replicas), dispersion wins: no failure domain holds more than its even spread of
a partition's replicas. --overload PCT bounds that: a domain is filled at most
PCT percent above its weight share for dispersion's sake; past that, balance
wins and `dispersion` reports the partitions that could not be spread.

The placement hash is keyed with the cluster secret: `create` makes one
(cluster.secret, beside the builder) unless --secret-file names an existing one.
"""

UNSAFE_WARNING = (
    "warning: Dolmen has no replicator yet: partitions that move on a cluster that holds data "
    "become unreachable until the self-healing work lands. Rebalance only clusters that are empty."
)


def device_json(device: Device, parts: int | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": device.id,
        "region": device.region,
        "zone": device.zone,
        "ip": device.ip,
        "port": device.port,
        "device": device.device,
        "weight": device.weight,
        "meta": device.meta,
    }
    if parts is not None:
        fields["parts"] = parts
    return fields


def _secret_path(explicit: str | None, beside: Path) -> Path:
    if explicit:
        return Path(explicit)
    if os.environ.get(SECRET_ENV):
        return Path(os.environ[SECRET_ENV])
    return beside.parent / SECRET_FILE_NAME


def _percent(value: str) -> float | None:
    if value.lower() in ("none", "unlimited"):
        return None
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {value!r}") from None
    if not 0 <= number <= 100_000:
        raise argparse.ArgumentTypeError("overload must be between 0 and 100000 percent, or 'none'")
    return number / 100


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, sort_keys=False))


# --- commands -------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> int:
    path = Path(args.builder)
    if path.exists():
        raise RingFileError(f"{path} already exists; remove it first to start over")
    secret = read_or_create_secret(_secret_path(args.secret_file, path))
    builder = Builder(
        part_power=args.part_power,
        replicas=args.replicas,
        min_part_hours=args.min_part_hours,
        overload=args.overload,
        placement_fingerprint=key_fingerprint(placement_key(secret)),
    )
    save_builder(path, builder)
    print(f"created {path}: {builder.partition_count} partitions, {builder.replicas} replicas")
    return 0


def _device_from_args(args: argparse.Namespace) -> Device:
    missing = [
        name for name in ("region", "zone", "ip", "port", "device", "weight") if getattr(args, name) is None
    ]
    if missing:
        raise InvalidDevice(f"add needs --{' --'.join(missing)} (or --from-file)")
    return Device(
        id=-1 if args.id is None else args.id,
        region=args.region,
        zone=args.zone,
        ip=args.ip,
        port=args.port,
        device=args.device,
        weight=args.weight,
        meta=args.meta or "",
    )


def _devices_from_file(path: str) -> list[Device]:
    """A JSON list of device objects, or JSON lines, with the fields of `add` (id optional)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidDevice(f"{path}: cannot read: {error}") from None
    try:
        stripped = text.strip()
        entries = (
            json.loads(stripped)
            if stripped.startswith("[")
            else [json.loads(line) for line in stripped.splitlines() if line.strip()]
        )
    except ValueError as error:
        raise InvalidDevice(
            f"{path}: not JSON (a list of devices, or one device per line): {error}"
        ) from None
    devices = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise InvalidDevice(f"{path}: entry {number} is not an object")
        fields = {"id": -1, "meta": "", **entry}
        try:
            devices.append(Device(**fields))
        except TypeError as error:
            raise InvalidDevice(f"{path}: entry {number}: {error}") from None
    return devices


def cmd_add(args: argparse.Namespace) -> int:
    path = Path(args.builder)
    builder = load_builder(path)
    devices = _devices_from_file(args.from_file) if args.from_file else [_device_from_args(args)]
    for device in devices:
        builder = builder.add_device(device)
        added = builder.devices[builder.next_device_id - 1 if device.id < 0 else device.id]
        print(
            f"added device {added.id}: r{added.region}z{added.zone}-{added.host}/{added.device} weight {added.weight:g}"
        )
    save_builder(path, builder)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    path = Path(args.builder)
    builder = load_builder(path).remove_device(args.device_id)
    save_builder(path, builder)
    print(f"device {args.device_id} will be removed at the next rebalance")
    return 0


def cmd_set_weight(args: argparse.Namespace) -> int:
    path = Path(args.builder)
    builder = load_builder(path).set_weight(args.device_id, args.weight)
    save_builder(path, builder)
    print(f"device {args.device_id} weight {args.weight:g}; rebalance to apply")
    return 0


def cmd_set_overload(args: argparse.Namespace) -> int:
    path = Path(args.builder)
    save_builder(path, load_builder(path).set_overload(args.overload))
    print(f"overload {_overload_text(args.overload)}; rebalance to apply")
    return 0


def cmd_set_min_part_hours(args: argparse.Namespace) -> int:
    path = Path(args.builder)
    save_builder(path, load_builder(path).set_min_part_hours(args.hours))
    print(f"min_part_hours {args.hours:g}")
    return 0


def cmd_rebalance(args: argparse.Namespace) -> int:
    path = Path(args.builder)
    before = load_builder(path)
    seed = before.version if args.seed is None else args.seed
    now_s = time.time() if args.now_s is None else args.now_s
    started = time.perf_counter()
    after, report = rebalance(before, now_s=now_s, seed=seed, force=args.force)
    elapsed_s = time.perf_counter() - started
    ring_path = ring_path_for_builder(path)
    save_builder(path, after)
    write_ring(ring_path, RingData.from_builder(after))
    if before.assignment is not None and report.moved:
        print(UNSAFE_WARNING, file=sys.stderr)
    result = {
        "moved": report.moved,
        "balance": balance(after),
        "dispersion": dispersion(after),
        "off_target": report.off_target,
        "resting_partitions": report.resting,
        "version": after.version,
        "ring": str(ring_path),
        "seconds": round(elapsed_s, 3),
    }
    if args.json:
        _print_json(result)
    else:
        print(
            f"moved {report.moved} partition-replicas; balance {result['balance']:.2f} %, "
            f"dispersion {result['dispersion']:.2f} %; wrote {ring_path} (version {after.version})"
        )
        if report.resting:
            print(
                f"{report.resting} partitions moved within min_part_hours and stayed put; rebalance again later"
            )
    return 0


def _overload_text(overload: float | None) -> str:
    return "none (dispersion always wins)" if overload is None else f"{overload * 100:g} %"


def cmd_show(args: argparse.Namespace) -> int:
    builder = load_builder(Path(args.builder))
    counts = builder.part_counts()
    balances = device_balance(builder) if builder.assignment is not None else {}
    devices = [builder.devices[device_id] for device_id in sorted(builder.devices)]
    if args.json:
        _print_json(
            {
                "part_power": builder.part_power,
                "partitions": builder.partition_count,
                "replicas": builder.replicas,
                "min_part_hours": builder.min_part_hours,
                "overload": None if builder.overload is None else builder.overload * 100,
                "version": builder.version,
                "balance": balance(builder),
                "dispersion": dispersion(builder),
                "devices": [
                    {
                        **device_json(device, counts.get(device.id, 0)),
                        "removing": device.id in builder.removed,
                    }
                    for device in devices
                ],
            }
        )
        return 0
    regions = {device.region for device in devices}
    zones = {(device.region, device.zone) for device in devices}
    hosts = {device.host for device in devices}
    print(
        f"{args.builder}: {builder.partition_count} partitions (part power {builder.part_power}), "
        f"{builder.replicas} replicas, min_part_hours {builder.min_part_hours:g}, "
        f"overload {_overload_text(builder.overload)}"
    )
    print(
        f"version {builder.version}; {len(devices)} devices in {len(regions)} regions, {len(zones)} zones, "
        f"{len(hosts)} hosts; balance {balance(builder):.2f} %, dispersion {dispersion(builder):.2f} %"
    )
    header = f"{'id':>5} {'region':>6} {'zone':>5} {'host':<22} {'device':<12} {'weight':>9} {'parts':>8} {'balance':>8}  meta"
    print(header)
    for device in devices:
        note = " (removing at next rebalance)" if device.id in builder.removed else ""
        print(
            f"{device.id:>5} {device.region:>6} {device.zone:>5} {device.host:<22} {device.device:<12} "
            f"{device.weight:>9.2f} {counts.get(device.id, 0):>8} {balances.get(device.id, 0.0):>8.2f}  "
            f"{device.meta}{note}"
        )
    if builder.assignment is None:
        print("never rebalanced: run `dolmen ring rebalance` to assign partitions")
    return 0


def cmd_dispersion(args: argparse.Namespace) -> int:
    builder = load_builder(Path(args.builder))
    percent, tiers = dispersion(builder), tier_report(builder)
    if args.json:
        _print_json({"dispersion": percent, "tiers": tiers})
        return 0
    print(f"dispersion {percent:.2f} % of partition-replicas are less dispersed than the topology allows")
    for level, entries in tiers.items():
        print(f"{level}:")
        for label, entry in entries.items():
            histogram = ", ".join(
                f"{count} with {replicas}"
                for replicas, count in enumerate(entry["partitions_by_replica_count"])
            )
            print(
                f"  {label:<30} {entry['replicas']:>9} replicas, at most {entry['max_per_partition']} "
                f"per partition; partitions: {histogram}"
            )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    builder = load_builder(Path(args.builder))
    if builder.assignment is None:
        raise RingFileError(f"{args.builder}: never rebalanced")
    try:
        builder.validate()
    except AssertionError as error:
        raise RingFileError(f"{args.builder}: invalid: {error}") from None
    if builder.removed:
        raise RingFileError(f"{args.builder}: devices {sorted(builder.removed)} await removal: rebalance")
    print(f"{args.builder}: valid (balance {balance(builder):.2f} %, dispersion {dispersion(builder):.2f} %)")
    return 0


def cmd_write(args: argparse.Namespace) -> int:
    builder = load_builder(Path(args.builder))
    write_ring(Path(args.ringfile), RingData.from_builder(builder))
    print(f"wrote {args.ringfile} (version {builder.version})")
    return 0


def cmd_nodes(args: argparse.Namespace) -> int:
    ring_path = Path(args.ringfile)
    secret = read_secret(_secret_path(args.secret_file, ring_path))
    ring = Ring.load(ring_path, placement_key(secret))
    partition, primaries = ring.get_nodes(args.account, args.container, args.object)
    handoffs: list[Device] = []
    for device in ring.handoffs(partition):
        if len(handoffs) >= args.handoffs:
            break
        handoffs.append(device)
    if args.json:
        _print_json(
            {
                "partition": partition,
                "primaries": [device_json(device) for device in primaries],
                "handoffs": [device_json(device) for device in handoffs],
            }
        )
        return 0
    name = "/".join(part for part in (args.account, args.container, args.object) if part is not None)
    print(f"/{name}\npartition {partition} (ring version {ring.version})")
    for label, devices in (("primary", primaries), ("handoff", handoffs)):
        for device in devices:
            print(
                f"  {label}  r{device.region}z{device.zone}  {device.host:<22} {device.device:<12} (id {device.id})"
            )
    return 0


# --- parser ---------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dolmen ring", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser("create", help="start a new builder file")
    create.add_argument("builder")
    create.add_argument("--part-power", type=int, required=True, help="2**P partitions")
    create.add_argument("--replicas", type=int, required=True)
    create.add_argument("--min-part-hours", type=float, default=1.0, help="hours a moved partition rests (1)")
    create.add_argument("--overload", type=_percent, default=None, help="percent, or 'none' (default)")
    create.add_argument(
        "--secret-file", help=f"cluster secret (default: {SECRET_FILE_NAME} beside the builder)"
    )
    create.set_defaults(run=cmd_create)

    add = commands.add_parser("add", help="add a device (or many, --from-file)")
    add.add_argument("builder")
    add.add_argument("--region", type=int)
    add.add_argument("--zone", type=int)
    add.add_argument("--ip")
    add.add_argument("--port", type=int)
    add.add_argument("--device")
    add.add_argument("--weight", type=float)
    add.add_argument("--meta", default="")
    add.add_argument("--id", type=int, help="device id (default: the next free one)")
    add.add_argument("--from-file", help="a JSON list of devices, or one JSON device per line")
    add.set_defaults(run=cmd_add)

    remove = commands.add_parser("remove", help="remove a device at the next rebalance")
    remove.add_argument("builder")
    remove.add_argument("device_id", type=int)
    remove.set_defaults(run=cmd_remove)

    set_weight = commands.add_parser("set-weight", help="change a device's weight")
    set_weight.add_argument("builder")
    set_weight.add_argument("device_id", type=int)
    set_weight.add_argument("weight", type=float)
    set_weight.set_defaults(run=cmd_set_weight)

    set_overload = commands.add_parser("set-overload", help="percent, or 'none'")
    set_overload.add_argument("builder")
    set_overload.add_argument("overload", type=_percent)
    set_overload.set_defaults(run=cmd_set_overload)

    set_hours = commands.add_parser("set-min-part-hours", help="hours a moved partition rests")
    set_hours.add_argument("builder")
    set_hours.add_argument("hours", type=float)
    set_hours.set_defaults(run=cmd_set_min_part_hours)

    rebalance_parser = commands.add_parser("rebalance", help="assign partitions; writes the ring file too")
    rebalance_parser.add_argument("builder")
    rebalance_parser.add_argument("--json", action="store_true")
    rebalance_parser.add_argument(
        "--force", action="store_true", help="ignore min_part_hours (empty clusters)"
    )
    rebalance_parser.add_argument("--seed", type=int, help="random seed (default: the builder's version)")
    rebalance_parser.add_argument("--now-s", type=float, help="the time to rebalance at (default: now)")
    rebalance_parser.set_defaults(run=cmd_rebalance)

    show = commands.add_parser("show", help="parameters, devices, balance")
    show.add_argument("builder")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=cmd_show)

    dispersion_parser = commands.add_parser("dispersion", help="how well replicas are spread")
    dispersion_parser.add_argument("builder")
    dispersion_parser.add_argument("--json", action="store_true")
    dispersion_parser.set_defaults(run=cmd_dispersion)

    validate = commands.add_parser("validate", help="check every invariant")
    validate.add_argument("builder")
    validate.set_defaults(run=cmd_validate)

    write = commands.add_parser("write", help="write the ring file")
    write.add_argument("builder")
    write.add_argument("ringfile")
    write.set_defaults(run=cmd_write)

    nodes = commands.add_parser("nodes", help="where a name lives")
    nodes.add_argument("ringfile")
    nodes.add_argument("account")
    nodes.add_argument("container", nargs="?")
    nodes.add_argument("object", nargs="?")
    nodes.add_argument("--json", action="store_true")
    nodes.add_argument(
        "--handoffs", type=int, default=RING_HANDOFFS_DEFAULT, help="how many handoffs to show"
    )
    nodes.add_argument("--secret-file", help=f"cluster secret (default: {SECRET_FILE_NAME} beside the ring)")
    nodes.set_defaults(run=cmd_nodes)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except DolmenError as error:
        print(f"dolmen ring {args.command}: {error}", file=sys.stderr)
        return 1
