"""How many partition-replicas each device should hold, and how many replicas of one
partition each failure domain may hold. Pure arithmetic over the device list.

The rule (the operator-facing statement is in `dolmen ring --help` and the README):

* **Dispersion first.** Replicas of a partition are spread over as many regions as
  there are, then zones within them, then hosts, then devices. A failure domain
  whose weight would give it more than its even spread of a partition's replicas
  is capped at that spread (`ceil(parent's replicas / its siblings)`), and the
  excess goes, by weight, to its siblings. So with at least `replicas` zones no
  partition ever has two replicas in one zone, even when zone weights differ.
* **Overload bounds dispersion.** Taking that excess makes the smaller domains hold
  more than their weight share. `overload` (a fraction, e.g. 0.1 for 10 %) is how
  far above its weight share a domain may be filled for dispersion's sake. When
  dispersion would need more than that, balance wins: the small domains are held
  at weight share x (1 + overload) and the large ones take more than one replica
  of some partitions, which `dispersion` then reports. `overload=None` (the
  default) lets dispersion always win.
* **Balance within those caps.** Inside the caps every domain's share is
  proportional to its weight.

Counts are whole partition-replicas. They are rounded level by level (largest
remainder), so every domain's children add up exactly to the domain's own count
and a domain holding between k and k+1 partitions' worth of replicas can place k
or k+1 replicas of every partition, which is what keeps dispersion exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from dolmen.ring.devices import Device
from dolmen.ring.errors import NotEnoughDevices

Tier = tuple[object, ...]
TIER_LEVELS = ("region", "zone", "host", "device")
_EPSILON = 1e-9


@dataclass(frozen=True)
class Targets:
    """Whole partition-replica counts per tier item (`counts`) and per device (`device_counts`).

    `max_replicas[tier]` is how many replicas of any one partition that tier item may
    hold: ceil(count / partitions).
    """

    partition_count: int
    counts: dict[Tier, int]
    device_counts: dict[int, int]

    def max_replicas(self, tier: Tier) -> int:
        return -(-self.counts[tier] // self.partition_count)


@dataclass(frozen=True)
class TierIndex:
    """Per level (region, zone, host, device): the tier items, each device id's item number
    (-1 for ids that are no active device, including the spare last slot that NO_DEVICE
    indexes), and each item's cap on replicas of one partition."""

    items: list[list[Tier]]
    item_of: list[np.ndarray]
    cap_of: list[np.ndarray]


def tier_index(devices: Sequence[Device], targets: Targets, *, id_space: int) -> TierIndex:
    items_by_level: list[list[Tier]] = []
    item_of_by_level: list[np.ndarray] = []
    cap_of_by_level: list[np.ndarray] = []
    for level in range(len(TIER_LEVELS)):
        items: list[Tier] = sorted({device.tiers[level] for device in devices}, key=str)
        number_of = {item: number for number, item in enumerate(items)}
        item_of = np.full(id_space, -1, dtype=np.int64)
        for device in devices:
            item_of[device.id] = number_of[device.tiers[level]]
        items_by_level.append(items)
        item_of_by_level.append(item_of)
        cap_of_by_level.append(np.array([targets.max_replicas(item) for item in items], dtype=np.int64))
    return TierIndex(items=items_by_level, item_of=item_of_by_level, cap_of=cap_of_by_level)


def compute_targets(
    devices: Sequence[Device], *, replicas: int, partition_count: int, overload: float | None
) -> Targets:
    """Targets for `devices` (those with weight > 0 only); NotEnoughDevices if fewer than `replicas`."""
    active = [device for device in devices if device.weight > 0]
    if len(active) < replicas:
        raise NotEnoughDevices(
            f"{replicas} replicas need at least {replicas} devices with weight; the ring has {len(active)}"
        )
    children: dict[Tier, list[Tier]] = {}
    weight: dict[Tier, float] = {(): 0.0}
    # below[tier][level]: how many items of that (deeper) level the tier item contains
    below: dict[Tier, list[set[Tier]]] = {(): [set() for _ in TIER_LEVELS]}
    for device in active:
        parent: Tier = ()
        weight[()] += device.weight
        for level, tier in enumerate(device.tiers):
            if tier not in weight:
                children.setdefault(parent, []).append(tier)
                weight[tier] = 0.0
                below[tier] = [set() for _ in TIER_LEVELS]
            weight[tier] += device.weight
            for outer in [(), *device.tiers[: level + 1]]:
                below[outer][level].add(tier)
            parent = tier
    total_weight = weight[()]
    counts: dict[Tier, int] = {(): replicas * partition_count}

    def place(parent: Tier) -> None:
        kids = sorted(children.get(parent, []), key=_tier_sort_key)
        if not kids:
            return
        parent_count = counts[parent]
        even_spread = _ceil_div(_ceil_div(parent_count, partition_count), len(kids))
        device_caps = [len(below[kid][-1]) * partition_count for kid in kids]
        dispersion_caps = _dispersion_caps(kids, below, even_spread, parent_count, partition_count)
        weights = [weight[kid] for kid in kids]
        uppers: list[float] = [float(cap) for cap in dispersion_caps]
        shares = None
        if overload is not None:
            weighted = [replicas * partition_count * weight[kid] / total_weight for kid in kids]
            bounds = [share * (1 + overload) for share in weighted]
            uppers = [min(cap, bound) for cap, bound in zip(dispersion_caps, bounds, strict=True)]
            if sum(uppers) < parent_count - _EPSILON:
                # Dispersion would overload the small domains past the bound: fill them to the
                # bound, and let the large ones take more than their even spread.
                shares = _fill_small_to_bound(parent_count, weights, dispersion_caps, bounds, device_caps)
                uppers = [float(cap) for cap in device_caps]
        if shares is None:
            if sum(uppers) < parent_count - _EPSILON:
                uppers = [float(cap) for cap in device_caps]
            shares = water_fill(parent_count, weights, uppers)
        rounding_caps = [
            min(device_cap, math.ceil(upper - _EPSILON))
            for upper, device_cap in zip(uppers, device_caps, strict=True)
        ]
        for kid, count in zip(kids, round_preserving_sum(shares, parent_count, rounding_caps), strict=True):
            counts[kid] = count
            place(kid)

    place(())
    device_counts = {int(tier[-1]): count for tier, count in counts.items() if len(tier) == 4}  # type: ignore[call-overload]
    return Targets(partition_count=partition_count, counts=counts, device_counts=device_counts)


