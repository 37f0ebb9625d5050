"""`dolmen up` and `dolmen down`: an all-in-one cluster on loopback, for a laptop, a test or a benchmark.

`dolmen up` starts, under one data directory (default ./dolmen-data, locked
while running), the storage nodes of `dolmen.devcluster` (rings, cluster secret),
identity (bootstrapped with an admin the first time) and the proxy (Swift and
S3), prints the endpoints, the admin credentials and an example command, and
writes `openrc` and `s3.env` there. Ctrl-C (or SIGTERM) stops everything;
running it again resumes with the same data and credentials. `--detach` returns once every service answers;
`dolmen down --data DIR` stops a detached cluster.

Ports, from `--port P` (default 8080), consecutive: the proxy P, identity P+1,
the S3 API P+2, storage nodes P+3 onwards.

Files in the data directory, beside the cluster's own (see dolmen.devcluster):

    up.json         the options the cluster was made with (nodes, devices, port)
    admin.json      the admin's credentials (mode 0600), its S3 (EC2) key made once
    openrc          OS_* variables for `openstack` and `swift`
    s3.env          AWS_* variables for S3 clients (boto3, aws, ...)
    identity.toml, proxy.toml, identity.log, proxy.log, up.log
    up.pid          the pid of a running `dolmen up` (detached or not)
    endpoints.json  written once every service answers; removed at stop
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import string
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from dolmen.errors import DolmenError

DEFAULT_DATA_DIR = Path("dolmen-data")
DEFAULT_PORT = 8080
DEFAULT_NODES = 3
DEFAULT_DEVICES_PER_NODE = 2
REPLICAS = 3
LOOPBACK_IP = "127.0.0.1"
ADMIN_USER = "admin"
ADMIN_PROJECT = "admin"
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_CHARACTERS = 24
REGION = "RegionOne"
S3_REGION = "us-east-1"
ACCOUNT_UPDATE_INTERVAL_S = 1.0
SERVICE_START_TIMEOUT_S = 60.0
SERVICE_STOP_TIMEOUT_S = 20.0
DETACH_TIMEOUT_S = 180.0
DOWN_TIMEOUT_S = 60.0
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys; "
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM); "  # PR_SET_PDEATHSIG
    "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"
)


class UpError(DolmenError):
    """`dolmen up` cannot start or `dolmen down` cannot stop: the message says why."""


@dataclass(frozen=True, kw_only=True)
class Layout:
    """What a data directory was made with; a restart must ask for the same."""

    port: int = DEFAULT_PORT
    nodes: int = DEFAULT_NODES
    devices_per_node: int = DEFAULT_DEVICES_PER_NODE

    @property
    def proxy_port(self) -> int:
        return self.port

    @property
    def identity_port(self) -> int:
        return self.port + 1

    @property
    def s3_port(self) -> int:
        return self.port + 2

    @property
    def node_base_port(self) -> int:
        return self.port + 3

    @property
    def last_port(self) -> int:
        return self.node_base_port + self.nodes - 1


def resolve_layout(
    stored: Layout | None, *, port: int | None, nodes: int | None, devices: int | None
) -> Layout:
    """The layout to run: the stored one, unless the options ask for another (UpError explains why not)."""
    if stored is None:
        layout = Layout(
            port=DEFAULT_PORT if port is None else port,
            nodes=DEFAULT_NODES if nodes is None else nodes,
            devices_per_node=DEFAULT_DEVICES_PER_NODE if devices is None else devices,
        )
        if layout.nodes < 1 or layout.devices_per_node < 1:
            raise UpError("--nodes and --devices-per-node must be at least 1")
        if layout.nodes * layout.devices_per_node < REPLICAS:
            raise UpError(f"{REPLICAS} replicas need at least {REPLICAS} devices in all")
        if not layout.port >= 1 or layout.last_port > 65_535:
            raise UpError(f"ports {layout.port}..{layout.last_port} do not fit below 65536")
        return layout
    if nodes is not None and nodes != stored.nodes:
        raise UpError(
            f"this data directory holds a cluster of {stored.nodes} storage nodes; changing it to {nodes} "
            "would move data between nodes, which needs the self-healing work (a replicator) that Dolmen "
            f"does not have yet. Run with --nodes {stored.nodes}, or use another --data directory."
        )
    if devices is not None and devices != stored.devices_per_node:
        raise UpError(
            f"this data directory holds {stored.devices_per_node} devices per node; changing it to {devices} "
            f"would move data (no replicator yet). Run with --devices-per-node {stored.devices_per_node}, "
            "or use another --data directory."
        )
    if port is not None and port != stored.port:
        raise UpError(
            f"this data directory's rings place data on ports from {stored.port}; run with --port "
            f"{stored.port} (or without --port), or use another --data directory."
        )
    return stored


def openrc_text(layout: Layout, admin: dict[str, str]) -> str:
    """The OS_* variables of the admin, for `openstack` and `swift` (Keystone v3 auth)."""
    password = admin["password"]
    return "\n".join(
        [
            "# Dolmen all-in-one: source this file, then run `openstack` or `swift`.",
            f"export OS_AUTH_URL=http://{LOOPBACK_IP}:{layout.identity_port}/v3",
            "export OS_IDENTITY_API_VERSION=3",
            "export OS_AUTH_TYPE=password",
            f"export OS_USERNAME={admin['user']}",
            f"export OS_PASSWORD={password}",
            f"export OS_PROJECT_NAME={admin['project']}",
            "export OS_USER_DOMAIN_NAME=Default",
            "export OS_PROJECT_DOMAIN_NAME=Default",
            f"export OS_REGION_NAME={REGION}",
            "export OS_INTERFACE=public",
            "# Endpoints (ports are consecutive from the first):",
            f"export DOLMEN_PROXY_URL=http://{LOOPBACK_IP}:{layout.proxy_port}",
            f"export DOLMEN_IDENTITY_URL=http://{LOOPBACK_IP}:{layout.identity_port}",
            f"export DOLMEN_STORAGE_NODE_PORTS={layout.node_base_port}-{layout.last_port}",
            "# Swift v1 auth, for tools that use it (not exported: swift would prefer it over v3):",
            f"#   swift -A http://{LOOPBACK_IP}:{layout.proxy_port}/auth/v1.0 "
            f"-U {admin['project']}:{admin['user']} -K {password} stat",
            "",
        ]
    )


def s3_env_text(layout: Layout, admin: dict[str, str]) -> str:
    return "\n".join(
        [
            "# S3 clients (boto3, aws, s3cmd, rclone): source this file; the admin's EC2 credentials.",
            f"export AWS_ACCESS_KEY_ID={admin['s3_access_key']}",
            f"export AWS_SECRET_ACCESS_KEY={admin['s3_secret_key']}",
            f"export AWS_ENDPOINT_URL=http://{LOOPBACK_IP}:{layout.s3_port}",
            f"export AWS_DEFAULT_REGION={S3_REGION}",
            "",
        ]
    )


def summary_text(layout: Layout, admin: dict[str, str], data_dir: Path) -> str:
    return "\n".join(
        [
            f"Dolmen is up ({layout.nodes} storage nodes x {layout.devices_per_node} devices, {REPLICAS} replicas).",
            f"  Swift API   http://{LOOPBACK_IP}:{layout.proxy_port}/v1/AUTH_<project_id>",
            f"  v1 auth     http://{LOOPBACK_IP}:{layout.proxy_port}/auth/v1.0",
            f"  S3 API      http://{LOOPBACK_IP}:{layout.s3_port} (region {S3_REGION}, keys in s3.env)",
            f"  identity    http://{LOOPBACK_IP}:{layout.identity_port}/v3",
            f"  nodes       {LOOPBACK_IP}:{layout.node_base_port}..{layout.last_port}",
            f"  admin       user {admin['user']}, project {admin['project']}, password {admin['password']}",
            f"  data        {data_dir}",
            "Try:",
            f"  source {data_dir / 'openrc'}",
            "  openstack container create photos && swift upload photos README.md && swift list photos",
            f"  source {data_dir / 's3.env'}",
            "  aws s3 mb s3://pictures && aws s3 cp README.md s3://pictures/ && swift list pictures",
            "",
        ]
    )


# --- the cluster's life ------------------------------------------------------------


class AllInOne:
    """The services of one data directory: storage nodes, identity, proxy."""

    def __init__(self, data_dir: Path, layout: Layout, *, proxy_workers: int = 0) -> None:
        from dolmen.devcluster import DevCluster

        self.data_dir = data_dir
        self.layout = layout
        self.proxy_workers = proxy_workers
        self.cluster = DevCluster(
            data_dir,
            layout.node_base_port,
            nodes=layout.nodes,
            devices_per_node=layout.devices_per_node,
            replicas=REPLICAS,
            # Containers report their counts to the account this often: the lag of `swift stat`.
            node_settings={"account_update_interval_s": ACCOUNT_UPDATE_INTERVAL_S},
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def cluster_table(self) -> dict[str, Any]:
        return {"ring_dir": str(self.cluster.ring_dir), "cluster_secret_file": str(self.cluster.secret_file)}

    def write_configs(self) -> None:
        identity = {
            "bind_ip": LOOPBACK_IP,
            "bind_port": self.layout.identity_port,
            "public_url": f"http://{LOOPBACK_IP}:{self.layout.identity_port}/v3",
            "region": REGION,
        }
        proxy = {
            "bind_ip": LOOPBACK_IP,
            "bind_port": self.layout.proxy_port,
            "workers": self.proxy_workers,
            "public_url": f"http://{LOOPBACK_IP}:{self.layout.proxy_port}",
            "identity_url": f"http://{LOOPBACK_IP}:{self.layout.identity_port}",
        }
        _write_toml(self.data_dir / "identity.toml", {"identity": identity, "cluster": self.cluster_table()})
        s3 = {"bind_ip": LOOPBACK_IP, "bind_port": self.layout.s3_port, "region": S3_REGION}
        _write_toml(self.data_dir / "proxy.toml", {"proxy": proxy, "s3": s3, "cluster": self.cluster_table()})

    def admin_credentials(self) -> tuple[dict[str, str], bool]:
        """The admin's credentials, made (and stored, mode 0600) the first time; (creds, new)."""
        path = self.data_dir / "admin.json"
        if path.exists():
            return json.loads(path.read_text()), False
        admin = {"user": ADMIN_USER, "project": ADMIN_PROJECT, "password": new_password()}
        _write_private(path, json.dumps(admin, indent=2) + "\n")
        return admin, True

    async def bootstrap(self, admin: dict[str, str]) -> None:
        """Create the admin, roles and catalog in identity's store (first start only; idempotent)."""
        proxy = f"http://{LOOPBACK_IP}:{self.layout.proxy_port}"
        identity = f"http://{LOOPBACK_IP}:{self.layout.identity_port}"
        command = [
            sys.executable, "-m", "dolmen", "identity", "bootstrap",
            "--config", str(self.data_dir / "identity.toml"),
            f"--admin-password={admin['password']}",
            "--public-url", f"identity={identity}/v3",
            "--internal-url", f"identity={identity}/v3",
            "--public-url", f"object-store={proxy}/v1/AUTH_$(project_id)s",
            "--internal-url", f"object-store={proxy}/v1/AUTH_$(project_id)s",
        ]  # fmt: skip
        result = await asyncio.to_thread(
            subprocess.run,
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=SERVICE_START_TIMEOUT_S,
        )
        if result.returncode != 0:
            raise UpError("identity bootstrap failed:\n" + result.stderr.decode(errors="replace")[-2000:])

    async def s3_credentials(self, admin: dict[str, str]) -> dict[str, str]:
        """`admin` with its S3 (EC2) key: made through identity's API once, then stored in admin.json."""
        if "s3_access_key" in admin:
            return admin
        identity = f"http://{LOOPBACK_IP}:{self.layout.identity_port}/v3"
        scope = {"project": {"name": admin["project"], "domain": {"id": "default"}}}
        user = {"name": admin["user"], "domain": {"id": "default"}, "password": admin["password"]}
        auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}}, "scope": scope}}
        timeout = aiohttp.ClientTimeout(total=SERVICE_START_TIMEOUT_S)
        try:
            async with aiohttp.ClientSession(timeout=timeout, raise_for_status=True) as session:
                async with session.post(f"{identity}/auth/tokens", json=auth) as answer:
                    token = answer.headers["X-Subject-Token"]
                    issued = (await answer.json())["token"]
                user_id, project_id = issued["user"]["id"], issued["project"]["id"]
                async with session.post(
                    f"{identity}/users/{user_id}/credentials/OS-EC2",
                    json={"tenant_id": project_id},
                    headers={"X-Auth-Token": token},
                ) as answer:
                    credential = (await answer.json())["credential"]
        except (aiohttp.ClientError, TimeoutError) as error:
            raise UpError(f"cannot make the admin's S3 credentials with identity: {error}") from None
        admin = {**admin, "s3_access_key": credential["access"], "s3_secret_key": credential["secret"]}
        _write_private(self.data_dir / "admin.json", json.dumps(admin, indent=2) + "\n")
        return admin

    def launch(self, name: str, *args: str) -> None:
        command = [sys.executable, "-c", _DIE_WITH_PARENT, "-m", "dolmen", *args]
        with open(self.data_dir / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    async def wait_healthy(self, name: str, port: int, path: str) -> None:
        deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
        url = f"http://{LOOPBACK_IP}:{port}{path}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as session:
            while True:
                process = self.processes[name]
                if process.poll() is not None:
                    raise UpError(
                        f"{name} exited with status {process.returncode}:\n{_tail(self.data_dir / f'{name}.log')}"
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url) as answer:
                        if answer.status < 500:
                            return
                if time.monotonic() > deadline:
                    raise UpError(
                        f"{name} did not answer on port {port}:\n{_tail(self.data_dir / f'{name}.log')}"
                    )
                await asyncio.sleep(0.1)

    async def start(self) -> dict[str, str]:
        """Start everything (the data directory is locked from the first step); the admin's credentials."""
        await self.cluster.start()
        try:
            self.write_configs()
            admin, new = self.admin_credentials()
            if new or not (self.data_dir / "bootstrapped").exists():
                await self.bootstrap(admin)
                _write_private(self.data_dir / "bootstrapped", "")
            self.launch("identity", "identity", "serve", "--config", str(self.data_dir / "identity.toml"))
            await self.wait_healthy("identity", self.layout.identity_port, "/healthcheck")
            self.launch("proxy", "proxy", "--config", str(self.data_dir / "proxy.toml"))
            await self.wait_healthy("proxy", self.layout.proxy_port, "/healthcheck")
            await self.wait_healthy("proxy", self.layout.s3_port, "/")
            admin = await self.s3_credentials(admin)
            _write_private(self.data_dir / "openrc", openrc_text(self.layout, admin))
            _write_private(self.data_dir / "s3.env", s3_env_text(self.layout, admin))
            return admin
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the proxy, then identity, then the storage nodes; unlock the directory."""
        for name in ("proxy", "identity"):
            process = self.processes.pop(name, None)
            if process is not None:
                await asyncio.to_thread(_stop_process, process)
        await self.cluster.stop()


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(SERVICE_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _write_toml(path: Path, tables: dict[str, dict[str, Any]]) -> None:
    lines: list[str] = []
    for table, settings in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{name} = {json.dumps(value)}" for name, value in settings.items()]
        lines.append("")
    path.write_text("\n".join(lines))


def new_password() -> str:
    """A random password of 24 letters and digits (142 bits): safe as a command-line argument
    (a leading `-` would read as an option) and in shell examples, unquoted."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_CHARACTERS))


def _write_private(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _read_layout(data_dir: Path) -> Layout | None:
    path = data_dir / "up.json"
    if not path.exists():
        return None
    return Layout(**json.loads(path.read_text()))


async def run_foreground(data_dir: Path, layout: Layout, *, proxy_workers: int) -> None:
    """Run until SIGINT or SIGTERM, then stop everything."""
    everything = AllInOne(data_dir, layout, proxy_workers=proxy_workers)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    admin = await everything.start()
    pid_file = data_dir / "up.pid"
    try:
        pid_file.write_text(f"{os.getpid()}\n")
        (data_dir / "up.json").write_text(json.dumps(asdict(layout)) + "\n")
        summary = summary_text(layout, admin, data_dir)
        node_pids = [everything.cluster.pid(index) for index in range(layout.nodes)]
        endpoints = {"summary": summary, "pid": os.getpid(), "node_pids": node_pids}
        _write_private(data_dir / "endpoints.json", json.dumps(endpoints) + "\n")
        print(summary, flush=True)
        await stop.wait()
        print("Stopping...", flush=True)
    finally:
        for name in ("endpoints.json", "up.pid"):
            with contextlib.suppress(FileNotFoundError):
                (data_dir / name).unlink()
        await everything.stop()


def detach(data_dir: Path, argv: list[str]) -> int:
    """Start `dolmen up` (without --detach) in its own session; return once it answered or failed."""
    with contextlib.suppress(FileNotFoundError):
        (data_dir / "endpoints.json").unlink()
    command = [sys.executable, "-m", "dolmen", "up", *[arg for arg in argv if arg != "--detach"]]
    with open(data_dir / "up.log", "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + DETACH_TIMEOUT_S
    ready = data_dir / "endpoints.json"
    while not ready.exists():
        if process.poll() is not None:
            print(
                f"dolmen up: failed (status {process.returncode}):\n{_tail(data_dir / 'up.log')}",
                file=sys.stderr,
            )
            return 1
        if time.monotonic() > deadline:
            process.terminate()
            print(
                f"dolmen up: not up after {DETACH_TIMEOUT_S:.0f} s:\n{_tail(data_dir / 'up.log')}",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.2)
    print(json.loads(ready.read_text())["summary"])
    print(f"Detached (pid {process.pid}); stop it with: dolmen down --data {data_dir}")
    return 0


def up_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dolmen up", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA_DIR, help="data directory (default ./dolmen-data)"
    )
    parser.add_argument(
        "--port", type=int, help=f"first of the consecutive ports used (default {DEFAULT_PORT})"
    )
    parser.add_argument("--nodes", type=int, help=f"storage nodes (default {DEFAULT_NODES})")
    parser.add_argument(
        "--devices-per-node", type=int, help=f"devices per node (default {DEFAULT_DEVICES_PER_NODE})"
    )
    parser.add_argument(
        "--proxy-workers", type=int, default=0, help="proxy worker processes (default: one per core)"
    )
    parser.add_argument("--detach", action="store_true", help="return once every service answers")
    args = parser.parse_args(argv)
    data_dir: Path = args.data.resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        layout = resolve_layout(
            _read_layout(data_dir), port=args.port, nodes=args.nodes, devices=args.devices_per_node
        )
        running = running_pid(data_dir)
        if running is not None:
            raise UpError(
                f"a cluster is already running in {data_dir} (pid {running}); stop it with dolmen down"
            )
        if args.detach:
            return detach(data_dir, argv)
        import uvloop

        uvloop.run(run_foreground(data_dir, layout, proxy_workers=args.proxy_workers))
    except DolmenError as error:
        print(f"dolmen up: {error}", file=sys.stderr)
        return 1
    return 0


def running_pid(data_dir: Path) -> int | None:
    """The pid of the `dolmen up` running in `data_dir`, or None."""
    try:
        pid = int((data_dir / "up.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(pid):
        return None
    try:  # a stale file may name a pid that now belongs to another program
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    return pid if b"dolmen" in command else None


def down_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dolmen down", description="stop a cluster started by `dolmen up`")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA_DIR, help="data directory (default ./dolmen-data)"
    )
    args = parser.parse_args(argv)
    pid_file = args.data.resolve() / "up.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        print(f"dolmen down: no cluster is running in {args.data}", file=sys.stderr)
        return 1
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        print(f"dolmen down: no cluster is running in {args.data} (stale pid {pid})", file=sys.stderr)
        return 1
    deadline = time.monotonic() + DOWN_TIMEOUT_S
    while _alive(pid):
        if time.monotonic() > deadline:
            print(f"dolmen down: pid {pid} did not stop within {DOWN_TIMEOUT_S:.0f} s", file=sys.stderr)
            return 1
        time.sleep(0.1)
    print(f"Stopped the cluster in {args.data}.")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours would still answer; `dolmen down` is never its parent.
    return True


main = up_main
