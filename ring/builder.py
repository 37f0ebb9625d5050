"""The ring builder: devices, parameters and the partition assignment, and `rebalance`.

Pure: no file or network I/O (see `builderfile.py` for that); the clock and the
random seed are arguments so that every rebalance can be replayed.

`rebalance` runs in named phases under a bounded number of rounds:

0. **deal**: a ring with nothing placed yet is dealt down the failure-domain tree in one
   pass (`dealing.py`), which meets every target exactly;
1. **targets**: whole partition-replica counts per device and per-partition caps per
   failure domain (`targets.py` states when dispersion wins over balance);
2. **gather**: take replicas off removed devices (always), and off failure domains
   holding more replicas of a partition than their cap (when the partition may move);
3. **place**: each device short of its target takes unplaced replicas, the partitions
   that still need the most replicas first, never a second replica of a partition, never
   past a failure domain's cap;
4. **balance**: devices still short by more than RING_BALANCE_SLACK_PARTS take replicas from devices over their target, within
   the same rules; each moved partition then rests for `min_part_hours`.

A partition moves at most one replica per `min_part_hours` window (replicas on removed
devices excepted: they must move), so no partition loses its quorum of readable copies.
A rebalance that removes devices only re-homes their replicas (phases 2 and 4 wait for
the next one): a degraded cluster moves nothing it does not have to, and the report's
`off_target` says what the next rebalance will even out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from dolmen.ring.dealing import deal
from dolmen.ring.devices import Device, validate_device
from dolmen.ring.errors import InvalidDevice, InvalidParameters, RebalanceRefused, UnknownDevice
from dolmen.ring.targets import Targets, compute_targets, tier_index

from dolmen.limits import (
    RING_BALANCE_SLACK_PARTS,
    RING_DEVICES_MAX,
    RING_MIN_PART_HOURS_MAX,
    RING_PART_POWER_MAX,
    RING_PART_POWER_MIN,
    RING_REBALANCE_ROUNDS_MAX,
    RING_REPLICAS_MAX,
    RING_REPLICAS_MIN,
)

NO_DEVICE = -1
NEVER_MOVED_S = -np.inf


@dataclass(frozen=True, kw_only=True)
class Builder:
    """Everything needed to (re)build a ring. Immutable: changes return a new Builder.

    `assignment[replica, partition]` is a device id or NO_DEVICE; `last_moved_s[partition]`
    is when a replica of that partition last moved. Devices in `removed` keep their id
    until the next rebalance has moved their partitions away.
    """

    part_power: int
    replicas: int
    min_part_hours: float = 1.0
    overload: float | None = None  # a fraction (0.1 = 10 %); None: dispersion always wins
    placement_fingerprint: str = ""
    devices: dict[int, Device] = field(default_factory=dict)
    removed: frozenset[int] = frozenset()
    assignment: np.ndarray | None = None
    last_moved_s: np.ndarray | None = None
    version: int = 0
    next_device_id: int = 0

    def __post_init__(self) -> None:
        validate_parameters(self.part_power, self.replicas, self.min_part_hours, self.overload)
        if self.assignment is not None:
            assert self.assignment.shape[1] == self.partition_count
            assert self.last_moved_s is not None and self.last_moved_s.shape == (self.partition_count,)

    @property
    def partition_count(self) -> int:
        return 1 << self.part_power

    @property
    def active_devices(self) -> list[Device]:
        return [device for device_id, device in sorted(self.devices.items()) if device_id not in self.removed]

    def part_counts(self) -> dict[int, int]:
        """Partition-replicas each device holds now."""
        counts = dict.fromkeys(self.devices, 0)
        if self.assignment is not None:
            ids, numbers = np.unique(self.assignment[self.assignment >= 0], return_counts=True)
            counts.update(zip(ids.tolist(), numbers.tolist(), strict=True))
        return counts

    # --- changes ---------------------------------------------------------------

    def add_device(self, device: Device) -> Builder:
        """A builder with `device` added; its id is the next free one if `device.id` < 0."""
        device_id = self.next_device_id if device.id < 0 else device.id
        device = validate_device(dataclasses.replace(device, id=device_id))
        if device_id in self.devices:
            raise InvalidDevice(f"device id {device_id} is already in use")
        if device_id >= RING_DEVICES_MAX:
            raise InvalidDevice(f"device ids go up to {RING_DEVICES_MAX - 1}")
        for other in self.devices.values():
            if other.id not in self.removed and (other.ip, other.port, other.device) == (
                device.ip,
                device.port,
                device.device,
            ):
                raise InvalidDevice(
                    f"{device.host}/{device.device} is already device {other.id}: each ip:port/device once"
                )
        return dataclasses.replace(
            self,
            devices={**self.devices, device_id: device},
            next_device_id=max(self.next_device_id, device_id + 1),
        )

    def remove_device(self, device_id: int) -> Builder:
        """A builder whose next rebalance moves every partition off `device_id` and forgets it."""
        self._require(device_id)
        return dataclasses.replace(self, removed=self.removed | {device_id})

    def set_weight(self, device_id: int, weight: float) -> Builder:
        device = self._require(device_id)
        device = validate_device(dataclasses.replace(device, weight=weight))
        return dataclasses.replace(self, devices={**self.devices, device_id: device})

    def set_overload(self, overload: float | None) -> Builder:
        return dataclasses.replace(self, overload=overload)

    def set_min_part_hours(self, hours: float) -> Builder:
        return dataclasses.replace(self, min_part_hours=hours)

    def _require(self, device_id: int) -> Device:
        device = self.devices.get(device_id)
        if device is None or device_id in self.removed:
            raise UnknownDevice(f"no device with id {device_id}")
        return device

    def validate(self) -> None:
        """Assert every invariant of the builder and its assignment (programmer errors)."""
        assert all(device_id == device.id for device_id, device in self.devices.items())
        assert self.removed <= set(self.devices)
        assert all(device_id < self.next_device_id for device_id in self.devices)
        if self.assignment is None:
            return
        assignment = self.assignment
        assert assignment.shape == (self.replicas, self.partition_count), assignment.shape
        assert (assignment >= 0).all(), "every replica of every partition is placed"
        assert np.isin(assignment, list(self.devices)).all(), "replicas only on known devices"
        ordered = np.sort(assignment, axis=0)
        assert (ordered[1:] != ordered[:-1]).all(), "replicas of a partition on distinct devices"


def validate_parameters(
    part_power: int, replicas: int, min_part_hours: float, overload: float | None
) -> None:
    if not isinstance(part_power, int) or not RING_PART_POWER_MIN <= part_power <= RING_PART_POWER_MAX:
        raise InvalidParameters(
            f"part power must be between {RING_PART_POWER_MIN} and {RING_PART_POWER_MAX}, not {part_power}"
        )
    if not isinstance(replicas, int) or not RING_REPLICAS_MIN <= replicas <= RING_REPLICAS_MAX:
        raise InvalidParameters(
            f"replicas must be between {RING_REPLICAS_MIN} and {RING_REPLICAS_MAX}, not {replicas}"
        )
    if not 0 <= min_part_hours <= RING_MIN_PART_HOURS_MAX:
        raise InvalidParameters(
            f"min_part_hours must be between 0 and {RING_MIN_PART_HOURS_MAX}, not {min_part_hours}"
        )
    if overload is not None and not 0 <= overload <= 1_000:
        raise InvalidParameters(f"overload must be between 0 and 100000 percent, not {overload * 100}")


@dataclass(frozen=True)
class RebalanceReport:
    moved: int  # partition-replicas that changed device (including those placed for the first time)
    rounds: int
    off_target: int  # partition-replicas still away from the device their target asks for
    resting: int  # partitions that could not move: one of their replicas moved within min_part_hours


def rebalance(
    builder: Builder, *, now_s: float, seed: int, force: bool = False
) -> tuple[Builder, RebalanceReport]:
    """A new builder with partitions assigned to devices, and what moved.

    `force` ignores min_part_hours (for a cluster known to be empty). Raises
    NotEnoughDevices, or RebalanceRefused when nothing can move yet but something must.
    """
    devices = builder.active_devices
    targets = compute_targets(
        devices,
        replicas=builder.replicas,
        partition_count=builder.partition_count,
        overload=builder.overload,
    )
    plan = _Plan(builder, devices, targets, now_s=now_s, seed=seed, force=force)
    if (plan.assignment == NO_DEVICE).all():
        plan.deal_all(targets)
    rehoming = plan.gather_removed()
    rounds = 0
    while rounds < RING_REBALANCE_ROUNDS_MAX:
        rounds += 1
        changed = 0 if rehoming else plan.gather_undispersed()
        changed += plan.place_unassigned()
        if not rehoming:
            changed += plan.balance()
        if changed == 0:
            break
    plan.place_stranded()
    after = dataclasses.replace(
        builder,
        devices={
            device_id: device
            for device_id, device in builder.devices.items()
            if device_id not in builder.removed
        },
        removed=frozenset(),
        assignment=plan.assignment,
        last_moved_s=plan.last_moved_s,
        version=builder.version + 1,
    )
    after.validate()
    moved = replicas_moved(plan.original, plan.assignment)
    off_target = int(np.abs(plan.counts() - plan.target).sum() // 2)
    if moved == 0 and off_target and plan.resting and not force:
        raise RebalanceRefused(
            f"{off_target} partition-replicas should move, but {plan.resting} partitions moved less than "
            f"min_part_hours ({builder.min_part_hours:g} h) ago; wait, or use --force on an empty cluster"
        )
    return after, RebalanceReport(moved=moved, rounds=rounds, off_target=off_target, resting=plan.resting)


class _Plan:
    """The working state of one rebalance: arrays indexed by device id (`slot` = id, plus one 'none' slot)."""

    def __init__(
        self,
        builder: Builder,
        devices: list[Device],
        targets: Targets,
        *,
        now_s: float,
        seed: int,
        force: bool,
    ) -> None:
        self.replicas = builder.replicas
        self.partition_count = builder.partition_count
        self.rng = np.random.default_rng(seed)
        self.now_s = now_s
        id_space = max([*builder.devices, *[d.id for d in devices], 0]) + 2
        self.none_slot = id_space - 1  # NO_DEVICE (-1) indexes the last slot of every per-device array
        self.device_ids = np.array([device.id for device in devices], dtype=np.int64)
        self.target = np.zeros(id_space, dtype=np.int64)
        for device_id, count in targets.device_counts.items():
            self.target[device_id] = count
        index = tier_index(devices, targets, id_space=id_space)
        self.tier_of, self.cap_of = index.item_of, index.cap_of
        if builder.assignment is None:
            self.original = np.full((self.replicas, self.partition_count), NO_DEVICE, dtype=np.int64)
            last_moved = np.full(self.partition_count, NEVER_MOVED_S)
        else:
            self.original = _resize_rows(builder.assignment.astype(np.int64), self.replicas)
            assert builder.last_moved_s is not None
            last_moved = builder.last_moved_s.copy()
        self.assignment = self.original.copy()
        self.last_moved_s = last_moved
        window_s = 0.0 if force else builder.min_part_hours * 3600.0
        self.movable = (now_s - last_moved) >= window_s
        self.resting = int((~self.movable).sum())  # partitions that may not move in this rebalance
        self.active = np.zeros(id_space, dtype=bool)
        self.active[self.device_ids] = True
        self.order = self.rng.permutation(self.partition_count)  # tie-break among equally good partitions

    # --- bookkeeping -----------------------------------------------------------------

    def counts(self) -> np.ndarray:
        placed = self.assignment[self.assignment >= 0]
        return np.bincount(placed, minlength=len(self.target))[: len(self.target)]

    def _mark_moved(self, partitions: np.ndarray) -> None:
        self.last_moved_s[partitions] = self.now_s
        self.movable[partitions] = False

    def _room_for(self, device_id: int, source: np.ndarray | None = None) -> np.ndarray:
        """For every partition (or every slot if `source` gives the device each slot would leave),
        whether `device_id` can take a replica without breaking a cap."""
        assignment = self.assignment
        ok = (assignment != device_id).all(axis=0)
        for tier_of, cap_of in zip(self.tier_of, self.cap_of, strict=True):
            mine = tier_of[device_id]
            held = (tier_of[assignment] == mine).sum(axis=0)
            if source is None:
                ok &= held < cap_of[mine]
            else:
                ok = ok & ((held - (tier_of[source] == mine)) < cap_of[mine])
        return ok

    # --- phases ----------------------------------------------------------------------

    def deal_all(self, targets: Targets) -> None:
        """A ring with nothing placed yet is dealt in one pass (exact counts, full dispersion)."""
        self.assignment = deal(targets, replicas=self.replicas, rng=self.rng)
        self._mark_moved(np.arange(self.partition_count))

    def gather_removed(self) -> int:
        """Replicas on removed (or unknown) devices must move, whatever min_part_hours says."""
        gone = ~self.active[self.assignment]
        gone &= self.assignment != NO_DEVICE
        self.assignment[gone] = NO_DEVICE
        return int(gone.sum())

    def gather_undispersed(self) -> int:
        """Unplace one replica of each partition (that may move) that has more replicas in a
        failure domain than its cap: of the replicas in that domain, the one on the device
        furthest over its target."""
        surplus = self.counts() - self.target
        gathered = 0
        for tier_of, cap_of in zip(self.tier_of, self.cap_of, strict=True):
            tiers = tier_of[self.assignment]  # replicas x partitions
            same = np.zeros_like(tiers)
            for row in range(self.replicas):
                same[row] = (tiers == tiers[row]).sum(axis=0)
            crowded = (tiers >= 0) & (same > cap_of[np.maximum(tiers, 0)]) & self.movable[np.newaxis, :]
            partitions = np.flatnonzero(crowded.any(axis=0))
            if len(partitions) == 0:
                continue
            # One at a time, so that each choice sees the surplus the previous ones left: the
            # devices that give up replicas end at their targets, and balance has nothing to redo.
            partitions = partitions[self.rng.permutation(len(partitions))]
            rows = np.empty(len(partitions), dtype=np.int64)
            for number, partition in enumerate(partitions.tolist()):
                candidates = np.flatnonzero(crowded[:, partition])
                devices = self.assignment[candidates, partition]
                pick = int(np.argmax(surplus[devices]))
                rows[number] = candidates[pick]
                surplus[devices[pick]] -= 1
            self.assignment[rows, partitions] = NO_DEVICE
            self.movable[partitions] = False  # one replica per partition per window
            gathered += len(partitions)
        return gathered

    def place_unassigned(self) -> int:
        """Devices short of their target take unplaced replicas, neediest partitions first."""
        placed = 0
        counts = self.counts()
        deficits = self.target - counts
        for device_id in self.device_ids[np.argsort(-deficits[self.device_ids], kind="stable")]:
            want = int(self.target[device_id] - counts[device_id])
            if want <= 0:
                continue
            need = (self.assignment == NO_DEVICE).sum(axis=0)
            if not need.any():
                break
            candidates = (need > 0) & self._room_for(int(device_id))
            chosen = self._neediest(candidates, need, want)
            if len(chosen) == 0:
                continue
            rows = np.argmax(self.assignment[:, chosen] == NO_DEVICE, axis=0)
            self.assignment[rows, chosen] = device_id
            self._mark_moved(chosen)
            counts[device_id] += len(chosen)
            placed += len(chosen)
        return placed

    def _neediest(self, candidates: np.ndarray, need: np.ndarray, want: int) -> np.ndarray:
        in_order = self.order[candidates[self.order]]
        chosen: list[np.ndarray] = []
        for level in range(self.replicas, 0, -1):
            taken = sum(len(part) for part in chosen)
            if taken >= want:
                break
            at_level = in_order[need[in_order] == level]
            chosen.append(at_level[: want - taken])
        return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)

    def balance(self) -> int:
        """Devices still short take replicas from devices over their target (movable partitions only)."""
        moved = 0
        counts = self.counts()
        for device_id in self.device_ids[np.argsort(-(self.target - counts)[self.device_ids], kind="stable")]:
            want = int(self.target[device_id] - counts[device_id])
            surplus = counts - self.target
            surplus[self.none_slot] = 0
            if want <= RING_BALANCE_SLACK_PARTS or not (surplus > 0).any():
                continue
            source = self.assignment
            slots = (surplus[source] > 0) & self.movable[np.newaxis, :] & (source != NO_DEVICE)
            if not slots.any():
                continue
            slots &= self._room_for(int(device_id), source)
            rows, partitions = np.nonzero(slots)
            if len(partitions) == 0:
                continue
            shuffle = self.rng.permutation(len(partitions))
            rows, partitions = rows[shuffle], partitions[shuffle]
            partitions, first = np.unique(partitions, return_index=True)  # one replica per partition
            rows = rows[first]
            shuffle = self.rng.permutation(len(partitions))
            rows, partitions = rows[shuffle], partitions[shuffle]
            sources = source[rows, partitions]
            take = _within_quota(sources, surplus, want)
            rows, partitions = rows[take], partitions[take]
            if len(partitions) == 0:
                continue
            np.subtract.at(counts, self.assignment[rows, partitions], 1)
            self.assignment[rows, partitions] = device_id
            counts[device_id] += len(partitions)
            self._mark_moved(partitions)
            moved += len(partitions)
        return moved

    def place_stranded(self) -> None:
        """Replicas no device short of its target could take (its caps were full): the best
        device that does not already hold the partition takes them, caps permitting if possible."""
        rows, partitions = np.nonzero(self.assignment == NO_DEVICE)
        if len(partitions) == 0:
            return
        counts = self.counts()
        for row, partition in zip(rows.tolist(), partitions.tolist(), strict=True):
            column = self.assignment[:, partition]
            best: tuple[int, float, int] | None = None
            for device_id in self.device_ids.tolist():
                if (column == device_id).any():
                    continue
                within_caps = all(
                    (tier_of[column] == tier_of[device_id]).sum() < cap_of[tier_of[device_id]]
                    for tier_of, cap_of in zip(self.tier_of, self.cap_of, strict=True)
                )
                room = (self.target[device_id] - counts[device_id]) / max(1, self.target[device_id])
                key = (int(within_caps), room, -device_id)
                if best is None or key > best:
                    best = key
            assert best is not None, "compute_targets guarantees replicas <= devices"
            device_id = -best[2]
            self.assignment[row, partition] = device_id
            counts[device_id] += 1
            self._mark_moved(np.array([partition]))


def replicas_moved(before: np.ndarray, after: np.ndarray) -> int:
    """Partition-replicas whose device changed: per partition, the devices it has now and had not."""
    moved = 0
    for row in range(after.shape[0]):
        moved += int((after[row] != before).all(axis=0).sum())
    return moved


def _within_quota(sources: np.ndarray, surplus: np.ndarray, want: int) -> np.ndarray:
    """Indexes of the first candidates such that no source gives more than its surplus and at most `want` in all."""
    order = np.argsort(sources, kind="stable")
    ranks = np.empty(len(sources), dtype=np.int64)
    sorted_sources = sources[order]
    starts = np.searchsorted(sorted_sources, sorted_sources, side="left")
    ranks[order] = np.arange(len(sources)) - starts
    allowed = np.flatnonzero(ranks < surplus[sources])
    return allowed[:want]


def _resize_rows(assignment: np.ndarray, replicas: int) -> np.ndarray:
    if assignment.shape[0] == replicas:
        return assignment
    if assignment.shape[0] > replicas:
        return assignment[:replicas].copy()
    extra = np.full((replicas - assignment.shape[0], assignment.shape[1]), NO_DEVICE, dtype=assignment.dtype)
    return np.vstack([assignment, extra])
