"""Corrupt bytes never leave the node: flipped bytes in inline and file bodies, first and last block."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import lmdb
import pytest
from dolmen.storage_node.checksums import BLOCK_BYTES
from dolmen.storage_node.keycodec import object_key
from dolmen.storage_node.records import decode_record, inline_body_offset
from helpers.storage_node import NodeProcess, SignedClient, object_path

FILE_BODY_BYTES = 40 * BLOCK_BYTES + 1234  # 41 blocks: the last one short
INLINE_BODY_BYTES = 10_000


def path_of(name: str) -> str:
    return object_path("d1", 9, "AUTH_rot", "c", name)


async def fetch(
    client: SignedClient, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes, bool]:
    """(status, bytes received, whether the stream was cut short)."""
    signed = client.sign("GET", path, headers or {})
    received = bytearray()
    async with client.session.get(client.url + path, headers=signed) as answer:
        try:
            async for chunk in answer.content.iter_chunked(65536):
                received += chunk
        except aiohttp.ClientPayloadError:
            return answer.status, bytes(received), True
        return answer.status, bytes(received), False


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0x5A]))


def body_file_of(device: Path, name: str) -> Path:
    env = lmdb.open(str(device / "db"), max_dbs=16, readonly=True, lock=False)
    try:
        with env.begin(db=env.open_db(b"objects", create=False)) as txn:
            record = decode_record(txn.get(object_key(9, "AUTH_rot", "c", name)))
    finally:
        env.close()
    return device / record.body_file


def flip_inline(device: Path, name: str, body_offset: int) -> None:
    """Rot one byte of an inline body inside its LMDB record (the node must be stopped)."""
    env = lmdb.open(str(device / "db"), max_dbs=16)
    try:
        objects = env.open_db(b"objects", create=False)
        key = object_key(9, "AUTH_rot", "c", name)
        with env.begin(write=True, db=objects) as txn:
            value = bytearray(txn.get(key))
            value[inline_body_offset(bytes(value)) + body_offset] ^= 0x5A
            txn.put(key, bytes(value))
    finally:
        env.close()


@pytest.fixture
def node(tmp_path):
    node = NodeProcess(tmp_path / "node").start()
    yield node
    node.stop()


def quarantined(node: NodeProcess) -> list[str]:
    return sorted(entry.name for entry in (node.device_root() / "quarantined").iterdir())


async def test_corrupt_file_bodies_are_never_served_and_are_quarantined(node):
    body = os.urandom(FILE_BODY_BYTES)
    async with SignedClient(node.url) as client:
        for name in ("first", "last"):
            assert (await client.put(path_of(name), body)).status == 201
        flip(body_file_of(node.device_root(), "first"), 10)
        flip(body_file_of(node.device_root(), "last"), FILE_BODY_BYTES - 1)

        # A bad first block fails before any byte is sent.
        status, received, _ = await fetch(client, path_of("first"))
        assert status == 500 and received == b""
        assert (await client.get(path_of("first"))).status == 404  # quarantined: the replicator restores it

        # Ranges over good blocks are served (verified); a range over the bad block is refused.
        status, received, cut = await fetch(client, path_of("last"), {"Range": "bytes=0-99999"})
        assert (status, received, cut) == (206, body[:100_000], False)
        status, received, _ = await fetch(
            client, path_of("last"), {"Range": f"bytes={FILE_BODY_BYTES - 10}-"}
        )
        assert status == 500 and received == b""

        # A whole GET whose bad block comes late is cut short: what was sent is a correct prefix.
        assert (await client.put(path_of("late"), body)).status == 201
        flip(body_file_of(node.device_root(), "late"), FILE_BODY_BYTES - 1)
        status, received, cut = await fetch(client, path_of("late"))
        assert status == 200 and cut and len(received) < FILE_BODY_BYTES
        assert received == body[: len(received)]
        assert (await client.get(path_of("late"))).status == 404
        metrics = (await client.request("GET", "/metrics", sign=False)).body.decode()
    assert len([name for name in quarantined(node) if name.endswith(".data")]) == 3
    assert 'dolmen_storage_node_quarantines_total{device="d1"} 3.0' in metrics


async def test_corrupt_inline_bodies_are_never_served_and_are_quarantined(node):
    body = os.urandom(INLINE_BODY_BYTES)
    async with SignedClient(node.url) as client:
        for name in ("first", "last"):
            assert (await client.put(path_of(name), body)).status == 201
    node.stop()
    flip_inline(node.device_root(), "first", 0)
    flip_inline(node.device_root(), "last", INLINE_BODY_BYTES - 1)
    node.start()
    async with SignedClient(node.url) as client:
        status, received, _ = await fetch(client, path_of("last"), {"Range": "bytes=0-9"})
        assert status == 500 and received == b""  # the one block covering the range is bad
        status, received, _ = await fetch(client, path_of("first"))
        assert status == 500 and received == b""
        for name in ("first", "last"):
            assert (await client.get(path_of(name))).status == 404
    assert len([name for name in quarantined(node) if name.endswith(".record")]) == 2
