"""How good an assignment is: balance, dispersion and per-tier replica counts. Pure."""

from __future__ import annotations

from typing import Any

import numpy as np
from dolmen.ring.builder import Builder
from dolmen.ring.targets import TIER_LEVELS, Tier, TierIndex, compute_targets, tier_index

BALANCE_MAX_PERCENT = 999.99  # what a device with no weight share but some partitions reports


def weight_shares(builder: Builder) -> dict[int, float]:
    """Partition-replicas each active device would hold if only weight counted."""
    devices = builder.active_devices
    total_weight = sum(device.weight for device in devices)
    slots = builder.replicas * builder.partition_count
    return {device.id: slots * device.weight / total_weight for device in devices}


def device_balance(builder: Builder) -> dict[int, float]:
    """Per device, the deviation in percent of its partition-replicas from its weight share."""
    shares = weight_shares(builder)
    counts = builder.part_counts()
    result = {}
    for device_id, count in counts.items():
        share = shares.get(device_id, 0.0)
        if share > 0:
            result[device_id] = 100.0 * (count - share) / share
        else:
            result[device_id] = BALANCE_MAX_PERCENT if count else 0.0
    return result


def balance(builder: Builder) -> float:
    """Swift's balance: the largest deviation, in percent, of any device's partitions from its weight share."""
    if builder.assignment is None:
        return 0.0
    deviations = device_balance(builder).values()
    return round(max((abs(value) for value in deviations), default=0.0), 2)


def _wanted_index(builder: Builder) -> TierIndex:
    """The tier index under the most dispersed targets (overload ignored): the yardstick."""
    devices = builder.active_devices
    wanted = compute_targets(
        devices, replicas=builder.replicas, partition_count=builder.partition_count, overload=None
    )
    return tier_index(devices, wanted, id_space=max(builder.devices, default=0) + 2)


def undispersed_mask(builder: Builder) -> np.ndarray:
    """replicas x partitions: True where a replica is beyond what the most dispersed placement allows."""
    assert builder.assignment is not None
    index = _wanted_index(builder)
    assignment = builder.assignment.astype(np.int64)
    mask = np.zeros(assignment.shape, dtype=bool)
    for item_of, caps in zip(index.item_of, index.cap_of, strict=True):
        tiers = item_of[assignment]
        earlier_same = np.zeros_like(tiers)
        for row in range(1, builder.replicas):
            earlier_same[row] = (tiers[:row] == tiers[row]).sum(axis=0)
        mask |= (tiers >= 0) & (earlier_same >= caps[np.maximum(tiers, 0)])
    return mask


def dispersion(builder: Builder) -> float:
    """Percent of partition-replicas not as dispersed as the topology allows (0 is best)."""
    if builder.assignment is None:
        return 0.0
    mask = undispersed_mask(builder)
    return round(100.0 * float(mask.sum()) / mask.size, 2)


def tier_report(builder: Builder) -> dict[str, dict[str, Any]]:
    """Per region, zone and host: partition-replicas held, the most one partition may have there,
    and how many partitions have 0, 1, 2, ... replicas there."""
    if builder.assignment is None:
        return {}
    index = _wanted_index(builder)
    assignment = builder.assignment.astype(np.int64)
    report: dict[str, dict[str, Any]] = {}
    for level, name in enumerate(TIER_LEVELS[:-1]):
        tiers = index.item_of[level][assignment]
        entries: dict[str, Any] = {}
        for number, item in enumerate(index.items[level]):
            per_partition = (tiers == number).sum(axis=0)
            histogram = np.bincount(per_partition, minlength=builder.replicas + 1)
            entries[tier_label(item)] = {
                "replicas": int(per_partition.sum()),
                "max_per_partition": int(index.cap_of[level][number]),
                "partitions_by_replica_count": histogram.tolist(),
            }
        report[name] = entries
    return report


def tier_label(tier: Tier) -> str:
    """r1, r1z2, r1z2-10.0.0.1:6200 (Swift's notation)."""
    label = f"r{tier[0]}"
    if len(tier) > 1:
        label += f"z{tier[1]}"
    if len(tier) > 2:
        label += f"-{tier[2]}"
    if len(tier) > 3:
        label += f"/d{tier[3]}"
    return label
