"""Test helpers for identity: an identity API server on a free loopback port, in a thread.

The synchronous clients (keystoneauth, openstacksdk, the `openstack` CLI) talk to it over
real HTTP. It stores through a real ClusterClient (opened on the server's own loop) on a
development cluster, in a system account of its own (`store_account`), so that servers
sharing the session's cluster never see each other's users.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import openstack
from aiohttp import web
from dolmen.identity.bootstrap import BootstrapResult, ServiceEndpoints, bootstrap_store
from dolmen.identity.cli import close_service, open_service_over
from dolmen.identity.config import IdentityConfig
from dolmen.identity.policy import Policy
from dolmen.identity.server import make_app
from dolmen.identity.service import IdentityService
from dolmen.identity.store import IdentityStore
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from dolmen.cluster import ClusterClient, ClusterClientConfig, Records
from dolmen.keys import identity_storage_key
from dolmen.metrics import Metrics
from dolmen.serving import runner_options

ADMIN_PASSWORD = "admin-secret"
STARTUP_TIMEOUT_S = 60.0
SECRET = bytes(range(32))
# Cheap hashes for the bulk of the tests (one test keeps the production cost).
CHEAP_PASSWORDS = dict(password_time_cost=1, password_memory_cost_kib=64, password_parallelism=1)


def store_account() -> str:
    """A system account no other test uses, for an identity store of its own."""
    return f".identity-{uuid.uuid4().hex[:12]}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class IdentityServer:
    """An identity API on 127.0.0.1:port served by a thread's own event loop, on a real cluster."""

    cluster_config: ClusterClientConfig
    settings: dict[str, Any] = field(default_factory=dict)
    port: int = 0
    admin: BootstrapResult | None = None
    service: IdentityService | None = None
    client: ClusterClient | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v3"

    def start(self) -> IdentityServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="identity-server", daemon=True)
        self._thread.start()
        self.call(self._start)
        return self

    def call(self, coroutine: Callable[[], Coroutine[Any, Any, Any]], timeout_s: float = 60.0) -> Any:
        """Run `coroutine()` on the server's loop and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine(), self._loop).result(timeout_s)

    async def _start(self) -> None:
        config = IdentityConfig(bind_port=0, **(CHEAP_PASSWORDS | self.settings))
        self.client = await ClusterClient.open(self.cluster_config)
        store = IdentityStore(Records(self.client, account=store_account()))
        storage_key = identity_storage_key(SECRET)
        self.port = free_port()
        services = [
            ServiceEndpoints("identity", f"{self.url}/v3", f"{self.url}/v3"),
            ServiceEndpoints(
                "object-store",
                "http://127.0.0.1:1/v1/AUTH_$(project_id)s",
                "http://127.0.0.1:1/v1/AUTH_$(project_id)s",
            ),
        ]
        self.admin = await bootstrap_store(
            store, storage_key, admin_password=ADMIN_PASSWORD, services=services, config=config
        )
        self.service = await open_service_over(store, storage_key, config, Policy.default())
        self._runner = web.AppRunner(
            make_app(self.service, Metrics("identity")),
            **runner_options(
                keepalive_timeout_s=config.keepalive_timeout_s, shutdown_timeout_s=config.shutdown_timeout_s
            ),
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        async def stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            if self.service is not None:
                await close_service(self.service)
            if self.client is not None:
                await self.client.close()

        self.call(stop)
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@dataclass
class IdentityProcess:
    """A real `dolmen identity` process on a development cluster, bootstrapped through the CLI."""

    root: Path
    cluster_config: Any  # ClusterClientConfig
    settings: dict[str, Any] = field(default_factory=dict)
    port: int = 0
    admin: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v3"

    @property
    def config_path(self) -> Path:
        return self.root / "identity.toml"

    def write_config(self) -> None:
        self.port = self.port or free_port()
        identity = {"bind_ip": "127.0.0.1", "bind_port": self.port} | CHEAP_PASSWORDS | self.settings
        lines = ["[identity]"] + [f"{key} = {_toml(value)}" for key, value in identity.items()]
        lines += [
            "[cluster]",
            f"ring_dir = {_toml(str(self.cluster_config.ring_dir))}",
            f"cluster_secret_file = {_toml(str(self.cluster_config.cluster_secret_file))}",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "dolmen", "identity", *args, "--config", str(self.config_path)]

    def bootstrap(self) -> dict[str, Any]:
        self.write_config()
        result = subprocess.run(
            self.command(
                "bootstrap",
                "--admin-password",
                ADMIN_PASSWORD,
                "--public-url",
                f"identity={self.auth_url}",
                "--public-url",
                "object-store=http://127.0.0.1:1/v1/AUTH_$(project_id)s",
            ),
            capture_output=True,
            timeout=STARTUP_TIMEOUT_S,
            check=True,
        )
        self.admin = json.loads(result.stdout)
        return self.admin

    def start(self) -> IdentityProcess:
        self.write_config()
        log = (self.root / "identity.log").open("ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=log)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"identity exited: {(self.root / 'identity.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthcheck", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("identity did not start in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _toml(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


@contextmanager
def running_identity_process(root: Path, cluster_config: Any, **settings: Any) -> Iterator[IdentityProcess]:
    """A bootstrapped, started `dolmen identity` process in `root`, stopped on exit."""
    process = IdentityProcess(root, cluster_config, settings=settings)
    process.bootstrap()
    process.start()
    try:
        yield process
    finally:
        process.stop()


class Reachable(Protocol):
    @property
    def auth_url(self) -> str: ...


def password_session(
    identity: Reachable, user: str, password: str, project: str | None = "admin"
) -> ks_session.Session:
    """A keystoneauth session for `user` in the Default domain, scoped to `project` (None: unscoped)."""
    auth = v3.Password(
        auth_url=identity.auth_url,
        username=user,
        password=password,
        user_domain_name="Default",
        project_name=project,
        project_domain_name="Default" if project else None,
    )
    return ks_session.Session(auth=auth)


def admin_cloud(identity: Reachable, **options: Any) -> openstack.connection.Connection:
    """An openstacksdk connection as the bootstrap admin on the admin project."""
    return openstack.connect(
        auth_url=identity.auth_url,
        username="admin",
        password=ADMIN_PASSWORD,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        **options,
    )
