"""A development cluster: rings, a cluster secret and real `dolmen storage-node` processes on loopback.

Layout of the data directory (reused as is when a launcher starts again on it):

    <data>/lock                  flock'ed while a launcher runs: one launcher per directory
    <data>/devcluster.json       the layout it was built with (a restart must ask for the same)
    <data>/cluster.secret        the cluster secret (hex, mode 0600)
    <data>/rings/{account,container,object}.{ring,builder}
    <data>/node<i>/storage-node.toml, node.log, devices/d<j>/

Node i listens on 127.0.0.1:(base_port + i) and serves devices d1..dM. Nodes are
spread over `zones` zones (one per node by default) in `regions` regions.

No state here is bound to an event loop (processes are plain `subprocess.Popen`),
so a launcher started under one loop may be stopped under another: test fixtures
start one cluster for a whole session.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from dolmen.cluster.config import ClusterClientConfig
from dolmen.errors import DolmenError
from dolmen.keys import SECRET_FILE_NAME, key_fingerprint, placement_key, read_or_create_secret
from dolmen.ring.builder import Builder, rebalance
from dolmen.ring.builderfile import save_builder
from dolmen.ring.devices import Device
from dolmen.ring.ringfile import RingData, write_ring

RING_ROLES = ("account", "container", "object")
LOOPBACK_IP = "127.0.0.1"
# A child that outlives its launcher would hold ports and disks: ask the kernel to stop it
# (SIGTERM) when the launcher dies. The prctl runs in the child right before exec.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys; "
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM); "  # PR_SET_PDEATHSIG
    "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"
)


class DevClusterError(DolmenError):
    """The development cluster cannot start: its directory is in use, its layout differs, a node failed."""


class DevCluster:
    """Builds (once) and runs a cluster of `nodes` storage nodes with `devices_per_node` devices each.

    `node_settings` are extra [storage-node] settings for every node. `startup_timeout_s`
    bounds each wait for nodes to answer /healthcheck; `stop_timeout_s` each graceful stop
    before SIGKILL. With `stop_with_parent` (the default) nodes get SIGTERM if the
    launching process dies (Linux).
    """

    def __init__(
        self,
        data_dir: Path | str,
        base_port: int,
        *,
        nodes: int = 3,
        devices_per_node: int = 2,
        replicas: int = 3,
        zones: int | None = None,
        regions: int = 1,
        part_power: int = 8,
        node_settings: dict[str, Any] | None = None,
        startup_timeout_s: float = 30.0,
        stop_timeout_s: float = 15.0,
        stop_with_parent: bool = True,
    ) -> None:
        assert nodes >= 1 and devices_per_node >= 1 and regions >= 1
        assert 1 <= replicas <= nodes * devices_per_node
        assert base_port >= 1 and base_port + nodes - 1 <= 65_535
        self.data_dir = Path(data_dir).resolve()
        self.base_port = base_port
        self.nodes = nodes
        self.devices_per_node = devices_per_node
        self.replicas = replicas
        self.zones = nodes if zones is None else zones
        self.regions = regions
        self.part_power = part_power
        self.node_settings = dict(node_settings or {})
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.stop_with_parent = stop_with_parent
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * nodes
        self._lock_fd: int | None = None

    # --- layout ---------------------------------------------------------------

    @property
    def ports(self) -> list[int]:
        return [self.base_port + index for index in range(self.nodes)]

    @property
    def ring_dir(self) -> Path:
        return self.data_dir / "rings"

    @property
    def secret_file(self) -> Path:
        return self.data_dir / SECRET_FILE_NAME

    def node_dir(self, index: int) -> Path:
        return self.data_dir / f"node{index}"

    def devices_dir(self, index: int) -> Path:
        return self.node_dir(index) / "devices"

    def device_names(self) -> list[str]:
        return [f"d{number}" for number in range(1, self.devices_per_node + 1)]

    def node_url(self, index: int) -> str:
        return f"http://{LOOPBACK_IP}:{self.ports[index]}"

    def log_path(self, index: int) -> Path:
        return self.node_dir(index) / "node.log"

    def zone_of(self, index: int) -> tuple[int, int]:
        """(region, zone) of node `index`: round-robin over regions, then over zones."""
        return index % self.regions + 1, index % self.zones + 1

    def _layout(self) -> dict[str, Any]:
        return {
            "base_port": self.base_port,
            "nodes": self.nodes,
            "devices_per_node": self.devices_per_node,
            "replicas": self.replicas,
            "zones": self.zones,
            "regions": self.regions,
            "part_power": self.part_power,
        }

    def client_config(self, **overrides: Any) -> ClusterClientConfig:
        """A cluster client configuration for this cluster (`overrides` set other fields)."""
        return ClusterClientConfig(ring_dir=self.ring_dir, cluster_secret_file=self.secret_file, **overrides)

    # --- running -------------------------------------------------------------

    async def start(self) -> None:
        """Lock the data directory, build rings and secret if new, start every node and wait for all.

        Raises DevClusterError if another launcher holds the directory, the stored layout
        differs from this one, or a node does not come up (the others are stopped again).
        """
        self._lock()
        try:
            self._build_once()
            for index in range(self.nodes):
                self._write_node_config(index)
                self._launch(index)
            await asyncio.gather(*(self._wait_healthy(index) for index in range(self.nodes)))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every node gracefully (SIGKILL after stop_timeout_s) and unlock the directory."""
        try:
            await asyncio.gather(*(self.stop_node(index) for index in range(self.nodes)))
        finally:
            self._unlock()

    async def stop_node(self, index: int) -> None:
        """SIGTERM node `index` and wait for it to exit (SIGKILL after stop_timeout_s)."""
        process = self._processes[index]
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes[index] = None

    async def start_node(self, index: int) -> None:
        """Start node `index` again (same port, config and devices) and wait until it answers."""
        assert self._lock_fd is not None, "start the cluster first"
        if self.is_running(index):
            return
        self._launch(index)
        await self._wait_healthy(index)

    def kill_node(self, index: int) -> None:
        """SIGKILL node `index` and reap it: a crash, with no graceful shutdown."""
        process = self._processes[index]
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        self._processes[index] = None

    def is_running(self, index: int) -> bool:
        process = self._processes[index]
        return process is not None and process.poll() is None

    def pid(self, index: int) -> int | None:
        process = self._processes[index]
        return process.pid if process is not None else None

    # --- internals -----------------------------------------------------------

    def _lock(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DevClusterError(f"{self.data_dir} is in use by another running cluster") from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _build_once(self) -> None:
        """Write the secret, the layout and the three rings the first time; check the layout after."""
        layout_path = self.data_dir / "devcluster.json"
        if layout_path.exists():
            stored = json.loads(layout_path.read_text())
            if stored != self._layout():
                raise DevClusterError(f"{self.data_dir} holds another cluster layout: {stored}")
            return
        secret = read_or_create_secret(self.secret_file)
        fingerprint = key_fingerprint(placement_key(secret))
        self.ring_dir.mkdir(exist_ok=True)
        for role in RING_ROLES:
            builder = Builder(
                part_power=self.part_power,
                replicas=self.replicas,
                min_part_hours=0,
                placement_fingerprint=fingerprint,
            )
            for index in range(self.nodes):
                region, zone = self.zone_of(index)
                for device in self.device_names():
                    builder = builder.add_device(
                        Device(
                            id=-1,
                            region=region,
                            zone=zone,
                            ip=LOOPBACK_IP,
                            port=self.ports[index],
                            device=device,
                            weight=100.0,
                        )
                    )
            builder, _ = rebalance(builder, now_s=time.time(), seed=0, force=True)
            save_builder(self.ring_dir / f"{role}.builder", builder)
            write_ring(self.ring_dir / f"{role}.ring", RingData.from_builder(builder))
        # Written last: its presence says the cluster was built completely.
        temporary = layout_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._layout(), indent=2) + "\n")
        os.replace(temporary, layout_path)

    def _write_node_config(self, index: int) -> None:
        node_dir = self.node_dir(index)
        self.devices_dir(index).mkdir(parents=True, exist_ok=True)
        settings: dict[str, Any] = {
            "bind_ip": LOOPBACK_IP,
            "bind_port": self.ports[index],
            "devices_dir": str(self.devices_dir(index)),
            "devices": self.device_names(),
            "cluster_secret_file": str(self.secret_file),
            # Development machines share one small disk: no reserve, a small first LMDB map.
            "free_space_reserve_bytes": 0,
            "lmdb_map_size_bytes": 32 * 2**20,
            "shutdown_timeout_s": 5.0,
            # Development machines are shared and noisy: an update that takes longer than the
            # production default under load would fail writes that a quiet cluster acknowledges.
            "container_update_timeout_s": 10.0,
        } | self.node_settings
        lines = ["[storage-node]"] + [f"{name} = {_toml_value(value)}" for name, value in settings.items()]
        (node_dir / "storage-node.toml").write_text("\n".join(lines) + "\n")

    def _launch(self, index: int) -> None:
        assert not self.is_running(index)
        config = self.node_dir(index) / "storage-node.toml"
        command = [sys.executable, "-m", "dolmen", "storage-node", "--config", str(config)]
        if self.stop_with_parent and sys.platform == "linux":
            command = [sys.executable, "-c", _DIE_WITH_PARENT, *command[1:]]
        with open(self.log_path(index), "ab") as log:
            self._processes[index] = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    async def _wait_healthy(self, index: int) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = self.node_url(index) + "/healthcheck"
        timeout = aiohttp.ClientTimeout(total=1.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                process = self._processes[index]
                assert process is not None
                if process.poll() is not None:
                    raise DevClusterError(
                        f"node {index} exited with status {process.returncode}:\n{self.log_tail(index)}"
                    )
                try:
                    async with session.get(url) as answer:
                        if answer.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise DevClusterError(f"node {index} did not answer in time:\n{self.log_tail(index)}")
                await asyncio.sleep(0.05)

    def log_tail(self, index: int, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path(index).read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise AssertionError(f"no TOML form for {value!r}")
