"""Container updates between two real nodes: done, queued while the container node is down, converged
after it returns, and after kill -9 of either node during concurrent writes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import lmdb
import pytest
from helpers.storage_node import (
    NodeProcess,
    RoleClient,
    SignedClient,
    container_update_headers,
    object_path,
    wait_until,
)

# The updater retries at most every 0.5 s here, so a returning container node converges within
# about a second (the production defaults are in storage-node/config.py).
FAST_UPDATES = {
    "container_update_timeout_s": 0.5,
    "container_updater_interval_s": 0.2,
    "container_update_backoff_s": 0.1,
    "container_update_backoff_s_max": 0.5,
}
CONVERGENCE_TIMEOUT_S = 15.0  # well above the ~1 s the settings give: a loaded machine is slow
clock = itertools.count(1_700_100_000_00000)


def ts() -> str:
    ticks = next(clock)
    return f"{ticks // 100_000:010d}.{ticks % 100_000:05d}"


@pytest.fixture
def nodes(tmp_path):
    """An object node and a container node, started in parallel."""
    pair = [NodeProcess(tmp_path / name, settings=FAST_UPDATES) for name in ("objects", "containers")]
    for process in pair:
        process.launch()
    for process in pair:
        process.wait_healthy()
    yield pair
    for process in pair:
        if process.process is not None and process.process.poll() is None:
            process.stop()


async def put_object(
    client: SignedClient, container_node: NodeProcess, name: str, stamp: str
) -> tuple[int, str]:
    answer = await client.put(
        object_path("d1", 9, "AUTH_u", "photos", name),
        name.encode(),
        timestamp_text=stamp,
        extra_headers=container_update_headers(container_node),
    )
    return answer.status, answer.headers.get("X-Backend-Container-Update", "")


async def delete_object(client: SignedClient, container_node: NodeProcess, name: str, stamp: str) -> str:
    answer = await client.request(
        "DELETE",
        object_path("d1", 9, "AUTH_u", "photos", name),
        headers={"X-Timestamp": stamp} | container_update_headers(container_node),
    )
    assert answer.status in (204, 404), answer
    return answer.headers["X-Backend-Container-Update"]


async def listed(containers: RoleClient) -> dict[str, int]:
    return {entry["name"]: entry["bytes"] for entry in await containers.listing("AUTH_u", "photos")}


async def test_updates_are_done_at_once_or_queued_until_the_container_node_returns_and_bad_targets_refused(
    nodes,
):
    object_node, container_node = nodes
    async with SignedClient(object_node.url) as objects, SignedClient(container_node.url) as container_client:
        containers = RoleClient(container_client, "container")
        assert (await containers.put("AUTH_u", "photos", timestamp_text=ts())).status == 201
        assert await put_object(objects, container_node, "first", ts()) == (201, "done")
        no_update = await objects.put(object_path("d1", 9, "AUTH_u", "photos", "quiet"), b"q")
        assert no_update.headers["X-Backend-Container-Update"] == "none"
        assert await listed(containers) == {"first": 5}

        container_node.stop()
        assert await put_object(objects, container_node, "while-down", ts()) == (201, "queued")
        assert await put_object(objects, container_node, "short-lived", ts()) == (201, "queued")
        assert await delete_object(objects, container_node, "short-lived", ts()) == "queued"
        assert await delete_object(objects, container_node, "first", ts()) == "queued"

        async def backlog_shown() -> bool:  # one per object: the DELETE replaced "short-lived"'s PUT
            return await metric(object_node, 'container_updates_pending{device="d1"}') == 3

        await wait_until(backlog_shown, timeout_s=CONVERGENCE_TIMEOUT_S)
        container_node.start()

        async def converged() -> bool:
            return await listed(containers) == {"while-down": 10}

        await wait_until(converged, timeout_s=CONVERGENCE_TIMEOUT_S)

        # What an operator watches: the request path's outcomes, the drained sends, the queue.
        assert await metric(object_node, 'container_update_tries_total{device="d1",outcome="done"}') == 1
        assert await metric(object_node, 'container_update_tries_total{device="d1",outcome="queued"}') == 4
        # The three queued were each sent until acknowledged (a send may repeat: an acknowledged
        # update leaves the queue with a later commit, and an idempotent resend is harmless).
        sent = await metric(object_node, 'container_update_sends_total{acknowledged="true",device="d1"}')
        assert sent >= 3

        async def queue_empty() -> bool:
            return await metric(object_node, 'container_updates_pending{device="d1"}') == 0

        await wait_until(queue_empty, timeout_s=CONVERGENCE_TIMEOUT_S)
        internal = await containers.listing("AUTH_u", "photos", internal=True)
        assert {entry["name"]: entry.get("deleted", False) for entry in internal} == {
            "first": True,
            "short-lived": True,
            "while-down": False,
        }
        head = await containers.request("HEAD", "AUTH_u", "photos")
        assert (
            head.headers["X-Container-Object-Count"] == "1" and head.headers["X-Container-Bytes-Used"] == "10"
        )


async def test_kill_9_during_concurrent_writes_loses_no_acknowledged_update(nodes):
    object_node, container_node = nodes
    async with SignedClient(object_node.url) as objects, SignedClient(container_node.url) as container_client:
        containers = RoleClient(container_client, "container")
        assert (await containers.put("AUTH_u", "photos", timestamp_text=ts())).status == 201
        names = [f"obj-{index:04d}" for index in range(240)]
        answers: dict[str, tuple[int, str]] = {}
        limit = asyncio.Semaphore(16)

        async def write(name: str) -> None:
            async with limit:
                with contextlib.suppress(aiohttp.ClientError):  # the object node was killed under it
                    answers[name] = await put_object(objects, container_node, name, ts())

        writers = [asyncio.create_task(write(name)) for name in names]
        await wait_until(lambda: _at_least(answers, 60), timeout_s=30, interval_s=0.01)
        container_node.kill()  # mid-stream: updates in flight fail and queue
        await wait_until(lambda: _at_least(answers, 150), timeout_s=30, interval_s=0.01)
        object_node.kill()  # mid-stream again: pending updates are in its LMDB, some writes cut
        await asyncio.gather(*writers)
        done = {name for name, (status, update) in answers.items() if status == 201 and update == "done"}
        stored = {name for name, (status, _update) in answers.items() if status == 201}
        assert done and stored - done  # both kinds happened

        container_node.start()
        assert done <= set(await listed(containers))  # acknowledged as done: durable on the container node
        object_node.start()
        on_object_node = {
            name
            for name in names
            if (await objects.head(object_path("d1", 9, "AUTH_u", "photos", name))).status == 200
        }
        assert stored <= on_object_node

        async def converged() -> bool:
            return set(await listed(containers)) == on_object_node

        await wait_until(converged, timeout_s=CONVERGENCE_TIMEOUT_S)


async def _at_least(answers: dict[str, tuple[int, str]], count: int) -> bool:
    return len(answers) >= count


async def test_concurrent_writes_send_their_updates_together_and_all_are_listed(nodes):
    """Updates waiting for one container replica leave together in one UPDATE request."""
    object_node, container_node = nodes
    async with SignedClient(object_node.url) as objects, SignedClient(container_node.url) as container_client:
        containers = RoleClient(container_client, "container")
        assert (await containers.put("AUTH_u", "photos", timestamp_text=ts())).status == 201
        names = [f"together-{index:03d}" for index in range(64)]
        answers = await asyncio.gather(*(put_object(objects, container_node, name, ts()) for name in names))
        assert set(answers) == {(201, "done")}
        assert await listed(containers) == {name: len(name) for name in names}
        metrics = (await container_client.request("GET", "/metrics", sign=False)).body.decode()
        update_requests = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("dolmen_storage_node_requests_total{") and 'method="UPDATE"' in line
        )
        assert 1 <= update_requests < len(names)
    # Acknowledged updates leave the object node's queue (together, after their PUTs answered).
    assert object_node.stop() == 0
    env = lmdb.open(str(object_node.device_root() / "db"), max_dbs=16, readonly=True, lock=False)
    try:
        with env.begin() as txn:
            assert txn.stat(env.open_db(b"pending", txn=txn, create=False))["entries"] == 0
    finally:
        env.close()


async def test_an_update_waiting_behind_a_stuck_one_still_answers_within_the_timeout(tmp_path):
    """A container replica that takes requests and never answers: the first update's request
    hangs for container_update_timeout_s; a second, joining it halfway, waits only what is left
    of its own timeout (not a whole one more after the first), and both PUTs say "queued"."""
    timeout_s = 1.0
    hung: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hung.append(writer)
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass

    stuck = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    stuck_headers = {
        "X-Backend-Container-Host": f"127.0.0.1:{stuck.sockets[0].getsockname()[1]}",
        "X-Backend-Container-Device": "d1",
        "X-Backend-Container-Partition": "0",
    }
    node = NodeProcess(
        tmp_path / "objects", settings=FAST_UPDATES | {"container_update_timeout_s": timeout_s}
    )
    node.launch()
    node.wait_healthy()
    try:
        async with SignedClient(node.url) as objects:

            async def put(name: str, after_s: float) -> tuple[str, float]:
                await asyncio.sleep(after_s)
                started = time.monotonic()
                answer = await objects.put(
                    object_path("d1", 9, "AUTH_u", "photos", name),
                    b"x",
                    timestamp_text=ts(),
                    extra_headers=stuck_headers,
                )
                assert answer.status == 201
                return answer.headers["X-Backend-Container-Update"], time.monotonic() - started

            (first, first_s), (second, second_s) = await asyncio.gather(put("first", 0), put("second", 0.5))
        assert first == second == "queued"
        assert timeout_s * 0.9 < first_s < timeout_s + 0.3
        assert second_s < timeout_s + 0.3  # behind the first it would have waited about 1.5 s
    finally:
        node.stop()
        stuck.close()
        for writer in hung:
            writer.close()


async def test_an_update_request_is_checked_whole_before_anything_is_applied(nodes):
    _, container_node = nodes
    async with SignedClient(container_node.url) as container_client:
        containers = RoleClient(container_client, "container")
        assert (await containers.put("AUTH_u", "photos", timestamp_text=ts())).status == 201
        entry = {
            "name": "a",
            "timestamp": ts(),
            "deleted": False,
            "size": 3,
            "etag": "e",
            "content_type": "t",
        }

        async def update(path_names: tuple[str, ...], entries: object, *, tamper: bool = False) -> int:
            body = json.dumps(entries).encode()
            headers = {
                "X-Backend-Role": "container",
                "X-Timestamp": ts(),
                "X-Backend-Body-Sha256": hashlib.sha256(body).hexdigest(),
            }
            answer = await container_client.request(
                "UPDATE", containers.path(*path_names), headers=headers, body=body + (b" " if tamper else b"")
            )
            return answer.status

        assert await update(("AUTH_u", "photos"), [entry], tamper=True) == 422
        assert await update(("AUTH_u", "photos"), [entry, {"name": "b"}]) == 400
        assert await update(("AUTH_u", "photos", "a"), [entry]) == 405
        assert await update(("AUTH_u", "elsewhere"), [entry]) == 404
        assert await listed(containers) == {}
        assert await update(("AUTH_u", "photos"), [entry, entry | {"name": "b", "deleted": True}]) == 204
        assert await listed(containers) == {"a": 3}


async def committed_changes(node: NodeProcess) -> float:
    """How many record changes the node's device d1 committed (its group-commit metric)."""
    return await metric(node, 'group_commit_records_sum{device="d1"}')


