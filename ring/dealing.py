"""The first assignment of a ring: deal partition-replicas down the failure-domain tree.

At every tier item (the root, each region, zone, host) the replicas it must place
are laid out in rows: row j holds, in one shuffled order, the partitions that get
more than j replicas there, those with the larger share first. Its children, in a
shuffled order, then take consecutive runs of that sequence, each as long as its
target count. Since every row repeats the same order, two appearances of a partition
are exactly one row apart, so a run of c places holds each partition floor(c / row)
or ceil(c / row) times: every failure domain gets its exact count and never more
than its cap of any partition's replicas. Fresh shuffles at every item spread each
device's partners over the whole ring, so that a failed device is rebuilt from many.
Pure: the randomness comes in as `rng`.
"""

from __future__ import annotations

import numpy as np
from dolmen.ring.targets import Targets, Tier


def deal(targets: Targets, *, replicas: int, rng: np.random.Generator) -> np.ndarray:
    """A replicas x partitions array of device ids meeting `targets` exactly."""
    partition_count = targets.partition_count
    children: dict[Tier, list[Tier]] = {}
    for tier in targets.counts:
        if tier:
            children.setdefault(tier[:-1], []).append(tier)
    device_of_slot: list[np.ndarray] = []
    partition_of_slot: list[np.ndarray] = []

    def place(tier: Tier, partitions: np.ndarray) -> None:
        kids = children.get(tier)
        if not kids:
            device_id = int(tier[-1])  # type: ignore[call-overload]
            device_of_slot.append(np.full(len(partitions), device_id, dtype=np.int64))
            partition_of_slot.append(partitions)
            return
        sequence = _rows(partitions, rng)
        kids = [kids[index] for index in rng.permutation(len(kids))]
        start = 0
        for kid in kids:
            count = targets.counts[kid]
            place(kid, sequence[start : start + count])
            start += count
        assert start == len(sequence), (tier, start, len(sequence))

    everything = np.tile(np.arange(partition_count, dtype=np.int64), replicas)
    place((), everything)
    devices = np.concatenate(device_of_slot)
    partitions = np.concatenate(partition_of_slot)
    order = np.argsort(partitions, kind="stable")
    assignment = devices[order].reshape(partition_count, replicas).T.copy()
    assert (
        np.sort(partitions[order]).reshape(partition_count, replicas) == np.arange(partition_count)[:, None]
    ).all()
    return assignment


def _rows(partitions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The partitions (with repeats) laid out as rows of one shuffled order, larger shares first."""
    unique, counts = np.unique(partitions, return_counts=True)
    shuffle = rng.permutation(len(unique))
    unique, counts = unique[shuffle], counts[shuffle]
    order = np.argsort(-counts, kind="stable")
    unique, counts = unique[order], counts[order]
    return np.concatenate([unique[counts > row] for row in range(int(counts.max(initial=0)))])
