"""Names to partitions: the top `part_power` bits of a keyed BLAKE2b hash of the name's path.

The hash is keyed with the cluster's placement key so that nobody who lacks the
secret can choose names that all land in one partition.
"""

from __future__ import annotations

import hashlib

from dolmen.limits import PLACEMENT_KEY_BYTES, RING_PART_POWER_MAX, RING_PART_POWER_MIN


def name_path(account: str, container: str | None = None, obj: str | None = None) -> bytes:
    """The hashed path of a name: `/account`, `/account/container` or `/account/container/object`."""
    assert account, "an account is required"
    assert obj is None or container is not None, "an object needs a container"
    parts = [account] + ([container] if container is not None else []) + ([obj] if obj is not None else [])
    return ("/" + "/".join(parts)).encode("utf-8")


def partition_of(placement_key: bytes, part_power: int, path: bytes) -> int:
    """The partition of `path` (bytes from `name_path`) in a ring of 2**part_power partitions."""
    assert len(placement_key) == PLACEMENT_KEY_BYTES
    assert RING_PART_POWER_MIN <= part_power <= RING_PART_POWER_MAX
    digest = hashlib.blake2b(path, digest_size=8, key=placement_key, person=b"dolmen-ring").digest()
    return int.from_bytes(digest, "big") >> (64 - part_power)
