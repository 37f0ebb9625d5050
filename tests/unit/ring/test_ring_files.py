"""Ring files, builder files and the runtime Ring: round trips, corruption, keys, handoffs, reloads."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from dolmen.ring.builder import Builder, rebalance
from dolmen.ring.builderfile import load_builder, save_builder
from dolmen.ring.devices import Device
from dolmen.ring.errors import PlacementKeyMismatch, RingFileError
from dolmen.ring.placement import name_path, partition_of
from dolmen.ring.ring import Ring
from dolmen.ring.ringfile import (
    RingData,
    read_ring,
    ring_file_name,
    ring_from_bytes,
    ring_to_bytes,
    write_ring,
)

from dolmen.keys import key_fingerprint, placement_key

KEY = placement_key(b"k" * 32)
OTHER_KEY = placement_key(b"o" * 32)


def built(part_power: int = 8, zones: int = 3, per_zone: int = 2, seed: int = 1) -> Builder:
    builder = Builder(part_power=part_power, replicas=3, placement_fingerprint=key_fingerprint(KEY))
    for zone in range(1, zones + 1):
        for host in range(per_zone):
            builder = builder.add_device(
                Device(
                    id=-1, region=1, zone=zone, ip=f"10.0.{zone}.{host}", port=6200, device="d1", weight=100
                )
            )
    return rebalance(builder, now_s=0.0, seed=seed)[0]


def test_builder_file_round_trips(tmp_path: Path) -> None:
    builder = built().remove_device(2)
    save_builder(tmp_path / "object.builder", builder)
    loaded = load_builder(tmp_path / "object.builder")
    assert loaded.devices == builder.devices and loaded.removed == builder.removed
    assert loaded.assignment is not None and builder.assignment is not None
    assert (loaded.assignment == builder.assignment).all()
    assert loaded.version == builder.version and loaded.overload == builder.overload


def test_a_truncated_builder_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "object.builder"
    save_builder(path, built())
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(RingFileError, match="cannot read builder file"):
        load_builder(path)


def test_ring_file_round_trips_and_answers_like_the_builder(tmp_path: Path) -> None:
    builder = built()
    write_ring(tmp_path / "object.ring", RingData.from_builder(builder))
    ring = Ring.load(tmp_path / "object.ring", KEY)
    assert builder.assignment is not None
    for partition in range(0, builder.partition_count, 17):
        assert [device.id for device in ring.primaries(partition)] == builder.assignment[
            :, partition
        ].tolist()
    partition, primaries = ring.get_nodes("AUTH_test", "photos", "cat.jpg")
    assert partition == partition_of(KEY, 8, b"/AUTH_test/photos/cat.jpg")
    assert len({device.id for device in primaries}) == 3


@pytest.mark.parametrize("offset", [0, 20, -1, -40])
def test_a_flipped_byte_anywhere_in_a_ring_file_is_refused(offset: int) -> None:
    data = bytearray(ring_to_bytes(RingData.from_builder(built())))
    data[offset] ^= 0x01
    with pytest.raises(RingFileError):
        ring_from_bytes(bytes(data))


def test_a_ring_built_under_another_secret_is_refused(tmp_path: Path) -> None:
    write_ring(tmp_path / "object.ring", RingData.from_builder(built()))
    with pytest.raises(PlacementKeyMismatch, match="another cluster"):
        Ring.load(tmp_path / "object.ring", OTHER_KEY)


def test_the_partition_hash_depends_on_the_key_and_spreads_names() -> None:
    paths = [name_path("AUTH_a", "c", f"object-{n}") for n in range(20_000)]
    ours = np.array([partition_of(KEY, 8, path) for path in paths])
    theirs = np.array([partition_of(OTHER_KEY, 8, path) for path in paths])
    assert (ours != theirs).mean() > 0.9
    counts = np.bincount(ours, minlength=256)
    assert counts.min() > 40 and counts.max() < 120  # about 78 each


def test_handoffs_cover_every_other_device_once_new_zones_first() -> None:
    builder = built(zones=4, per_zone=2)
    ring = Ring(RingData.from_builder(builder), KEY)
    for partition in range(0, 256, 31):
        primaries = ring.primaries(partition)
        handoffs = list(ring.handoffs(partition))
        assert sorted(d.id for d in primaries + handoffs) == sorted(builder.devices)
        unused_zones = {d.zone for d in ring.devices} - {d.zone for d in primaries}
        assert handoffs[0].zone in unused_zones
        assert handoffs == list(ring.handoffs(partition))  # the same order every time


def test_ring_reloads_when_the_file_changes_and_not_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "object.ring"
    write_ring(path, RingData.from_builder(built(seed=1)))
    ring = Ring.load(path, KEY)
    assert not ring.reload_if_changed()
    newer = built(zones=4, seed=2)
    write_ring(path, RingData.from_builder(newer))
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert ring.reload_if_changed()
    assert len(ring.devices) == len(newer.devices)


def test_a_part_power_20_ring_loads_in_well_under_a_second(tmp_path: Path) -> None:
    builder = built(part_power=20, zones=3, per_zone=4)
    write_ring(tmp_path / "object.ring", RingData.from_builder(builder))
    started = time.perf_counter()
    ring = Ring.load(tmp_path / "object.ring", KEY)
    elapsed_s = time.perf_counter() - started
    assert ring.partition_count == 2**20
    assert elapsed_s < 0.5, elapsed_s
    assert read_ring(tmp_path / "object.ring").version == builder.version


def test_ring_file_names_follow_the_roles() -> None:
    assert ring_file_name("account") == "account.ring"
    assert ring_file_name("container") == "container.ring"
    assert ring_file_name("object") == "object.ring"
    assert ring_file_name("object", 2) == "object-2.ring"