async def metric(node: NodeProcess, series: str) -> float:
    """The value of one series (its name without the `dolmen_storage_node_` prefix, with its
    labels) in the node's /metrics."""
    async with aiohttp.ClientSession() as session, session.get(f"{node.url}/metrics") as answer:
        text = await answer.text()
    (line,) = [line for line in text.splitlines() if line.startswith(f"dolmen_storage_node_{series} ")]
    return float(line.rpartition(" ")[2])


@contextlib.asynccontextmanager
async def serving_photos(node: NodeProcess) -> AsyncIterator[tuple[SignedClient, RoleClient]]:
    """`node` started, a client of it and its container role, with AUTH_u/photos created; the
    node stops after."""
    node.start()
    try:
        async with SignedClient(node.url) as client:
            containers = RoleClient(client, "container")
            assert (await containers.put("AUTH_u", "photos", timestamp_text=ts())).status == 201
            yield client, containers
    finally:
        node.stop()


async def test_an_update_to_a_container_on_the_same_device_commits_with_its_object(tmp_path):
    """Object and container replica on one device (small clusters): the entry is made in the
    object's own commit, so the answer is `done` and the listing and stats already show it; a
    container that is not there yet gets the update queued, and it converges once created."""
    node = NodeProcess(tmp_path / "one", settings=FAST_UPDATES, devices=("d1", "d2"))
    async with serving_photos(node) as (client, containers):
        changes_before = await committed_changes(node)
        assert await put_object(client, node, "a", ts()) == (201, "done")
        assert await committed_changes(node) == changes_before + 1  # not 3: entry, queue clean-up
        assert await put_object(client, node, "bb", ts()) == (201, "done")
        assert await delete_object(client, node, "a", ts()) == "done"
        assert await listed(containers) == {"bb": 2}
        head = await containers.request("HEAD", "AUTH_u", "photos")
        assert head.headers["X-Container-Object-Count"] == "1"
        assert head.headers["X-Container-Bytes-Used"] == "2"

        async def put_on(device: str, container: str, name: str) -> str:
            answer = await client.put(
                object_path(device, 9, "AUTH_u", container, name),
                name.encode(),
                timestamp_text=ts(),
                extra_headers=container_update_headers(node),
            )
            return answer.headers["X-Backend-Container-Update"]

        # The same node, another device: delivered in place after the commit, also done.
        assert await put_on("d2", "photos", "ccc") == "done"
        # No container yet where the update goes: queued in the object's commit, then applied.
        assert await put_on("d1", "later", "x") == "queued"
        late = RoleClient(client, "container")
        assert (await late.put("AUTH_u", "later", timestamp_text=ts())).status == 201

        async def converged() -> bool:
            return [entry["name"] for entry in await late.listing("AUTH_u", "later")] == ["x"]

        await wait_until(converged, timeout_s=CONVERGENCE_TIMEOUT_S)
        assert await listed(containers) == {"bb": 2, "ccc": 3}
        assert await metric(node, 'container_update_tries_total{device="d1",outcome="done"}') == 3
        assert await metric(node, 'container_update_tries_total{device="d2",outcome="done"}') == 1


async def test_a_node_on_ipv6_knows_its_own_address_in_the_rings_form(tmp_path):
    """The rings write an IPv6 node as `[::1]:port`: a node bound to ::1 recognises its own
    container replica in that form, so the update is made in the object's own commit (before,
    it compared `::1:port` and sent every such update to itself over HTTP)."""
    node = NodeProcess(tmp_path / "six", settings=FAST_UPDATES, bind_ip="::1")
    async with serving_photos(node) as (client, containers):
        changes_before = await committed_changes(node)
        assert container_update_headers(node)["X-Backend-Container-Host"] == f"[::1]:{node.port}"
        assert await put_object(client, node, "a", ts()) == (201, "done")
        assert await committed_changes(node) == changes_before + 1  # entry and object: one commit
        assert await listed(containers) == {"a": 1}
        assert await metric(node, 'container_update_tries_total{device="d1",outcome="done"}') == 1
        assert await metric(node, 'container_update_sends_total{acknowledged="true",device="d1"}') == 0
