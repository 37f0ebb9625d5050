"""The cluster client: one object per process that every service reads and writes data through.

`ClusterClient.open(config)` loads the rings and keys and starts the ring watcher;
`close()` stops it and closes the pooled connections. Methods are listed in API.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from types import MappingProxyType

from dolmen.cluster.config import ClusterClientConfig
from dolmen.cluster.containers import Containers
from dolmen.cluster.errors import NotFound
from dolmen.cluster.infos import AccountInfo, ContainerInfo
from dolmen.cluster.listing import Listing, ListingQuery
from dolmen.cluster.names import SYSTEM_ACCOUNT_PREFIX, check_names
from dolmen.cluster.objects import ObjectInfo, ObjectReader, Objects, PutResult
from dolmen.cluster.placement import Rings, replica_headers
from dolmen.cluster.proposer import Change, Proposer
from dolmen.cluster.transport import ClientMetrics, Transport
from dolmen.keys import placement_key, read_secret, request_signing_key
from dolmen.metrics import Metrics
from dolmen.ring.ring import Ring
from dolmen.storage_node import framing
from dolmen.storage_node.timestamps import ZERO, Timestamp

EMPTY_MAPPING: Mapping[str, str] = MappingProxyType({})


class ClusterClient:
    def __init__(self, config: ClusterClientConfig, *, secret: bytes) -> None:
        self.config = config
        self.rings = Rings(config.ring_dir, placement_key(secret))
        self.metrics = ClientMetrics(Metrics("cluster_client"))
        self.transport = Transport(
            config.transport_settings(),
            signing_key=request_signing_key(secret, config.signing_key_id),
            metrics=self.metrics,
        )
        self.proposer = Proposer(self.transport, self.rings, config)
        self.objects = Objects(self.transport, config)
        self.containers = Containers(self.transport, self.rings, self.objects, config)
        self._last_timestamp = ZERO
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
        """The register's value, linearizable (see proposer.Proposer.read)."""
        return await self.proposer.read(key)

    # --- accounts and containers -------------------------------------------------

    async def put_account(
        self, account: str, metadata: Mapping[str, str] = EMPTY_MAPPING, *, internal: bool = False
    ) -> bool:
        """Create the account (or merge its metadata); True if a quorum created it now."""
        check_names(account, internal=internal)
        headers = {"X-Timestamp": self._timestamp().internal, **prefixed("X-Account-Meta-", metadata)}
        return await self.containers.put_account(account, headers)

    async def head_account(self, account: str, *, internal: bool = False) -> AccountInfo:
        """The account's counts and metadata (newest of a quorum); NotFound."""
        check_names(account, internal=internal)
        return await self.containers.head_account(account)

    async def post_account(
        self, account: str, metadata: Mapping[str, str], *, internal: bool = False
    ) -> None:
        """Merge metadata items into the account (an empty value removes one); NotFound."""
        check_names(account, internal=internal)
        headers = {"X-Timestamp": self._timestamp().internal, **prefixed("X-Account-Meta-", metadata)}
        await self.containers.post_account(account, headers)

    async def list_containers(self, account: str, query: ListingQuery, *, internal: bool = False) -> Listing:
        """The account's containers, merged from two replicas; NotFound."""
        check_names(account, internal=internal)
        return await self.containers.list_containers(account, query)

    async def put_container(
        self,
        account: str,
        container: str,
        metadata: Mapping[str, str] = EMPTY_MAPPING,
        policy_index: int = 0,
        *,
        internal: bool = False,
    ) -> bool:
        """Create the container (and its account first if needed); True if created now.

        Conflict if it exists with another policy. Raises BadName, SystemAccountRefused, QuorumNotReached.
        """
        check_names(account, container, internal=internal)
        self.rings.object(policy_index)  # ConfigError if the cluster has no such policy
        try:
            await self.containers.head_account(account)
        except NotFound:
            await self.put_account(account, internal=internal)
        headers = {
            "X-Timestamp": self._timestamp().internal,
            "X-Backend-Storage-Policy-Index": str(policy_index),
            **prefixed("X-Container-Meta-", metadata),
        }
        return await self.containers.put_container(account, container, headers)

    async def head_container(self, account: str, container: str, *, internal: bool = False) -> ContainerInfo:
        """The container's counts, policy and metadata (newest of a quorum); NotFound."""
        check_names(account, container, internal=internal)
        return await self.containers.head_container(account, container)

    async def post_container(
        self, account: str, container: str, metadata: Mapping[str, str], *, internal: bool = False
    ) -> None:
        """Merge metadata items into the container (an empty value removes one); NotFound."""
        check_names(account, container, internal=internal)
        headers = {"X-Timestamp": self._timestamp().internal, **prefixed("X-Container-Meta-", metadata)}
        await self.containers.post_container(account, container, headers)

    async def delete_container(self, account: str, container: str, *, internal: bool = False) -> None:
        """Delete an empty container; NotFound, ContainerNotEmpty."""
        check_names(account, container, internal=internal)
        await self.containers.delete_container(
            account, container, {"X-Timestamp": self._timestamp().internal}
        )

    async def list_objects(
        self, account: str, container: str, query: ListingQuery, *, internal: bool = False
    ) -> Listing:
        """The container's objects, merged from two replicas (tombstones applied); NotFound."""
        check_names(account, container, internal=internal)
        return await self.containers.list_objects(account, container, query)

    # --- objects -------------------------------------------------------------

    async def put_object(
        self,
        account: str,
        container: str,
        obj: str,
        body: AsyncIterable[bytes | memoryview],
        *,
        content_type: str,
        metadata: Mapping[str, str] = EMPTY_MAPPING,
        length: int | None = None,
        delete_at: int | None = None,
        if_none_match: bool = False,
        if_match: str | None = None,
        expected_etag: str | None = None,
        check_body: Callable[[], Awaitable[None]] | None = None,
        footer_metadata: Callable[[], Mapping[str, str]] | None = None,
        internal: bool = False,
    ) -> PutResult:
        """Store an object on a quorum of replicas (see objects.py); PutResult(etag, timestamp, bytes).

        `if_none_match`: only if no object is stored; `if_match`: only if the object stored has
        this ETag (ObjectInfo.etag). The nodes judge both at their commit, atomically against
        other writes. Raises QuorumNotReached (not stored; may appear later, whole), EtagMismatch,
        PreconditionFailed (a condition failed), BadName, SystemAccountRefused, or what
        `check_body` raised (the write is aborted everywhere).
        """
        check_names(account, container, obj, internal=internal)
        ring = await self._object_ring(account, container)
        timestamp = self._timestamp()
        headers = {
            "X-Timestamp": timestamp.internal,
            "Content-Type": content_type,
            framing.FRAMING_HEADER: framing.FRAMING_VERSION,
        }
        if length is not None:
            headers["X-Backend-Object-Length"] = str(length)
        if delete_at is not None:
            headers["X-Delete-At"] = str(delete_at)
        if if_none_match:
            headers["If-None-Match"] = "*"
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        headers.update(prefixed("X-Object-Meta-", metadata))
        payload: AsyncIterable[bytes | memoryview] | bytes = body
        if length is not None and length <= self.config.put_whole_bytes_max:
            payload = await read_at_most(body, length + 1)  # a byte more than announced: the nodes refuse it
        return await self.objects.put(
            ring,
            account,
            container,
            obj,
            payload,
            headers_for=self._with_container_update(account, container, headers),
            timestamp=timestamp,
            expected_etag=expected_etag,
            check_body=check_body,
            footer_metadata=footer_metadata,
        )

    async def head_object(
        self,
        account: str,
        container: str,
        obj: str,
        headers: Mapping[str, str] = EMPTY_MAPPING,
        *,
        internal: bool = False,
    ) -> ObjectInfo:
        """The newest metadata among a quorum of replicas; NotFound, NotModified, PreconditionFailed."""
        check_names(account, container, obj, internal=internal)
        ring = await self._object_ring(account, container)
        return await self.objects.head(ring, account, container, obj, headers)

    @contextlib.asynccontextmanager
    async def get_object(
        self,
        account: str,
        container: str,
        obj: str,
        headers: Mapping[str, str] = EMPTY_MAPPING,
        *,
        internal: bool = False,
    ) -> AsyncIterator[ObjectReader]:
        """`async with client.get_object(...) as reader`: reader.status, .info, .headers, .body.

        Raises NotFound, NotModified, PreconditionFailed, RangeNotSatisfiable on entry.
        """
        check_names(account, container, obj, internal=internal)
        ring = await self._object_ring(account, container)
        reader = await self.objects.open_reader(ring, account, container, obj, headers)
        try:
            yield reader
        finally:
            await reader.close()

    async def post_object(
        self,
        account: str,
        container: str,
        obj: str,
        metadata: Mapping[str, str],
        content_type: str | None = None,
        delete_at: int | None = None,
        *,
        internal: bool = False,
    ) -> None:
        """Replace the object's metadata (all of it) on a quorum; NotFound, QuorumNotReached.
        A POST superseded by a newer write of the name is acknowledged (objects.py)."""
        check_names(account, container, obj, internal=internal)
        headers = {"X-Timestamp": self._timestamp().internal, **prefixed("X-Object-Meta-", metadata)}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if delete_at is not None:
            headers["X-Delete-At"] = str(delete_at)
        await self.objects.post(await self._object_ring(account, container), account, container, obj, headers)

    async def delete_object(self, account: str, container: str, obj: str, *, internal: bool = False) -> None:
        """Write a tombstone on a quorum; NotFound if no replica had a live object (still written)."""
        check_names(account, container, obj, internal=internal)
        ring = await self._object_ring(account, container)
        headers = {"X-Timestamp": self._timestamp().internal}
        await self.objects.delete(
            ring, account, container, obj, self._with_container_update(account, container, headers)
        )

    async def _object_ring(self, account: str, container: str) -> Ring:
        """The object ring of the container's policy; NotFound if a user container does not exist.

        Containers of system accounts are created by their first object (PROTOCOL.md): policy 0.
        """
        if account.startswith(SYSTEM_ACCOUNT_PREFIX):
            return self.rings.object(0)
        info = await self.containers.container_info(account, container)
        return self.rings.object(info.policy_index)

    def _with_container_update(
        self, account: str, container: str, headers: dict[str, str]
    ) -> Callable[[int], dict[str, str]]:
        """Headers for object replica i: `headers` and the container replica i it must update."""
        ring = self.rings.container
        partition = ring.partition(account, container)
        return lambda index: headers | replica_headers("Container", ring, partition, index)

    def _timestamp(self) -> Timestamp:
        """A timestamp for a new write, strictly after the last one this client made."""
        timestamp = Timestamp.from_seconds(time.time())
        if timestamp <= self._last_timestamp:
            timestamp = Timestamp(self._last_timestamp.ticks + 1)
        self._last_timestamp = timestamp
        return timestamp


async def read_at_most(body: AsyncIterable[bytes | memoryview], size_max: int) -> bytes:
    """The first `size_max` bytes of `body` (all of it if shorter), as one bytes object."""
    data = bytearray()
    async for chunk in body:
        data += chunk[: size_max - len(data)]
        if len(data) >= size_max:
            break
    return bytes(data)


def prefixed(prefix: str, metadata: Mapping[str, str]) -> dict[str, str]:
    return {f"{prefix}{name}": value for name, value in metadata.items()}
