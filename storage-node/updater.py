"""The node's own requests to other nodes: container updates and stats reports, and their retries.

`Updater.send_update` is the request path's one try of a container update (bounded by
container_update_timeout_s); a container replica on this node is updated in place, others
over HTTP. Updates bound for one container replica go together: while one request to it
is under way, the next ones wait and then leave in one UPDATE (update_batches.py; at most
UPDATE_BATCH_ENTRIES_MAX each), so a busy container costs one request per round trip, not
one per object write, and a lone update leaves at once. `Updater.run` is the background
work, one task per device and kind in a TaskGroup:

* drain: every container_updater_interval_s move what is left of the due journal records
  into the queue (the request path's tries that failed, or were cut by a restart), then read
  up to CONTAINER_UPDATES_PER_PASS_MAX due pending updates (through the queue's due-time
  index: a pass costs what is due, however many updates back off) and send them, at most
  container_updater_concurrency at once (a request that queues an update does not wake it:
  that update is due only after the request path's own try had its time); a 2xx drops the
  update, anything else (an error, a timeout, a 404 from a container not yet created there)
  reschedules it with back-off. The queue is in LMDB, so a restart resumes it.
* report: every account_update_interval_s / 2, send the stats of each changed container to
  its account replica (up to STATS_REPORTS_PER_PASS_MAX a pass, each pass going on where the
  last stopped, so that reports to answering replicas never wait behind a silent one's; an
  account replica on this node is updated in place); the mark is cleared once acknowledged
  (unless the container changed again meanwhile), else kept and the replica's host skipped for
  a back-off. So the account hears of a change at most about account_update_interval_s after
  it while it answers.

Requests are signed with the node's outbound key and go on pooled HTTP/1.1 connections of
the updater's own (dolmen.cluster.transport, as the cluster client's). A cancel (shutdown)
leaves every unacknowledged update or report in LMDB for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from dolmen.storage_node.config import StorageNodeConfig
from dolmen.storage_node.containers import ContainerRow, Info, Keyspaces, listed_entry
from dolmen.storage_node.errors import StorageNodeError
from dolmen.storage_node.own_address import OwnAddress
from dolmen.storage_node.update_batches import batch_request, destination
from dolmen.storage_node.updates import JournaledUpdate, PendingUpdate, QueuedUpdate, Replica, backoff_s
from dolmen.storage_node.verbs import ROLE_HEADER

from dolmen.cluster.transport import ClientMetrics, NodeError, Transport, TransportSettings
from dolmen.limits import CONTAINER_UPDATES_PER_PASS_MAX, STATS_REPORTS_PER_PASS_MAX, UPDATE_BATCH_ENTRIES_MAX
from dolmen.metrics import Metrics

log = logging.getLogger("dolmen.storage_node.updater")

UPDATE_DONE = "done"
UPDATE_QUEUED = "queued"
UPDATE_NONE = "none"


class Updater:
    """Sends container updates and stats reports for every device of this node."""

    def __init__(
        self,
        config: StorageNodeConfig,
        keyspaces: Mapping[str, Keyspaces],
        *,
        key_id: int,
        key: bytes,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.keyspaces = keyspaces
        self.key_id = key_id
        self.key = key
        self.clock = clock
        self.metrics = ClientMetrics(metrics)
        self.update_metrics = UpdateMetrics(metrics, devices=list(keyspaces))
        self._transport: Transport | None = None
        self._host_due_s: dict[str, float] = {}  # stats reports: account hosts backing off
        self._host_failures: dict[str, int] = {}
        self._batches: dict[tuple[object, str, str], _Batch] = {}  # container updates by destination
        self._forgets: dict[str, list[QueuedUpdate | JournaledUpdate]] = {}  # acknowledged, by device
        # Which replica addresses are this node's (applied in place, no request to ourselves).
        self.own_address = OwnAddress(
            bind_ip=config.bind_ip, bind_port=config.bind_port, ring_ip=config.ring_ip
        )

    async def __aenter__(self) -> Updater:
        timeout_s = self.config.container_update_timeout_s
        settings = TransportSettings(
            signing_key_id=self.key_id,
            connect_timeout_s=timeout_s,
            first_byte_timeout_s=timeout_s,
            chunk_timeout_s=timeout_s,
            connections_per_node_max=4 * self.config.container_updater_concurrency * len(self.keyspaces),
            keepalive_timeout_s=self.config.keepalive_timeout_s / 2,  # before the other node closes it
        )
        self._transport = Transport(settings, signing_key=self.key, metrics=self.metrics)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._transport is not None
        await self._transport.close()

    async def send(
        self,
        method: str,
        host: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None = None,
        *,
        timeout_s: float | None = None,
    ) -> int | None:
        """One signed request; its status, or None if it failed or took over `timeout_s`
        (default container_update_timeout_s)."""
        assert self._transport is not None
        try:
            async with asyncio.timeout(
                self.config.container_update_timeout_s if timeout_s is None else timeout_s
            ):
                answer = await self._transport.request(  # X-Trans-Id: the request's own id, if any
                    host, method, path, headers=headers | {"X-Trans-Id": "updater"}, body=body
                )
        except (TimeoutError, NodeError) as error:
            log.info("updater.send_failed", extra={"host": host, "reason": type(error).__name__})
            return None
        return answer.status

    async def send_update(self, device: str, queued: QueuedUpdate | JournaledUpdate) -> str:
        """The request path's try: UPDATE_DONE (dropped from the queue) or UPDATE_QUEUED (left to the drain task)."""
        if await self.deliver(queued.update):
            self._forget(device, queued)
            self.update_metrics.tries[device, UPDATE_DONE].inc()
            return UPDATE_DONE
        self.update_metrics.tries[device, UPDATE_QUEUED].inc()
        return UPDATE_QUEUED

    def applied_in_place(self, device: str) -> None:
        """Count a container update the object's own commit applied (the replica is on its device)."""
        self.update_metrics.tries[device, UPDATE_DONE].inc()

    def deliver(self, update: PendingUpdate) -> Awaitable[bool]:
        """Apply `update` at its container replica: awaited, True once it acknowledged it (2xx).

        A replica on a device of this node is updated in place (its engine, no HTTP): the
        same rules and durability as the container server's, without a request to ourselves.
        Otherwise the update joins its replica's next batch, and what is awaited is that
        batch's future itself (no coroutine of its own on the request path).
        """
        replica = update.replica
        local = self._local_keyspaces(replica)
        if local is not None:
            entry = listed_entry(update)
            return self._in_place(
                local.update_object(replica.partition, update.account, update.container, entry),
                "updater.local_update_failed",
            )
        return self._batched(update)

    def _local_keyspaces(self, replica: Replica) -> Keyspaces | None:
        """The engine of `replica`'s device if it is one of this node's, else None."""
        return self.keyspaces.get(replica.device) if self.own_address.is_own(replica.host) else None

    async def _in_place(self, step: Awaitable[object], failure_event: str) -> bool:
        """Run a change to a replica on this node (within container_update_timeout_s, as a
        request would be): True once committed, False (logged) if it failed."""
        try:
            async with asyncio.timeout(self.config.container_update_timeout_s):
                await step
        except (StorageNodeError, TimeoutError) as error:  # NotFound: no container or account (yet)
            log.info(failure_event, extra={"reason": type(error).__name__})
            return False
        return True

    def _forget(self, device: str, queued: QueuedUpdate | JournaledUpdate) -> None:
        """Drop an acknowledged update from the queue, with the others acknowledged in the same
        turn of the loop: one change for the committer rather than one per update."""
        forgets = self._forgets.setdefault(device, [])
        if not forgets:
            asyncio.get_running_loop().call_soon(self._flush_forgets, device)
        forgets.append(queued)

    def _flush_forgets(self, device: str) -> None:
        forgets = self._forgets.pop(device, [])
        if forgets:
            self.keyspaces[device].forget_updates(forgets)

    def _batched(self, update: PendingUpdate) -> asyncio.Future[bool]:
        """Send `update` with whatever else is waiting for its container replica; the future is
        True once acknowledged. It is settled within container_update_timeout_s (a later answer
        is not waited for): the sender gives each batch only what is left of its oldest update's
        time."""
        key = destination(update)
        batch = self._batches.get(key)
        if batch is None:
            batch = self._batches[key] = _Batch()
        acknowledged: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        batch.waiting.append((update, acknowledged, time.monotonic()))
        if batch.sender is None:
            batch.sender = asyncio.create_task(self._send_batches(key, batch))
        return acknowledged

    async def _send_batches(self, key: tuple[object, str, str], batch: _Batch) -> None:
        """Send what waits for one container replica, a batch at a time, until nothing waits.
        Every waiter hears within container_update_timeout_s of joining."""
        taken: list[tuple[PendingUpdate, asyncio.Future[bool], float]] = []
        try:
            while batch.waiting:
                taken = batch.waiting[:UPDATE_BATCH_ENTRIES_MAX]
                del batch.waiting[: len(taken)]
                left_s = taken[0][2] + self.config.container_update_timeout_s - time.monotonic()
                status = None
                if left_s > 0:
                    method, path, headers, body = batch_request([update for update, _, _ in taken])
                    status = await self.send(
                        method, taken[0][0].replica.host, path, headers, body, timeout_s=left_s
                    )
                _settle(taken, status is not None and 200 <= status < 300)
                taken = []
        finally:  # also on cancel (shutdown): every waiter hears "not acknowledged" (it stays queued)
            _settle(taken + batch.waiting, False)
            batch.waiting.clear()
            batch.sender = None
            del self._batches[key]

    async def run(self) -> None:
        """The background tasks, until cancelled."""
        async with asyncio.TaskGroup() as group:
            for device in self.keyspaces:
                group.create_task(self._supervised(self._drain, device), name=f"updates-{device}")
                group.create_task(self._supervised(self._report, device), name=f"reports-{device}")

    async def _supervised(self, loop: Callable[[str], object], device: str) -> None:
        """Run a pass loop; a failing pass is logged and the loop goes on after a pause."""
        while True:
            try:
                await loop(device)  # type: ignore[misc]
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("updater.pass_failed", extra={"device": device})
                await asyncio.sleep(self.config.container_updater_interval_s)

    async def _drain(self, device: str) -> None:
        keyspaces, config = self.keyspaces[device], self.config
        limit = asyncio.Semaphore(config.container_updater_concurrency)
        indexed = await keyspaces.index_pending()
        if indexed:
            log.info("updater.pending_indexed", extra={"device": device, "updates": indexed})
        while True:
            now_s = self.clock()
            await keyspaces.expand_due_journals(now_s=now_s, limit=CONTAINER_UPDATES_PER_PASS_MAX)
            due = await keyspaces.due_updates(now_s=now_s, limit=CONTAINER_UPDATES_PER_PASS_MAX)

            async def one(queued: QueuedUpdate) -> None:
                async with limit:
                    delivered = await self.deliver(queued.update)
                self.update_metrics.drained[device, delivered].inc()
                if delivered:
                    self._forget(device, queued)
                    return
                retried = queued.update.failed(
                    now_s=self.clock(),
                    base_s=config.container_update_backoff_s,
                    max_s=config.container_update_backoff_s_max,
                )
                await keyspaces.retry_later(queued, retried)

            async with asyncio.TaskGroup() as group:
                for queued in due:
                    group.create_task(one(queued))
            self.update_metrics.pending[device].set(await keyspaces.pending_count())
            if len(due) < CONTAINER_UPDATES_PER_PASS_MAX:  # else more are due: no pause
                await asyncio.sleep(config.container_updater_interval_s)

    async def _report(self, device: str) -> None:
        keyspaces, config = self.keyspaces[device], self.config
        limit = asyncio.Semaphore(config.container_updater_concurrency)
        after: bytes | None = None  # where the last full pass stopped: the next one goes on from there
        while True:
            await asyncio.sleep(config.account_update_interval_s / 2)
            due = await keyspaces.due_reports(limit=STATS_REPORTS_PER_PASS_MAX, after=after)
            after = due[-1][0] if len(due) >= STATS_REPORTS_PER_PASS_MAX else None

            async def one(key: bytes, info: Info) -> None:
                async with limit:
                    await self._report_one(keyspaces, key, info)

            async with asyncio.TaskGroup() as group:
                for key, info in due:
                    group.create_task(one(key, info))

    async def report_now(self, device: str, partition: int, account: str, container: str) -> None:
        """The request path's one try of a container's stats report after its PUT or DELETE, so
        that the account lists the change at once (as Swift's container server does); a report
        that fails is left to the report task."""
        keyspaces = self.keyspaces[device]
        pending = await keyspaces.pending_report(partition, account, container)
        if pending is not None and pending[1].account_replica is not None:
            await self._report_one(keyspaces, *pending)

    async def _report_one(self, keyspaces: Keyspaces, key: bytes, info: Info) -> None:
        """Send one container's stats to its account replica (in place if it is on this node);
        its host backs off after a failure."""
        config = self.config
        replica = info.account_replica
        assert replica is not None and info.container is not None
        if self._host_due_s.get(replica.host, 0.0) > self.clock():
            return
        row = report_row(info)
        local = self._local_keyspaces(replica)
        if local is not None:  # merged as the account server would, without a request to ourselves
            acknowledged = await self._in_place(
                local.update_container_row(replica.partition, info.account, row),
                "updater.local_report_failed",
            )
        else:
            status = await self.send(
                "PUT", replica.host, replica.path(info.account, info.container), report_headers(row)
            )
            acknowledged = status is not None and 200 <= status < 300
        if acknowledged:
            self._host_failures.pop(replica.host, None)
            self._host_due_s.pop(replica.host, None)
            await keyspaces.reported(key, info)
            return
        failures = self._host_failures.get(replica.host, 0) + 1
        self._host_failures[replica.host] = failures
        wait_s = backoff_s(failures, config.container_update_backoff_s, config.container_update_backoff_s_max)
        self._host_due_s[replica.host] = self.clock() + wait_s


