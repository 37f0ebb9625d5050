"""The storage node's configuration: the [storage-node] table of its TOML file.

Defaults live here and nowhere else. Example:

    [storage-node]
    bind_ip = "10.0.0.5"
    bind_port = 6200
    devices_dir = "/srv/dolmen"
    devices = ["d1", "d2"]
    cluster_secret_file = "/etc/dolmen/cluster.secret"
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from dolmen.storage_node.device import DeviceConfig

from dolmen.config import load_config
from dolmen.limits import DEVICE_NAME_BYTES_MAX

SECTION = "storage-node"
DEVICE_NAME = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9._-]{{0,{DEVICE_NAME_BYTES_MAX - 1}}}")


@dataclass(frozen=True, kw_only=True)
class StorageNodeConfig:
    """[storage-node] in storage-node.toml. Units are in the names; every time is in seconds."""

    # Where to listen. The storage network is not trusted: requests are signed anyway.
    bind_ip: str = "127.0.0.1"
    bind_port: int = 6200
    # The address the rings give this node's devices, when bind_ip does not say it: bind_ip is a
    # wildcard (0.0.0.0, ::) and the kernel lets any address be bound, or a host name, or the
    # rings use another of the machine's addresses. Default: bind_ip (for a wildcard: any address
    # of the machine). Container updates for a replica at this address are applied in place
    # (storage-node/own_address.py).
    ring_ip: str | None = None
    # One directory per device under devices_dir; `devices` lists the ones this node serves.
    devices_dir: Path = Path("/srv/dolmen")
    devices: tuple[str, ...]
    # Refuse to use a device directory that is not a mount point (so a missing disk does not
    # fill the root filesystem). Off for tests and single-disk development machines.
    mount_check: bool = False
    # Hex cluster secret (`dolmen.keys`); request signing keys derive from it.
    cluster_secret_file: Path
    # Key ids whose signatures are accepted (several during a key rotation).
    signing_key_ids: tuple[int, ...] = (0,)
    # Threads doing disk work per device: blocking syscalls never run on the event loop.
    disk_threads_per_device: int = 4
    # Threads running LMDB reads (records, listings) per device: Python work under the GIL,
    # where more threads only contend (storage-node/device.py, DeviceConfig).
    record_read_threads_per_device: int = 2
    # LMDB map per device: starts at this size, grows as needed up to the maximum (then 507).
    lmdb_map_size_bytes: int = 256 * 2**20
    lmdb_map_size_bytes_max: int = 64 * 2**30
    # Bodies up to this size live in the LMDB record (one commit, shared by concurrent writes);
    # larger ones are files. 16 KiB: start point the issue gives; measure before raising.
    inline_body_bytes_max: int = 16 * 2**10
    # Bodies larger than this leave the kernel's page cache as they are written and read, as
    # Swift's keep_cache_size (storage-node/writeback.py: why).
    page_cache_body_bytes_max: int = 5 * 2**20
    # Free space kept per device so that deletes and tombstones still work on a full disk.
    free_space_reserve_bytes: int = 256 * 2**20
    # Concurrent small writes to a device share one LMDB commit: at most this many per commit.
    # Batches form by themselves: changes queue while the previous commit syncs.
    group_commit_records_max: int = 512
    # Tombstones older than this are removed (by the replicator's pass; a later issue).
    tombstone_reclaim_age_s: int = 7 * 86_400
    # Longest wait for the next bytes of a request body; a slower client gets 408 and nothing is stored.
    client_timeout_s: float = 60.0
    # Longest wait for a disk step (one write, one commit) before the request fails with 503.
    disk_timeout_s: float = 60.0
    # Idle keep-alive connections are closed after this long.
    keepalive_timeout_s: float = 75.0
    # On SIGTERM: stop accepting, give in-flight requests this long, then close the stores.
    shutdown_timeout_s: float = 30.0
    # Key id this node signs its own requests with (container updates, stats reports); it must be
    # one the receiving nodes accept. Default: the first of signing_key_ids.
    outbound_signing_key_id: int | None = None
    # An object PUT or DELETE waits this long for its container update before answering `queued`.
    container_update_timeout_s: float = 1.0
    # The updater retries a queued container update after this, doubling up to the maximum.
    container_update_backoff_s: float = 1.0
    container_update_backoff_s_max: float = 30.0
    # The updater looks for due container updates this often (at once again after a full batch).
    container_updater_interval_s: float = 1.0
    # Container updates and stats reports in flight at once per device.
    container_updater_concurrency: int = 8
    # A container replica reports changed stats to its account replica at most this long after
    # the change while the account replica answers (the account listing's bounded lag).
    account_update_interval_s: float = 5.0
    # Connections the kernel queues before the node accepts them.
    listen_backlog: int = 1024
    log_level: str = "info"

    def __post_init__(self) -> None:
        if not self.devices:
            raise ValueError("devices must list at least one device")
        for device in self.devices:
            if not DEVICE_NAME.fullmatch(device):
                raise ValueError(f"device name {device!r} must match {DEVICE_NAME.pattern}")
        if len(set(self.devices)) != len(self.devices):
            raise ValueError("devices are listed twice")
        if not 0 < self.bind_port < 65536 and self.bind_port != 0:
            raise ValueError("bind_port must be 0 (any free port) .. 65535")
        if self.ring_ip is not None:
            try:
                ring_ip = ipaddress.ip_address(self.ring_ip)
            except ValueError:
                raise ValueError(f"ring_ip must be an IPv4 or IPv6 address, not {self.ring_ip!r}") from None
            if ring_ip.is_unspecified:
                raise ValueError("ring_ip must be one address, not a wildcard")
        if not self.signing_key_ids or any(not 0 <= key_id < 2**31 for key_id in self.signing_key_ids):
            raise ValueError("signing_key_ids must list key ids 0 .. 2**31 - 1")
        if not 1 <= self.disk_threads_per_device <= 64:
            raise ValueError("disk_threads_per_device must be 1 .. 64")
        if not 1 <= self.record_read_threads_per_device <= 64:
            raise ValueError("record_read_threads_per_device must be 1 .. 64")
        if not 2**20 <= self.lmdb_map_size_bytes <= self.lmdb_map_size_bytes_max:
            raise ValueError("need 1 MiB <= lmdb_map_size_bytes <= lmdb_map_size_bytes_max")
        if not 0 <= self.inline_body_bytes_max <= 2**20:
            raise ValueError("inline_body_bytes_max must be 0 .. 1 MiB")
        if (
            min(self.free_space_reserve_bytes, self.tombstone_reclaim_age_s, self.page_cache_body_bytes_max)
            < 0
        ):
            raise ValueError(
                "free_space_reserve_bytes, tombstone_reclaim_age_s and page_cache_body_bytes_max must be >= 0"
            )
        if not 1 <= self.group_commit_records_max <= 10_000:
            raise ValueError("group_commit_records_max must be 1 .. 10000")
        if self.outbound_signing_key_id is not None and not 0 <= self.outbound_signing_key_id < 2**31:
            raise ValueError("outbound_signing_key_id must be 0 .. 2**31 - 1")
        if self.container_update_backoff_s > self.container_update_backoff_s_max:
            raise ValueError("container_update_backoff_s must be at most container_update_backoff_s_max")
        if not 1 <= self.container_updater_concurrency <= 256:
            raise ValueError("container_updater_concurrency must be 1 .. 256")
        for name in (
            "client_timeout_s",
            "disk_timeout_s",
            "keepalive_timeout_s",
            "shutdown_timeout_s",
            "container_update_timeout_s",
            "container_update_backoff_s",
            "container_update_backoff_s_max",
            "container_updater_interval_s",
            "account_update_interval_s",
        ):
            if not 0 < getattr(self, name) <= 3600:
                raise ValueError(f"{name} must be > 0 and at most 3600")
        if not 1 <= self.listen_backlog <= 65_535:
            raise ValueError("listen_backlog must be 1 .. 65535")
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise ValueError("log_level must be debug, info, warning or error")


def outbound_key_id(config: StorageNodeConfig) -> int:
    """The key id this node signs its own requests with."""
    if config.outbound_signing_key_id is not None:
        return config.outbound_signing_key_id
    return config.signing_key_ids[0]


def load_storage_node_config(path: Path | str) -> StorageNodeConfig:
    """Read the [storage-node] table of `path`; ConfigError on unknown keys or wrong types."""
    return load_config(path, StorageNodeConfig, section=SECTION)


def device_config(config: StorageNodeConfig) -> DeviceConfig:
    """The engine's settings for each device, from the node's."""
    return DeviceConfig(
        lmdb_map_size_bytes=config.lmdb_map_size_bytes,
        lmdb_map_size_bytes_max=config.lmdb_map_size_bytes_max,
        disk_threads=config.disk_threads_per_device,
        record_read_threads=config.record_read_threads_per_device,
        inline_body_bytes_max=config.inline_body_bytes_max,
        page_cache_body_bytes_max=config.page_cache_body_bytes_max,
        free_space_reserve_bytes=config.free_space_reserve_bytes,
        group_commit_records_max=config.group_commit_records_max,
        tombstone_reclaim_age_s=config.tombstone_reclaim_age_s,
        mount_check=config.mount_check,
    )
