"""The ring services use: name -> partition -> primary devices, then handoffs.

`Ring` answers from memory; it never touches the disk while answering. Services
call `reload_if_changed()` from a periodic task (every RING_RELOAD_CHECK_INTERVAL_S),
which stats the file and swaps in the new table when it changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from dolmen.ring.devices import Device
from dolmen.ring.errors import PlacementKeyMismatch
from dolmen.ring.placement import name_path, partition_of
from dolmen.ring.ringfile import RingData, read_ring

from dolmen.keys import key_fingerprint

_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


class Ring:
    """One role's ring (account, container, or one object policy) loaded from a ring file."""

    def __init__(self, data: RingData, placement_key: bytes, *, path: Path | None = None) -> None:
        if data.placement_fingerprint != key_fingerprint(placement_key):
            where = f"{path}: " if path else ""
            raise PlacementKeyMismatch(
                f"{where}this ring was built for another cluster (placement key fingerprint "
                f"{data.placement_fingerprint}, ours is {key_fingerprint(placement_key)})"
            )
        self._placement_key = placement_key
        self._path = path
        self._file_identity = _file_identity(path) if path else None
        self._install(data)

    @classmethod
    def load(cls, path: Path | str, placement_key: bytes) -> Ring:
        path = Path(path)
        return cls(read_ring(path), placement_key, path=path)

    def _install(self, data: RingData) -> None:
        self.data = data
        ids = np.array(sorted(data.devices), dtype=np.int64)
        self._device_ids = ids
        self._device_salts = _mix(ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
        self._primaries: dict[int, tuple[Device, ...]] = {}  # filled as asked: at most one per partition

    # --- answers ------------------------------------------------------------

    @property
    def part_power(self) -> int:
        return self.data.part_power

    @property
    def partition_count(self) -> int:
        return self.data.partition_count

    @property
    def replicas(self) -> int:
        return self.data.replicas

    @property
    def version(self) -> int:
        return self.data.version

    @property
    def devices(self) -> list[Device]:
        return [self.data.devices[device_id] for device_id in sorted(self.data.devices)]

    def partition(self, account: str, container: str | None = None, obj: str | None = None) -> int:
        return partition_of(self._placement_key, self.data.part_power, name_path(account, container, obj))

    def primaries(self, partition: int) -> list[Device]:
        """The `replicas` devices of a partition, replica 0 first."""
        primaries = self._primaries.get(partition)
        if primaries is None:
            assert 0 <= partition < self.data.partition_count, partition
            primaries = tuple(
                self.data.devices[int(device_id)] for device_id in self.data.assignment[:, partition]
            )
            self._primaries[partition] = primaries
        return list(primaries)

    def get_nodes(
        self, account: str, container: str | None = None, obj: str | None = None
    ) -> tuple[int, list[Device]]:
        """(partition, primary devices) of a name."""
        partition = self.partition(account, container, obj)
        return partition, self.primaries(partition)

    def handoffs(self, partition: int) -> Iterator[Device]:
        """Every other device, in an order fixed per partition that favours new failure domains:
        first one device in each region the primaries do not use, then in each unused zone, then
        each unused host, then the rest. Every node computes the same order."""
        primaries = self.primaries(partition)
        used_ids = {device.id for device in primaries}
        used = [
            {tier[: level + 1] for tier in (device.tiers[3] for device in primaries)} for level in range(3)
        ]
        keys = _mix(self._device_salts ^ np.uint64(partition))
        candidates = [
            self.data.devices[int(device_id)]
            for device_id in self._device_ids[np.argsort(keys, kind="stable")]
            if int(device_id) not in used_ids
        ]
        for level in range(3):  # region, zone, host
            for device in candidates:
                tier = device.tiers[3][: level + 1]
                if device.id not in used_ids and tier not in used[level]:
                    used_ids.add(device.id)
                    for deeper in range(level, 3):
                        used[deeper].add(device.tiers[3][: deeper + 1])
                    yield device
        for device in candidates:
            if device.id not in used_ids:
                used_ids.add(device.id)
                yield device

    # --- reloading ---------------------------------------------------------

    def reload_if_changed(self) -> bool:
        """Re-read the ring file if it changed on disk; True if a new ring was installed.

        Blocking (a stat, and a read when changed): call it from a thread or a periodic task,
        never on a request's path. A new file with another placement key is refused.
        """
        if self._path is None:
            return False
        identity = _file_identity(self._path)
        if identity == self._file_identity:
            return False
        data = read_ring(self._path)
        if data.placement_fingerprint != key_fingerprint(self._placement_key):
            raise PlacementKeyMismatch(f"{self._path}: the new ring was built for another cluster")
        self._install(data)
        self._file_identity = identity
        return True


def _file_identity(path: Path) -> tuple[int, int, int, int]:
    stat = os.stat(path)
    return (stat.st_ino, stat.st_dev, stat.st_size, stat.st_mtime_ns)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise: a cheap, well-spread permutation of 64-bit values."""
    with np.errstate(over="ignore"):
        values = values.astype(np.uint64)
        values = (values ^ (values >> np.uint64(30))) * _MIX_1
        values = (values ^ (values >> np.uint64(27))) * _MIX_2
        return values ^ (values >> np.uint64(31))