class UpdateMetrics:
    """Container updates as operators watch them, per device: the request path's one try
    (`done` or `queued`), the updater's sends from the queue (acknowledged or not), and how
    many wait in the queue (as of the updater's last pass). A queue that grows says a container
    replica is unreachable; listings lag behind it."""

    def __init__(self, metrics: Metrics, *, devices: list[str]) -> None:
        tries = metrics.counter(
            "container_update_tries_total",
            "Container updates tried in the request path, by outcome (done or queued)",
            ("device", "outcome"),
        )
        drained = metrics.counter(
            "container_update_sends_total",
            "Queued container updates the updater sent, by whether their replica acknowledged them",
            ("device", "acknowledged"),
        )
        pending = metrics.gauge(
            "container_updates_pending",
            "Container updates waiting in the pending queue, as of the updater's last pass",
            ("device",),
        )
        # Each series made once: a labels() lookup per update would cost more than the count.
        self.tries = {
            (device, outcome): tries.labels(device, outcome)
            for device in devices
            for outcome in (UPDATE_DONE, UPDATE_QUEUED)
        }
        self.drained = {
            (device, acknowledged): drained.labels(device, "true" if acknowledged else "false")
            for device in devices
            for acknowledged in (True, False)
        }
        self.pending = {device: pending.labels(device) for device in devices}


