"""A full disk answers 507, leaves nothing behind, and still takes deletes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator

import pytest
from helpers.storage_node import NodeProcess, SignedClient, object_path, timestamp

DISK_BYTES = 48 * 2**20
RESERVE_BYTES = 4 * 2**20

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mkfs.ext4") is None,
    reason="needs root and mkfs.ext4 to loop-mount a small ext4 image (CI runs as root)",
)


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MiB ext4 filesystem mounted where the node expects device d1."""
    image = tmp_path / "disk.img"
    mount_point = tmp_path / "node" / "devices" / "d1"
    mount_point.mkdir(parents=True)
    with open(image, "wb") as file:
        file.truncate(DISK_BYTES)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True)
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount here: {mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=False)


def path_of(name: str) -> str:
    return object_path("d1", 1, "AUTH_full", "c", name)


def leftovers(device) -> list[str]:
    return [entry.name for entry in (device / "tmp").iterdir()]


async def test_full_disk_answers_507_leaves_nothing_and_deletes_still_work(tmp_path, small_disk):
    settings = {
        "free_space_reserve_bytes": RESERVE_BYTES,
        "lmdb_map_size_bytes": 2**20,
        "lmdb_map_size_bytes_max": 8 * 2**20,
    }
    node = NodeProcess(tmp_path / "node", settings=settings).start()
    try:
        await fill_then_delete(node, small_disk)
    finally:
        node.stop()


async def fill_then_delete(node, small_disk):
    body = os.urandom(2**20)
    stored: list[str] = []
    async with SignedClient(node.url) as client:
        for index in range(DISK_BYTES // len(body) + 2):
            answer = await client.put(path_of(f"big-{index}"), body)
            if answer.status == 507:
                refused = f"big-{index}"
                break
            assert answer.status == 201
            stored.append(f"big-{index}")
        else:
            pytest.fail("the disk never filled")
        assert len(stored) > 10
        assert (await client.get(path_of(refused))).status == 404
        for index in range(2000):  # small (inline) bodies fill the last bit above the reserve
            small = await client.put(path_of(f"small-{index}"), b"x" * 4096)
            if small.status == 507:
                break
            assert small.status == 201
            stored.append(f"small-{index}")
        else:
            pytest.fail("small writes never reached the reserve")
        assert leftovers(small_disk) == []
        assert len(list((small_disk / "objects").rglob("*.data"))) == len([n for n in stored if "big" in n])
        for name in stored:
            assert (await client.delete(path_of(name))).status == 204  # tombstones fit in the reserve
        assert (await client.put(path_of("after"), body)).status == 201
        assert (await client.get(path_of("after"))).body == body


async def test_running_out_of_space_mid_body_answers_507_and_leaves_nothing(tmp_path, small_disk):
    node = NodeProcess(tmp_path / "node", settings={"free_space_reserve_bytes": 0}).start()
    try:
        await overflow(node, small_disk)
    finally:
        node.stop()


async def overflow(node, small_disk):
    chunk = os.urandom(2**20)
    async with SignedClient(node.url) as client:
        path = path_of("too-big")
        headers = client.put_headers(timestamp_text=timestamp())  # no announced length: found out mid-body
        signed = client.sign("PUT", path, headers)
        framed = client.framed(signed, chunk * (DISK_BYTES // len(chunk) + 8), frame_bytes=len(chunk))

        async def body() -> AsyncIterator[bytes]:
            for start in range(0, len(framed), len(chunk)):
                yield framed[start : start + len(chunk)]

        try:
            answer = await client.put_streamed(path, body(), signed)
            assert answer.status == 507
        except Exception as error:  # the node may answer 507 and close before reading it all
            assert "507" in str(error) or isinstance(error, (ConnectionError, OSError)), error
        assert (await client.get(path)).status == 404
        assert leftovers(small_disk) == []
        assert (await client.put(path_of("fits"), chunk)).status == 201
        assert (await client.delete(path_of("fits"))).status == 204
