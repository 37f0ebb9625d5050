"""Builder files: the builder as a documented JSON document (see ring/FORMAT.md), written atomically."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from dolmen.ring.builder import Builder
from dolmen.ring.devices import Device
from dolmen.ring.errors import RingError, RingFileError

from dolmen.files import atomic_write

BUILDER_FORMAT = "dolmen-ring-builder"
BUILDER_FORMAT_VERSION = 1


def builder_to_json(builder: Builder) -> dict[str, Any]:
    return {
        "format": BUILDER_FORMAT,
        "format_version": BUILDER_FORMAT_VERSION,
        "part_power": builder.part_power,
        "replicas": builder.replicas,
        "min_part_hours": builder.min_part_hours,
        "overload": builder.overload,
        "placement_fingerprint": builder.placement_fingerprint,
        "version": builder.version,
        "next_device_id": builder.next_device_id,
        "devices": [device.to_json() for _, device in sorted(builder.devices.items())],
        "removed": sorted(builder.removed),
        "assignment": _array_to_json(builder.assignment, "<i4"),
        "last_moved_s": _array_to_json(builder.last_moved_s, "<f8"),
    }


def builder_from_json(document: dict[str, Any], *, source: str = "builder") -> Builder:
    if document.get("format") != BUILDER_FORMAT:
        raise RingFileError(f"{source}: not a Dolmen ring builder file")
    if document.get("format_version") != BUILDER_FORMAT_VERSION:
        raise RingFileError(
            f"{source}: builder format version {document.get('format_version')!r}; "
            f"this Dolmen reads version {BUILDER_FORMAT_VERSION}"
        )
    try:
        devices = {int(fields["id"]): Device.from_json(fields) for fields in document["devices"]}
        return Builder(
            part_power=document["part_power"],
            replicas=document["replicas"],
            min_part_hours=float(document["min_part_hours"]),
            overload=None if document["overload"] is None else float(document["overload"]),
            placement_fingerprint=document["placement_fingerprint"],
            devices=devices,
            removed=frozenset(document["removed"]),
            assignment=_array_from_json(document["assignment"]),
            last_moved_s=_array_from_json(document["last_moved_s"]),
            version=document["version"],
            next_device_id=document["next_device_id"],
        )
    except RingError:
        raise
    except (KeyError, TypeError, ValueError, zlib.error, AssertionError) as error:
        raise RingFileError(f"{source}: malformed builder file ({type(error).__name__}: {error})") from None


def save_builder(path: Path, builder: Builder) -> None:
    """Write `builder` to `path` atomically (temporary file, fsync, rename, fsync directory)."""
    text = json.dumps(builder_to_json(builder), indent=1, sort_keys=False)
    atomic_write(Path(path), text.encode("utf-8") + b"\n")


def load_builder(path: Path) -> Builder:
    path = Path(path)
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise RingFileError(f"{path}: no such builder file") from None
    except (OSError, ValueError) as error:
        raise RingFileError(f"{path}: cannot read builder file: {error}") from None
    if not isinstance(document, dict):
        raise RingFileError(f"{path}: not a Dolmen ring builder file")
    return builder_from_json(document, source=str(path))


def _array_to_json(array: np.ndarray | None, dtype: str) -> dict[str, Any] | None:
    if array is None:
        return None
    data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    return {
        "dtype": dtype,
        "shape": list(array.shape),
        "zlib_base64": base64.b64encode(zlib.compress(data, 6)).decode("ascii"),
    }


def _array_from_json(document: dict[str, Any] | None) -> np.ndarray | None:
    if document is None:
        return None
    dtype = np.dtype(document["dtype"])
    if dtype.str not in ("<i4", "<f8"):
        raise ValueError(f"unexpected array type {document['dtype']}")
    data = zlib.decompress(base64.b64decode(document["zlib_base64"], validate=True))
    shape = tuple(int(size) for size in document["shape"])
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(np.int64 if dtype.kind == "i" else np.float64)