class _Batch:
    """Container updates waiting for one container replica, and the task sending them."""

    __slots__ = ("sender", "waiting")

    def __init__(self) -> None:
        self.waiting: list[tuple[PendingUpdate, asyncio.Future[bool], float]] = []  # (.., joined at)
        self.sender: asyncio.Task[None] | None = None


def _settle(waiters: list[tuple[PendingUpdate, asyncio.Future[bool], float]], acknowledged: bool) -> None:
    for _, future, _ in waiters:
        if not future.done():
            future.set_result(acknowledged)


def report_row(info: Info) -> ContainerRow:
    """The container row a container replica reports to its account replica."""
    assert info.container is not None
    return ContainerRow(
        name=info.container,
        put_timestamp=info.put_timestamp,
        delete_timestamp=info.delete_timestamp,
        object_count=info.object_count,
        bytes_used=info.bytes_used,
    )


def report_headers(row: ContainerRow) -> dict[str, str]:
    """The headers of a report's PUT to an account replica on another node (PROTOCOL.md)."""
    return {
        ROLE_HEADER: "account",
        "X-Timestamp": row.timestamp.internal,
        "X-Backend-Put-Timestamp": row.put_timestamp.internal,
        "X-Backend-Delete-Timestamp": row.delete_timestamp.internal,
        "X-Backend-Container-Object-Count": str(row.object_count),
        "X-Backend-Container-Bytes-Used": str(row.bytes_used),
    }