def _dispersion_caps(
    kids: list[Tier], below: dict[Tier, list[set[Tier]]], even_spread: int, total: int, partition_count: int
) -> list[int]:
    """The strictest feasible caps (in partition-replicas) on `kids` for dispersion.

    Preference, first feasible wins: one replica per kid; one per zone under each kid and no
    kid past the even spread; one per zone; then the same for hosts; then for devices (always
    feasible).
    Uniqueness deeper down beats evenness higher up, so that with at least `replicas` zones
    no partition has two replicas in one zone, however the zones sit in regions.
    """
    own_level = len(kids[0]) - 1  # 0 for regions ... 3 for devices
    for deeper in range(own_level, len(TIER_LEVELS)):
        spread = [len(below[kid][deeper]) for kid in kids]
        for caps in ([min(even_spread, n) for n in spread], spread):
            if sum(caps) * partition_count >= total:
                return [cap * partition_count for cap in caps]
    raise AssertionError("device-level caps are feasible once there are enough devices")


def _fill_small_to_bound(
    total: int,
    weights: Sequence[float],
    dispersion_caps: Sequence[int],
    bounds: Sequence[float],
    device_caps: Sequence[int],
) -> list[float]:
    small = [bound < cap for bound, cap in zip(bounds, dispersion_caps, strict=True)]
    shares = [
        min(bound, cap) if is_small else 0.0
        for bound, cap, is_small in zip(bounds, device_caps, small, strict=True)
    ]
    large = [index for index, is_small in enumerate(small) if not is_small]
    remaining = total - sum(shares)
    if not large or sum(device_caps[index] for index in large) < remaining - _EPSILON:
        return water_fill(total, weights, device_caps)
    for index, share in zip(
        large,
        water_fill(remaining, [weights[i] for i in large], [device_caps[i] for i in large]),
        strict=True,
    ):
        shares[index] = share
    return shares


def water_fill(total: float, weights: Sequence[float], uppers: Sequence[float]) -> list[float]:
    """Split `total` in proportion to `weights`, no share above its upper bound; the rest goes to the others.

    Assumes sum(uppers) >= total and every weight > 0.
    """
    assert sum(uppers) >= total - _EPSILON * max(1.0, total), (total, uppers)
    shares = [0.0] * len(weights)
    free = set(range(len(weights)))
    remaining = float(total)
    while free:
        free_weight = sum(weights[index] for index in free)
        level = remaining / free_weight
        capped = [index for index in free if level * weights[index] > uppers[index] + _EPSILON]
        if not capped:
            for index in free:
                shares[index] = level * weights[index]
            break
        for index in capped:
            shares[index] = float(uppers[index])
            remaining -= uppers[index]
            free.remove(index)
    return shares


def round_preserving_sum(shares: Sequence[float], total: int, caps: Sequence[int]) -> list[int]:
    """Whole numbers near `shares` that add up to `total` (largest remainder), none above its cap."""
    counts = [min(int(math.floor(share + _EPSILON)), cap) for share, cap in zip(shares, caps, strict=True)]
    shortfall = total - sum(counts)
    order = sorted(range(len(shares)), key=lambda index: (-(shares[index] - counts[index]), index))
    while shortfall > 0:
        progressed = False
        for index in order:
            if shortfall == 0:
                break
            if counts[index] < caps[index]:
                counts[index] += 1
                shortfall -= 1
                progressed = True
        assert progressed, (shares, total, caps)
    return counts


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _tier_sort_key(tier: Tier) -> tuple[str, ...]:
    return tuple(f"{part:>20}" if isinstance(part, int) else str(part) for part in tier)
