"""Ring files: the compact, versioned, checksummed form services load (layout in ring/FORMAT.md).

offset        size          field
0             8             magic b"DOLMRING"
8             2             format version, uint16 little-endian (1)
10            2             bytes per device id in the table below, uint16 LE (2 or 4)
12            4             header length H, uint32 LE
16            H             header: UTF-8 JSON object (part_power, replicas, version,
                            placement_fingerprint, devices)
16+H          R*P*idbytes   assignment: device id of replica r of partition p at index
                            r*P + p, unsigned little-endian
end-16        16            xxh3-128 digest (big-endian) of every byte before it
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash
from dolmen.ring.builder import Builder
from dolmen.ring.devices import Device
from dolmen.ring.errors import RingError, RingFileError

from dolmen.files import atomic_write
from dolmen.limits import RING_FILE_BYTES_MAX

MAGIC = b"DOLMRING"
RING_FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<8sHHI")
_DIGEST_BYTES = 16
_ID_DTYPES: dict[int, np.dtype[np.unsignedinteger]] = {2: np.dtype("<u2"), 4: np.dtype("<u4")}


@dataclass(frozen=True)
class RingData:
    """What a ring file holds: the partition-to-device table and the devices."""

    part_power: int
    replicas: int
    version: int
    placement_fingerprint: str
    devices: dict[int, Device]
    assignment: np.ndarray  # replicas x partitions, device ids

    @property
    def partition_count(self) -> int:
        return 1 << self.part_power

    @classmethod
    def from_builder(cls, builder: Builder) -> RingData:
        if builder.assignment is None:
            raise RingError("the builder has never been rebalanced: run `dolmen ring rebalance` first")
        builder.validate()
        if builder.removed:
            raise RingError("the builder has removed devices still holding partitions: rebalance first")
        return cls(
            part_power=builder.part_power,
            replicas=builder.replicas,
            version=builder.version,
            placement_fingerprint=builder.placement_fingerprint,
            devices=dict(builder.devices),
            assignment=builder.assignment,
        )


def ring_to_bytes(ring: RingData) -> bytes:
    id_bytes = 2 if max(ring.devices, default=0) < 0xFFFF else 4
    header = json.dumps(
        {
            "part_power": ring.part_power,
            "replicas": ring.replicas,
            "version": ring.version,
            "placement_fingerprint": ring.placement_fingerprint,
            "devices": [device.to_json() for _, device in sorted(ring.devices.items())],
        },
        separators=(",", ":"),
    ).encode("utf-8")
    body = (
        _PREAMBLE.pack(MAGIC, RING_FORMAT_VERSION, id_bytes, len(header))
        + header
        + np.ascontiguousarray(ring.assignment, dtype=_ID_DTYPES[id_bytes]).tobytes()
    )
    return body + xxhash.xxh3_128(body).digest()


def ring_from_bytes(data: bytes, *, source: str = "ring") -> RingData:
    if len(data) < _PREAMBLE.size + _DIGEST_BYTES or not data.startswith(MAGIC):
        raise RingFileError(f"{source}: not a Dolmen ring file")
    body, digest = data[:-_DIGEST_BYTES], data[-_DIGEST_BYTES:]
    if xxhash.xxh3_128(body).digest() != digest:
        raise RingFileError(f"{source}: checksum mismatch: the ring file is corrupt or truncated")
    _, version, id_bytes, header_length = _PREAMBLE.unpack_from(body)
    if version != RING_FORMAT_VERSION:
        raise RingFileError(
            f"{source}: ring format version {version}; this Dolmen reads {RING_FORMAT_VERSION}"
        )
    if id_bytes not in _ID_DTYPES:
        raise RingFileError(f"{source}: bad device id width {id_bytes}")
    try:
        header = json.loads(body[_PREAMBLE.size : _PREAMBLE.size + header_length])
        devices = {int(fields["id"]): Device.from_json(fields) for fields in header["devices"]}
        part_power, replicas = int(header["part_power"]), int(header["replicas"])
        table = np.frombuffer(body, dtype=_ID_DTYPES[id_bytes], offset=_PREAMBLE.size + header_length)
        assignment = table.reshape(replicas, 1 << part_power)
        ring = RingData(
            part_power=part_power,
            replicas=replicas,
            version=int(header["version"]),
            placement_fingerprint=str(header["placement_fingerprint"]),
            devices=devices,
            assignment=assignment,
        )
    except RingError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise RingFileError(f"{source}: malformed ring file ({type(error).__name__}: {error})") from None
    if not np.isin(assignment, list(devices)).all():
        raise RingFileError(f"{source}: the table names devices the ring does not have")
    return ring


def write_ring(path: Path, ring: RingData) -> None:
    atomic_write(Path(path), ring_to_bytes(ring))


def read_ring(path: Path) -> RingData:
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(RING_FILE_BYTES_MAX + 1)
    except FileNotFoundError:
        raise RingFileError(f"{path}: no such ring file") from None
    except OSError as error:
        raise RingFileError(f"{path}: cannot read ring file: {error}") from None
    if len(data) > RING_FILE_BYTES_MAX:
        raise RingFileError(f"{path}: larger than {RING_FILE_BYTES_MAX} bytes")
    return ring_from_bytes(data, source=str(path))


def ring_file_name(role: str, policy: int = 0) -> str:
    """`account.ring`, `container.ring`, `object.ring` (policy 0) or `object-N.ring`."""
    assert role in ("account", "container", "object"), role
    assert role == "object" or policy == 0
    return f"object-{policy}.ring" if role == "object" and policy else f"{role}.ring"


def ring_path_for_builder(builder_path: Path) -> Path:
    """`object.builder` -> `object.ring`, beside it."""
    builder_path = Path(builder_path)
    return builder_path.with_name(builder_path.name.removesuffix(".builder") + ".ring")
