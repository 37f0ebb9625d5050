"""The cluster client: one object per process that every service reads and writes data through.

`ClusterClient.open(config)` loads the rings and keys and starts the ring watcher;
`close()` stops it and closes the pooled connections. Methods are listed in API.md.
"""

from __future__ import annotations

import asyncio
import contextlib

from dolmen.cluster.config import ClusterClientConfig
from dolmen.cluster.placement import Rings
from dolmen.cluster.proposer import Change, Proposer
from dolmen.cluster.transport import ClientMetrics, Transport
from dolmen.keys import placement_key, read_secret, request_signing_key
from dolmen.metrics import Metrics


class ClusterClient:
    def __init__(self, config: ClusterClientConfig, *, secret: bytes) -> None:
        self.config = config
        self.rings = Rings(config.ring_dir, placement_key(secret))
        self.metrics = ClientMetrics(Metrics("cluster_client"))
        self.transport = Transport(
            config, signing_key=request_signing_key(secret, config.signing_key_id), metrics=self.metrics
        )
        self.proposer = Proposer(self.transport, self.rings, config)
        self._watcher: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, config: ClusterClientConfig) -> ClusterClient:
        """A client with rings and keys loaded; raises ConfigError (missing secret or ring, wrong key)."""
        secret = await asyncio.to_thread(read_secret, config.cluster_secret_file)
        client = await asyncio.to_thread(cls, config, secret=secret)
        client._watcher = asyncio.create_task(
            client.rings.watch(config.ring_check_interval_s), name="cluster-ring-watcher"
        )
        return client

    async def close(self) -> None:
        """Stop the ring watcher and close every pooled connection."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self.transport.close()

    async def __aenter__(self) -> ClusterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- registers -----------------------------------------------------------

    async def cas(self, key: str, change: Change) -> bytes | None:
        """Compare-and-swap the register `key` (CASPaxos): see proposer.Proposer.cas."""
        return await self.proposer.cas(key, change)

    async def read_register(self, key: str) -> bytes | None:
        """The register's value, linearizable (a CAS round with no change)."""
        return await self.proposer.cas(key, lambda current: current)
