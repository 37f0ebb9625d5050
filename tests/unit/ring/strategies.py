"""Hypothesis strategies for ring topologies, and a naive oracle for what the weights allow."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dolmen.ring.builder import Builder
from dolmen.ring.devices import Device
from hypothesis import strategies as st


@dataclass(frozen=True)
class Layout:
    part_power: int
    replicas: int
    devices: tuple[Device, ...]

    def builder(self, **kwargs: object) -> Builder:
        builder = Builder(part_power=self.part_power, replicas=self.replicas, **kwargs)  # type: ignore[arg-type]
        for device in self.devices:
            builder = builder.add_device(device)
        return builder


@st.composite
def layouts(
    draw: st.DrawFn,
    *,
    weights: st.SearchStrategy[float] | None = None,
    max_devices: int = 24,
    part_powers: tuple[int, int] = (6, 9),
) -> Layout:
    weight_strategy = weights or st.sampled_from([50.0, 100.0, 100.0, 100.0, 150.0, 200.0])
    regions = draw(st.integers(1, 3))
    devices: list[Device] = []
    for region in range(1, regions + 1):
        for zone in range(1, draw(st.integers(1, 4)) + 1):
            for host in range(1, draw(st.integers(1, 3)) + 1):
                for disk in range(1, draw(st.integers(1, 3)) + 1):
                    if len(devices) >= max_devices:
                        break
                    devices.append(
                        Device(
                            id=len(devices),
                            region=region,
                            zone=zone,
                            ip=f"10.{region}.{zone}.{host}",
                            port=6200,
                            device=f"d{disk}",
                            weight=draw(weight_strategy),
                        )
                    )
    replicas = draw(st.integers(1, min(4, len(devices))))
    part_power = draw(st.integers(*part_powers))
    return Layout(part_power=part_power, replicas=replicas, devices=tuple(devices))


def device_beside(neighbour: Device, *, ip: str, device: str, weight: float) -> Device:
    """A new device (id to be assigned) on a new host in the neighbour's region and zone."""
    return Device(
        id=-1, region=neighbour.region, zone=neighbour.zone, ip=ip, port=6200, device=device, weight=weight
    )


def weights_allow_balance(devices: list[Device], replicas: int) -> bool:
    """A naive oracle from weights alone: True when, under every parent, the children's weight
    shares fit within the strictest dispersion caps their parent's share can satisfy (one
    replica per child; per zone below it, evenly spread or not; per host; per device), so that
    dispersion never has to overrule weight."""
    total = sum(device.weight for device in devices)
    share: dict[tuple[object, ...], float] = {}
    children: dict[tuple[object, ...], set[tuple[object, ...]]] = {}
    below: dict[tuple[object, ...], list[set[tuple[object, ...]]]] = {}
    for device in devices:
        parent: tuple[object, ...] = ()
        share[()] = float(replicas)
        for level, tier in enumerate(device.tiers):
            share[tier] = share.get(tier, 0.0) + replicas * device.weight / total
            children.setdefault(parent, set()).add(tier)
            for outer in [(), *device.tiers[: level + 1]]:
                below.setdefault(outer, [set(), set(), set(), set()])[level].add(tier)
            parent = tier
    for parent, kids in children.items():
        ordered = sorted(kids, key=str)
        even = math.ceil(math.ceil(share[parent] - 1e-9) / len(ordered))
        own_level = len(ordered[0]) - 1
        options = []
        for deeper in range(own_level, 4):
            spread = [len(below[kid][deeper]) for kid in ordered]
            options += [[min(even, n) for n in spread], spread]
        caps = next(option for option in options if sum(option) >= share[parent] - 1e-9)
        if any(share[kid] > cap + 1e-9 for kid, cap in zip(ordered, caps, strict=True)):
            return False
    return True
