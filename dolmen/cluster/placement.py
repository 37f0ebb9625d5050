"""The rings the client places names with, reloaded when their files change, and replica order (pure parts).

Rings: `account.ring`, `container.ring`, `object.ring` (policy 0) and `object-N.ring` in
ring_dir, all under the cluster's placement key. Registers are placed by the account ring
(see `register_partition`): its devices hold small, synced metadata records, which is what a
register is, and its partitions are few enough that acceptor state stays compact.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

from dolmen.errors import ConfigError, DolmenError
from dolmen.ring.devices import Device
from dolmen.ring.placement import partition_of
from dolmen.ring.ring import Ring
from dolmen.ring.ringfile import ring_file_name

log = logging.getLogger("dolmen.cluster")

REGISTER_HASH_PREFIX = b"/.registers/"


def node_of(device: Device) -> str:
    """The node (ip:port) a device is served by: one storage node process."""
    return device.host


def quorum_size(replicas: int) -> int:
    """Replicas that must agree: a strict majority, so any two quorums overlap (R + W > N)."""
    assert replicas >= 1
    return replicas // 2 + 1


def affinity_order(devices: Iterable[Device], *, region: int | None, zone: int | None) -> list[Device]:
    """`devices` with the preferred region and zone first (stable: ring order otherwise)."""

    def rank(device: Device) -> int:
        if region is None or device.region != region:
            return 2
        return 0 if zone is not None and device.zone == zone else 1

    return sorted(devices, key=rank)


def replica_headers(prefix: str, ring: Ring, partition: int, index: int) -> dict[str, str]:
    """X-Backend-<prefix>-Host, -Device and -Partition naming replica `index` of `partition`:
    replica i of an object updates replica i of its container (Swift's 1:1 mapping)."""
    devices = ring.primaries(partition)
    device = devices[index % len(devices)]
    return {
        f"X-Backend-{prefix}-Host": node_of(device),
        f"X-Backend-{prefix}-Device": device.device,
        f"X-Backend-{prefix}-Partition": str(partition),
    }


class Rings:
    """Every ring of the cluster, by role; `watch` reloads them when their files change."""

    def __init__(self, ring_dir: Path, placement_key: bytes) -> None:
        self.ring_dir = ring_dir
        self.placement_key = placement_key
        self.account = self._load("account")
        self.container = self._load("container")
        self._objects: dict[int, Ring] = {0: self._load("object")}

    def _load(self, role: str, policy: int = 0) -> Ring:
        path = self.ring_dir / ring_file_name(role, policy)
        try:
            return Ring.load(path, self.placement_key)
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such ring file") from None
        except DolmenError as error:
            raise ConfigError(f"{path}: {error}") from None

    def object(self, policy_index: int = 0) -> Ring:
        ring = self._objects.get(policy_index)
        if ring is None:
            ring = self._objects[policy_index] = self._load("object", policy_index)
        return ring

    def register_partition(self, key: bytes) -> tuple[int, list[Device]]:
        """(partition, acceptors) of a register key: the account ring's primaries of its hash."""
        ring = self.account
        partition = partition_of(self.placement_key, ring.part_power, REGISTER_HASH_PREFIX + key)
        return partition, ring.primaries(partition)

    def all_rings(self) -> list[Ring]:
        return [self.account, self.container, *self._objects.values()]

    async def watch(self, interval_s: float) -> None:
        """Reload changed ring files every `interval_s` until cancelled (stat and read in a thread)."""
        while True:
            await asyncio.sleep(interval_s)
            for ring in self.all_rings():
                try:
                    if await asyncio.to_thread(ring.reload_if_changed):
                        log.info("ring.reloaded", extra={"version": ring.version})
                except Exception:  # a bad new file: keep serving with the ring we have
                    log.exception("ring.reload_failed")
